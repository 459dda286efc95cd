"""What the candidate generator asks of a memory model.

herd separates three things, and so do we: instruction semantics produce
each thread's events (:mod:`~stalecheck.axiomatic.semantics`); a candidate
generator enumerates read-from and coherence over them
(:mod:`~stalecheck.axiomatic.candidates`); a *model* says which candidates
are executions.  The built-in Arm model
(:class:`~stalecheck.axiomatic.aarch64_model.Aarch64Model`) implements this
protocol with one named function per relation and per axiom; a ``--cat``
interpreter implements the same three methods by evaluating a cat file.

The split into ``prepare`` / ``admits_rf`` / ``judge`` exists for speed:
whatever does not depend on the rf and co choices is computed once per
combination of thread paths, and a model may reject a read-from choice before
any coherence order is enumerated.  Pruning must be sound: ``admits_rf`` may
only return None where every coherence choice would break an axiom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, cast

from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.relations import is_acyclic

if TYPE_CHECKING:
    from stalecheck.axiomatic.aarch64_local import LocalOrder
    from stalecheck.axiomatic.candidates import Candidate, CandidateSpace


@dataclass(frozen=True, slots=True)
class Judgement:
    """A model's word on one candidate: the first axiom it breaks ("" if none).

    ``ob`` is the ordered-before relation (bitmask rows), kept when explaining a
    forbidden outcome so a witness can show the cycle.
    """

    violation: str = ""
    ob: tuple[int, ...] = ()


class MemoryModel(Protocol):
    """A memory model over candidate executions (see the module docstring)."""

    name: str

    def prepare(self, space: CandidateSpace) -> object:
        """Precompute what depends only on the thread paths (e.g. ``lob``)."""
        ...

    def admits_rf(self, prepared: object, rf: dict[int, int], explain: bool) -> object | None:
        """Per-rf state for :meth:`judge`, or None if no coherence choice can be allowed.

        With ``explain`` the model must not prune (forbidden candidates are wanted).
        """
        ...

    def judge(
        self, prepared: object, rf_state: object, candidate: Candidate, explain: bool
    ) -> Judgement:
        """Check every axiom on one candidate; with ``explain``, also return ``ob``."""
        ...

    def thread_edges(self, prepared: object) -> tuple[tuple[tuple[int, int, str], ...], ...]:
        """Named thread-local edges per thread (local event indices), for witnesses."""
        ...


# The three axioms' names, as a violation reports them.
INTERNAL = "internal visibility (coWR)"
EXTERNAL = "external visibility (ob is cyclic)"
ATOMIC = "atomicity (a write between an rmw's read and write)"

Edge = tuple[int, int]
class PreparedPaths(Protocol):
    """What the skeleton reads of a model's per-path-combination data
    (aarch64_model.Prepared and its variants)."""

    @property
    def orders(self) -> list[LocalOrder]: ...
    @property
    def static(self) -> list[int]: ...


OrderT = TypeVar("OrderT")  # a variant's per-thread order (LocalOrder, or one that holds it)
PreparedT = TypeVar("PreparedT", bound=PreparedPaths)


class LocalOrderModel(Generic[OrderT, PreparedT]):
    """The skeleton the built-in models share (base, ifetch, vmsa): a per-thread-path
    order computed once and cached, ``ob``'s static part plus read-from edges checked
    before coherence is enumerated, then the three axioms in herd's order.

    A variant says only what differs, in the hooks: its thread-local order, the
    edges rf and co add to ``ob``, how ``ob`` is checked (some variants enumerate
    orientations of pairs, herd's ``with ... from``), and the atomicity it checks.
    """

    name = ""

    def __init__(self) -> None:
        # the order per thread path, computed once: keyed by id, holding the trace alive
        self._orders: dict[int, tuple[ThreadTrace, OrderT]] = {}

    # ------------------------------------------------------------ hooks
    def local_order(self, trace: ThreadTrace) -> OrderT:
        raise NotImplementedError

    def rf_edges(self, p: PreparedT, rf: dict[int, int], rows: list[int]) -> None:
        """Add the ``ob`` edges that depend on rf only (rfe, rf into implicit reads)."""
        raise NotImplementedError

    def co_edges(self, p: PreparedT, c: Candidate, rows: list[int]) -> None:
        """Add the ``ob`` edges that depend on co (coe, fre, Exp-haz-ob, ...)."""
        raise NotImplementedError

    def internal(self, p: PreparedT, c: Candidate) -> bool:
        raise NotImplementedError

    def external(self, p: PreparedT, c: Candidate, ob: list[int], explain: bool) -> tuple[bool, list[int]]:
        """Whether ``ob`` is acyclic, and the ``ob`` to show (a cyclic one if it is not)."""
        return is_acyclic(ob), ob

    def atomic(self, p: PreparedT, c: Candidate) -> bool:
        raise NotImplementedError

    # ------------------------------------------------------------ MemoryModel
    def thread_order(self, trace: ThreadTrace) -> OrderT:
        hit = self._orders.get(id(trace))
        if hit is None:
            hit = self._orders[id(trace)] = (trace, self.local_order(trace))
        return hit[1]

    def thread_edges(self, prepared: object) -> tuple[tuple[tuple[int, int, str], ...], ...]:
        p = cast(PreparedT, prepared)
        return tuple(order.named for order in p.orders)

    def admits_rf(self, prepared: object, rf: dict[int, int], explain: bool) -> list[int] | None:
        """Static ob plus rf's edges; every co choice only adds edges, so a cycle is final."""
        p = cast(PreparedT, prepared)
        rows = list(p.static)
        self.rf_edges(p, rf, rows)
        if not explain and not is_acyclic(rows):
            return None
        return rows

    def judge(
        self, prepared: object, rf_state: object, candidate: Candidate, explain: bool
    ) -> Judgement:
        p, c = cast(PreparedT, prepared), candidate
        assert isinstance(rf_state, list)
        violation = ""
        if not self.internal(p, c):
            if not explain:
                return Judgement(INTERNAL)
            violation = INTERNAL
        ob = list(rf_state)
        self.co_edges(p, c, ob)
        acyclic, ob = self.external(p, c, ob, explain)
        if not acyclic:
            if not explain:
                return Judgement(EXTERNAL)
            violation = violation or EXTERNAL
        if not self.atomic(p, c):
            if not explain:
                return Judgement(ATOMIC)
            violation = violation or ATOMIC
        return Judgement(violation, tuple(ob) if explain else ())


def static_rows(space: CandidateSpace, orders: Sequence[LocalOrder]) -> list[int]:
    """``(lob | pick-lob)+`` of every thread, in global numbering: ob's static part."""
    static = [0] * space.size
    for tr, order, off in zip(space.traces, orders, space.offsets, strict=True):
        for k in range(len(tr.events)):
            static[off + k] = order.hw[k] << off
    return static


def global_reach(space: CandidateSpace, reaches: Sequence[dict[int, int]]) -> dict[int, list[int]]:
    """Per-thread reach masks (local event -> local events) as global event lists."""
    out: dict[int, list[int]] = {}
    for tr, masks, off in zip(space.traces, reaches, space.offsets, strict=True):
        for k, mask in masks.items():
            out[off + k] = [off + j for j in range(len(tr.events)) if mask >> j & 1]
    return out


def orientations(hw: list[int], proc_of: list[int], a: int, b: int) -> tuple[int, ...]:
    """enumerate-ordered-pairs (enumerations.cat): local-hw-reqs fixes the order of a
    same-thread pair; +1 is a before b, -1 b before a."""
    if proc_of[a] == proc_of[b]:
        if hw[a] >> b & 1:
            return (1,)
        if hw[b] >> a & 1:
            return (-1,)
    return (1, -1)


# The edges pair k adds under the orientations chosen so far (choice[:k+1]).
PairEdges = Callable[[list[int], int], list[Edge]]


def some_orientation_acyclic(
    pairs: Sequence[Sequence[int]], edges: PairEdges, ob: list[int]
) -> bool:
    """Whether some orientation of the pairs keeps ``ob`` acyclic: herd enumerates the
    orders (``with ... from``); this adds one pair at a time and backtracks on a cycle."""
    choice = [0] * len(pairs)

    def search(k: int, rows: list[int]) -> bool:
        if k == len(pairs):
            return True
        for o in pairs[k]:
            choice[k] = o
            new = list(rows)
            for a, b in edges(choice, k):
                new[a] |= 1 << b
            if is_acyclic(new) and search(k + 1, new):
                return True
        choice[k] = 0
        return False

    return search(0, ob)


def first_orientation(pairs: Sequence[Sequence[int]], edges: PairEdges, ob: list[int]) -> list[int]:
    """``ob`` under the first orientation of every pair: a cyclic witness to explain."""
    choice = [o[0] for o in pairs]
    rows = list(ob)
    for k in range(len(pairs)):
        for a, b in edges(choice, k):
            rows[a] |= 1 << b
    return rows
