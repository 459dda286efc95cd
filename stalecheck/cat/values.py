"""Values of the cat language, and the set and relation algebra over events.

Events are numbered ``0..n-1``; a set of events is an int bitmask and a
relation is a tuple of bitmask rows (``rows[i]`` = successors of event i).
Candidate executions have tens of events, so each operator is a short loop
over rows of machine words, and values are hashable (cat has sets of
relations: ``with co from generate_cos(...)`` enumerates one).

``0``/``{}`` and ``_`` are polymorphic in cat (the empty set or relation, the
universe); they stay :data:`EMPTY` / :data:`UNIVERSE` until combined with a
typed value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EvSet:
    bits: int


@dataclass(frozen=True, slots=True)
class Rel:
    rows: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """One event, as the element of a set of events (``match S with e ++ rest``)."""

    index: int


@dataclass(frozen=True, slots=True)
class Pair:
    """One pair of events, as the element of a relation."""

    src: int
    dst: int


@dataclass(frozen=True, slots=True)
class TagV:
    name: str


@dataclass(frozen=True, slots=True)
class VSet:
    """A set of values that are not events: relations, sets of events, tags..."""

    items: frozenset[Any]


class _Poly:
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return self.kind


EMPTY = _Poly("0")
UNIVERSE = _Poly("_")


@dataclass(frozen=True, slots=True)
class Primitive:
    name: str
    fn: Callable[[Any], Any]


Value = Any  # EvSet | Rel | Event | Pair | TagV | VSet | tuple | closure | Primitive | _Poly


class CatTypeError(Exception):
    """An operator met values it does not apply to (the caller adds the position)."""


class CatUnsupported(Exception):
    """A primitive asked for something this interpreter does not do (the caller adds the position)."""


# ------------------------------------------------------------------ bit helpers


def bits_of(mask: int) -> Iterable[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def popcount(mask: int) -> int:
    return mask.bit_count()


class Algebra:
    """Set and relation operators for one universe of ``n`` events."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.full = (1 << n) - 1
        self.empty_rel = Rel((0,) * n)
        self.id_rel = Rel(tuple(1 << i for i in range(n)))
        self.full_rel = Rel((self.full,) * n)

    # ----- coercions

    def as_set(self, v: Value) -> int:
        if isinstance(v, EvSet):
            return v.bits
        if v is EMPTY:
            return 0
        if v is UNIVERSE:
            return self.full
        if isinstance(v, VSet) and not v.items:
            return 0
        raise CatTypeError(f"expected a set of events, found {describe(v)}")

    def as_rel(self, v: Value) -> tuple[int, ...]:
        if isinstance(v, Rel):
            return v.rows
        if v is EMPTY:
            return self.empty_rel.rows
        if v is UNIVERSE:
            return self.full_rel.rows
        if isinstance(v, VSet) and not v.items:
            return self.empty_rel.rows
        raise CatTypeError(f"expected a relation, found {describe(v)}")

    def kind(self, values: Sequence[Value]) -> str:
        """'set', 'rel', 'vset' or 'poly' for the operands of a binary operator."""
        kinds = set()
        for v in values:
            if isinstance(v, EvSet):
                kinds.add("set")
            elif isinstance(v, Rel):
                kinds.add("rel")
            elif isinstance(v, VSet):
                if v.items:
                    kinds.add("vset")
            elif v is EMPTY or v is UNIVERSE:
                continue
            else:
                raise CatTypeError(f"expected a set or a relation, found {describe(v)}")
        if not kinds:
            return "poly"
        if len(kinds) > 1:
            raise CatTypeError(f"cannot combine {' and '.join(sorted(kinds))}")
        return kinds.pop()

    # ----- set and relation operators

    def union(self, values: Sequence[Value]) -> Value:
        k = self.kind(values)
        if k == "poly":
            return UNIVERSE if any(v is UNIVERSE for v in values) else EMPTY
        if k == "set":
            acc = 0
            for v in values:
                acc |= self.as_set(v)
            return EvSet(acc)
        if k == "vset":
            items: frozenset[Any] = frozenset()
            for v in values:
                if isinstance(v, VSet):
                    items |= v.items
            return VSet(items)
        rows = list(self.as_rel(values[0]))
        for v in values[1:]:
            other = self.as_rel(v)
            for i in range(self.n):
                rows[i] |= other[i]
        return Rel(tuple(rows))

    def inter(self, a: Value, b: Value) -> Value:
        k = self.kind((a, b))
        if k == "poly":
            return UNIVERSE if a is UNIVERSE and b is UNIVERSE else EMPTY
        if k == "set":
            return EvSet(self.as_set(a) & self.as_set(b))
        if k == "vset":
            return VSet(_items(a) & _items(b))
        ra, rb = self.as_rel(a), self.as_rel(b)
        return Rel(tuple(x & y for x, y in zip(ra, rb, strict=True)))

    def diff(self, a: Value, b: Value) -> Value:
        k = self.kind((a, b))
        if k == "poly":
            return UNIVERSE if a is UNIVERSE and b is EMPTY else EMPTY
        if k == "set":
            return EvSet(self.as_set(a) & ~self.as_set(b))
        if k == "vset":
            return VSet(_items(a) - _items(b))
        ra, rb = self.as_rel(a), self.as_rel(b)
        return Rel(tuple(x & ~y for x, y in zip(ra, rb, strict=True)))

    def comp(self, a: Value) -> Value:
        if isinstance(a, EvSet):
            return EvSet(self.full & ~a.bits)
        if isinstance(a, Rel):
            return Rel(tuple(self.full & ~x for x in a.rows))
        if a is EMPTY:
            return UNIVERSE
        if a is UNIVERSE:
            return EMPTY
        raise CatTypeError(f"complement of {describe(a)}")

    def seq(self, values: Sequence[Value]) -> Value:
        if any(v is EMPTY for v in values):
            return EMPTY
        rows = self.as_rel(values[0])
        for v in values[1:]:
            rows = self.compose(rows, self.as_rel(v))
        return Rel(rows)

    def compose(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
        out = []
        for row in a:
            acc = 0
            while row:
                low = row & -row
                acc |= b[low.bit_length() - 1]
                row ^= low
            out.append(acc)
        return tuple(out)

    def inverse_rows(self, a: tuple[int, ...]) -> tuple[int, ...]:
        out = [0] * self.n
        for i, row in enumerate(a):
            bit = 1 << i
            while row:
                low = row & -row
                out[low.bit_length() - 1] |= bit
                row ^= low
        return tuple(out)

    def inverse(self, a: Value) -> Value:
        if isinstance(a, Pair):
            return Pair(a.dst, a.src)
        if a is EMPTY or a is UNIVERSE:
            return a
        return Rel(self.inverse_rows(self.as_rel(a)))

    def closure_rows(self, a: tuple[int, ...]) -> tuple[int, ...]:
        """Transitive closure (Warshall on bitmask rows)."""
        rows = list(a)
        for k in range(self.n):
            rk = rows[k]
            if not rk:
                continue
            bk = 1 << k
            for i in range(self.n):
                if rows[i] & bk:
                    rows[i] |= rk
        return tuple(rows)

    def plus(self, a: Value) -> Value:
        if a is EMPTY:
            return EMPTY
        return Rel(self.closure_rows(self.as_rel(a)))

    def star(self, a: Value) -> Value:
        rows = self.closure_rows(self.as_rel(a))
        return Rel(tuple(r | (1 << i) for i, r in enumerate(rows)))

    def opt(self, a: Value) -> Value:
        rows = self.as_rel(a)
        return Rel(tuple(r | (1 << i) for i, r in enumerate(rows)))

    def toid(self, a: Value) -> Value:
        s = self.as_set(a)
        return Rel(tuple((1 << i) if s >> i & 1 else 0 for i in range(self.n)))

    def cartesian(self, a: Value, b: Value) -> Value:
        sa, sb = self.as_set(a), self.as_set(b)
        return Rel(tuple(sb if sa >> i & 1 else 0 for i in range(self.n)))

    def domain(self, a: Value) -> Value:
        if a is EMPTY or a is UNIVERSE:
            return a
        rows = self.as_rel(a)
        return EvSet(sum(1 << i for i, r in enumerate(rows) if r))

    def range(self, a: Value) -> Value:
        if a is EMPTY or a is UNIVERSE:
            return a
        acc = 0
        for r in self.as_rel(a):
            acc |= r
        return EvSet(acc)

    # ----- tests

    def is_empty(self, a: Value) -> bool:
        if a is EMPTY:
            return True
        if a is UNIVERSE:
            return self.n == 0
        if isinstance(a, EvSet):
            return a.bits == 0
        if isinstance(a, Rel):
            return not any(a.rows)
        if isinstance(a, VSet):
            return not a.items
        raise CatTypeError(f"emptiness test on {describe(a)}")

    def is_irreflexive(self, a: Value) -> bool:
        rows = self.as_rel(a)
        return not any(r >> i & 1 for i, r in enumerate(rows))

    def is_acyclic(self, a: Value) -> bool:
        rows = self.as_rel(a)
        indeg = [0] * self.n
        for r in rows:
            for j in bits_of(r):
                indeg[j] += 1
        ready = [i for i in range(self.n) if not indeg[i]]
        seen = 0
        while ready:
            i = ready.pop()
            seen += 1
            for j in bits_of(rows[i]):
                indeg[j] -= 1
                if not indeg[j]:
                    ready.append(j)
        return seen == self.n

    def same(self, a: Value, b: Value) -> bool:
        """Value equality, with the polymorphic constants equal to their typed forms."""
        if a is EMPTY or b is EMPTY:
            other = b if a is EMPTY else a
            return other is EMPTY or self.is_empty(other)
        if isinstance(a, Rel) or isinstance(b, Rel):
            return self.as_rel(a) == self.as_rel(b)
        if isinstance(a, EvSet) or isinstance(b, EvSet):
            return self.as_set(a) == self.as_set(b)
        return bool(a == b)

    # ----- elements

    def add(self, elt: Value, coll: Value) -> Value:
        """``elt ++ coll``: add one element to a set (of events, of pairs, or of values)."""
        if isinstance(coll, Rel) or (coll is EMPTY and isinstance(elt, Pair)):
            if not isinstance(elt, Pair):
                raise CatTypeError(f"cannot add {describe(elt)} to a relation")
            rows = list(self.as_rel(coll))
            rows[elt.src] |= 1 << elt.dst
            return Rel(tuple(rows))
        if isinstance(coll, EvSet) or (coll is EMPTY and isinstance(elt, Event)):
            if not isinstance(elt, Event):
                raise CatTypeError(f"cannot add {describe(elt)} to a set of events")
            return EvSet(self.as_set(coll) | 1 << elt.index)
        if isinstance(coll, VSet) or coll is EMPTY:
            return VSet(_items(coll) | {elt})
        raise CatTypeError(f"cannot add an element to {describe(coll)}")

    def split(self, coll: Value) -> tuple[Value, Value] | None:
        """One element and the rest, or None for an empty collection (``match ... ++``)."""
        if coll is EMPTY:
            return None
        if isinstance(coll, EvSet):
            if not coll.bits:
                return None
            low = coll.bits & -coll.bits
            return Event(low.bit_length() - 1), EvSet(coll.bits ^ low)
        if isinstance(coll, Rel):
            for i, r in enumerate(coll.rows):
                if r:
                    low = r & -r
                    rows = list(coll.rows)
                    rows[i] ^= low
                    return Pair(i, low.bit_length() - 1), Rel(tuple(rows))
            return None
        if isinstance(coll, VSet):
            if not coll.items:
                return None
            elt = min(coll.items, key=sort_key)
            return elt, VSet(coll.items - {elt})
        raise CatTypeError(f"cannot match elements of {describe(coll)}")

    def members(self, coll: Value) -> list[Value]:
        if coll is EMPTY:
            return []
        if isinstance(coll, VSet):
            return sorted(coll.items, key=sort_key)
        if isinstance(coll, EvSet):
            return [Event(i) for i in bits_of(coll.bits)]
        if isinstance(coll, Rel):
            return [Pair(i, j) for i, r in enumerate(coll.rows) for j in bits_of(r)]
        raise CatTypeError(f"expected a set, found {describe(coll)}")


def _items(v: Value) -> frozenset[Any]:
    if isinstance(v, VSet):
        return v.items
    return frozenset()


def sort_key(v: Value) -> tuple[int, Any]:
    """A deterministic order on set members, so that enumeration order is reproducible."""
    if isinstance(v, EvSet):
        return (0, v.bits)
    if isinstance(v, Rel):
        return (1, v.rows)
    if isinstance(v, TagV):
        return (2, v.name)
    if isinstance(v, Event):
        return (3, v.index)
    if isinstance(v, Pair):
        return (4, (v.src, v.dst))
    return (5, repr(v))


def describe(v: Value) -> str:
    if isinstance(v, EvSet):
        return "a set of events"
    if isinstance(v, Rel):
        return "a relation"
    if isinstance(v, VSet):
        return "a set of values"
    if isinstance(v, TagV):
        return f"the tag '{v.name}"
    if isinstance(v, Event):
        return "an event"
    if isinstance(v, Pair):
        return "a pair of events"
    if isinstance(v, tuple):
        return f"a tuple of {len(v)}"
    if isinstance(v, Primitive):
        return f"the primitive {v.name}"
    if v is EMPTY:
        return "the empty set"
    if v is UNIVERSE:
        return "the universe"
    return "a function"
