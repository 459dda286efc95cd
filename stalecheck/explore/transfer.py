"""How states travel between the workers of a parallel search: field by field, each
distinct field value once per channel.

Pickling whole states cost about 6 µs a state on the machine engine (a Python call per
NamedTuple to reduce it, another to rebuild it), and most states sent are duplicates
that their owner throws away.  But the states a worker sends share their fields: the
3x1 benchmark case sent 100,000 states made of 4 distinct memories, 180 distinct sets
of cache copies and 690 distinct thread tuples.  So a channel (one sender, one
receiver) keeps a table of the field values it has already sent, position by
position; a state travels as one row of small ints (``marshal``), and each new field
value travels once, pickled.  The receiver rebuilds the very same state (equal, of
the same NamedTuple type) from its copy of the tables.  That costs about 2.5 µs a
state for both ends together.

States that are not NamedTuples (a model of plain ints, a tuple of varying length)
travel whole, through the same table: correct, with no saving.

Determinism: the encoding changes nothing a search observes.  A decoded state is
equal to the one encoded, so it hashes and compares the same in the visited set.

The tables keep every value they sent alive, so a channel starts afresh (both ends
drop their tables) once it holds ``RESET_AFTER`` values: memory stays bounded on
models whose fields take millions of values, where the tables would not save much.
"""

from __future__ import annotations

import marshal
import pickle
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

import numpy as np

RESET_AFTER = 1 << 20  # field values a channel keeps before it starts afresh
_MISSING = -1  # the code of a field value the channel has not sent yet
_get: Callable[[dict[Any, int], Any, int], int] = dict.get
_item = list.__getitem__
_new = tuple.__new__


def _record_type(template: Any) -> type | None:
    """The state type whose fields are sent one by one: a NamedTuple (fixed length),
    else None (states travel whole)."""
    kind = type(template)
    return kind if issubclass(kind, tuple) and hasattr(kind, "_fields") else None


class Encoder:
    """The sending end of one channel."""

    def __init__(self, template: Any) -> None:
        self.kind = _record_type(template)
        self.width = len(template) if self.kind is not None else 0
        # one table per field position, and a last one for states that travel whole
        self.tables: list[dict[Any, int]] = [{} for _ in range(self.width + 1)]
        self.size = 0  # values in the tables
        self.shared_sent = -1  # how many side-table entries the receiver has (``encode``)

    def encode(self, states: Sequence[Any], keys: Sequence[int], shared: dict[Any, Any] | None) -> bytes:
        """One batch: ``states`` with their transition keys, and the model's side tables
        (``Model.shared_tables``) when they grew since the last batch."""
        reset = self.size >= RESET_AFTER
        if reset:
            self.tables = [{} for _ in range(self.width + 1)]
            self.size = 0
        tables, kind, whole = self.tables, self.kind, self.tables[-1]
        new: list[tuple[int, Any]] = []  # (position, value) of each value sent for the first time
        rows: list[Any] = []
        append = rows.append
        missing = repeat(_MISSING)  # endless: one per field of every state
        for state in states:
            if kind is not None and type(state) is kind:
                codes = tuple(map(_get, tables, state, missing))  # type: ignore[call-overload]
                if _MISSING in codes:
                    codes = self._define(state, codes, new)
                append(codes)
            else:  # travels whole: an int row
                code = whole.get(state, _MISSING)
                if code == _MISSING:
                    code = whole[state] = len(whole)
                    self.size += 1
                    new.append((self.width, state))
                append(code)
        if shared is not None and len(shared) != self.shared_sent:
            self.shared_sent = len(shared)
        else:
            shared = None
        return pickle.dumps(
            (reset, shared, new, marshal.dumps(rows, 4), np.asarray(keys, dtype=np.int64).tobytes()),
            pickle.HIGHEST_PROTOCOL,
        )

    def _define(self, state: Any, codes: tuple[int, ...], new: list[tuple[int, Any]]) -> tuple[int, ...]:
        """``codes`` with the fields the receiver has not seen numbered and queued in ``new``."""
        out = list(codes)
        for position, code in enumerate(codes):
            if code == _MISSING:
                table = self.tables[position]
                value = state[position]
                out[position] = table[value] = len(table)
                new.append((position, value))
                self.size += 1
        return tuple(out)


class Decoder:
    """The receiving end of one channel: the sender's tables, rebuilt."""

    def __init__(self, template: Any) -> None:
        self.kind = _record_type(template)
        self.width = len(template) if self.kind is not None else 0
        self.tables: list[list[Any]] = [[] for _ in range(self.width + 1)]

    def decode(self, batch: bytes) -> tuple[list[Any], list[int], dict[Any, Any] | None]:
        """The states and keys of one batch, and the sender's side tables if it sent them."""
        reset, shared, new, rows, keys = pickle.loads(batch)
        if reset:
            self.tables = [[] for _ in range(self.width + 1)]
        tables, kind = self.tables, self.kind
        for position, value in new:
            tables[position].append(value)
        whole = tables[-1]
        states = [
            whole[row] if type(row) is int else _new(kind, map(_item, tables, row))  # type: ignore[arg-type]
            for row in marshal.loads(rows)
        ]
        return states, np.frombuffer(keys, dtype=np.int64).tolist(), shared


# ---- split states: an outer and an inner part ------------------------------------------------
#
# The split search (``explore/split.py``, ``explore/partition_split.py``) stores a state as
# the number of its *outer* part (the fields after ``split_at``: buffers, threads, ...),
# the key of a bucket, and the number of its *inner* part (memory and copies), both in
# the worker's own numbering (the model's ``number_outer`` and ``inner_keys``).  A state
# crosses as the sender's two numbers.  The receiver numbers each part it is sent once per
# channel, by comparing the part itself (a dict lookup on the value), never a digest, so
# the pair the owner looks up is the state itself and ``unreachable`` stays a proof.
# States crossing to one worker share their parts (the same instruction taken from states
# that differ only by their caches: 97,000 states with 1,800 outer parts on the 3x1
# benchmark), so most cost two ints.  New parts cross field by field through per-position
# tables, as ``Encoder``'s.
#
# A batch is three NumPy arrays (the sender's outer and inner numbers, the keys), and the
# receiver turns the sender's numbers into its own with two arrays indexed by them
# (``PartsDecoder.outer_map``): no Python operation per state on either end, which matters
# because 95% of the states that cross are duplicates their owner drops (358,000 crossed
# on the 2x2 benchmark case for 19,500 new states).

PartOf = Callable[[int], tuple[Any, ...]]
NUMBER = np.int32  # a part's number on the wire and in the maps: fewer than 2**31 parts of a kind
Numbers = np.ndarray[Any, np.dtype[np.int64]]
Map = np.ndarray[Any, np.dtype[np.int32]]


class PartsEncoder:
    """The sending end of one channel of split states."""

    def __init__(self, template: tuple[Any, ...], cut: int) -> None:
        self.width = len(template)
        self.cut = cut
        self.reset_pending = False
        self._fresh_tables()
        self.shared_sent = -1

    def _fresh_tables(self) -> None:
        self.fields: list[dict[Any, int]] = [{} for _ in range(self.width)]
        self.outers: set[int] = set()  # the sender's numbers of the parts the receiver has
        self.inners: set[int] = set()
        self.size = 0

    def _codes(
        self, values: tuple[Any, ...], offset: int, new_fields: list[tuple[int, Any]]
    ) -> tuple[int, ...]:
        out = []
        for position, value in enumerate(values, offset):
            table = self.fields[position]
            code = table.get(value, _MISSING)
            if code == _MISSING:
                code = table[value] = len(table)
                new_fields.append((position, value))
                self.size += 1
            out.append(code)
        return tuple(out)

    def batch(
        self,
        outers: Numbers,
        inners: Numbers,
        keys: Numbers,
        outer_of: PartOf,
        inner_of: PartOf,
        shared: dict[Any, Any] | None,
    ) -> bytes:
        """One batch: states as the sender's numbers of their outer and inner parts, with
        their keys; each part the receiver has not been sent yet (``outer_of`` and
        ``inner_of`` give a part by its number) once, field by field; the side tables
        (``Model.shared_tables``) when they grew."""
        reset = self.size >= RESET_AFTER
        if reset:
            self._fresh_tables()
        if shared is not None and len(shared) != self.shared_sent:
            self.shared_sent = len(shared)
        else:
            shared = None
        new_fields: list[tuple[int, Any]] = []
        new_outers = []
        sent = self.outers
        for number in np.unique(outers).tolist():
            if number not in sent:
                sent.add(number)
                new_outers.append((number, self._codes(outer_of(number), self.cut, new_fields)))
        new_inners = []
        sent = self.inners
        for number in np.unique(inners).tolist():
            if number not in sent:
                sent.add(number)
                new_inners.append((number, self._codes(inner_of(number), 0, new_fields)))
        self.size += len(new_outers) + len(new_inners)
        return pickle.dumps(
            (
                reset,
                shared,
                new_fields,
                new_outers,
                new_inners,
                np.asarray(outers, dtype=NUMBER).tobytes(),
                np.asarray(inners, dtype=NUMBER).tobytes(),
                np.asarray(keys, dtype=np.int64).tobytes(),
            ),
            pickle.HIGHEST_PROTOCOL,
        )


Numbering = Callable[[tuple[Any, ...]], int]


class PartsDecoder:
    """The receiving end of one channel of split states.  ``number_outer`` and
    ``number_inner`` give a part the receiver's own number (the model's numberings)."""

    def __init__(
        self, template: tuple[Any, ...], cut: int, number_outer: Numbering, number_inner: Numbering
    ) -> None:
        self.width = len(template)
        self.cut = cut
        self.number_outer = number_outer
        self.number_inner = number_inner
        self.resets = 0  # how often the sender started afresh
        self._fresh_tables()

    def _fresh_tables(self) -> None:
        self.fields: list[list[Any]] = [[] for _ in range(self.width)]
        # the sender's number of a part: the receiver's (-1: not sent on this channel)
        # (as large as the sender's largest number: 4 bytes each)
        self.outer_map: Map = np.full(64, -1, dtype=NUMBER)
        self.inner_map: Map = np.full(64, -1, dtype=NUMBER)
        self.parts = 0  # parts received since the tables were last dropped

    def decode(self, batch: bytes) -> tuple[dict[Any, Any] | None, Numbers, Numbers, Numbers]:
        """The side tables if sent, and the receiver's numbers of the outer and inner parts
        of the batch's states, with their keys."""
        reset, shared, new_fields, new_outers, new_inners, outers, inners, keys = pickle.loads(batch)
        if reset:
            self._fresh_tables()
            self.resets += 1
        fields = self.fields
        for position, value in new_fields:
            fields[position].append(value)
        outer_fields, inner_fields = fields[self.cut :], fields[: self.cut]
        self.outer_map = _define(self.outer_map, new_outers, outer_fields, self.number_outer)
        self.inner_map = _define(self.inner_map, new_inners, inner_fields, self.number_inner)
        self.parts += len(new_outers) + len(new_inners)
        theirs = np.frombuffer(outers, dtype=NUMBER), np.frombuffer(inners, dtype=NUMBER)
        return (
            shared,
            self.outer_map[theirs[0]].astype(np.int64),
            self.inner_map[theirs[1]].astype(np.int64),
            np.frombuffer(keys, dtype=np.int64),
        )


def _define(
    mapping: Map, new: list[tuple[int, tuple[int, ...]]], fields: list[list[Any]], number: Numbering
) -> Map:
    """``mapping`` (sender's number -> receiver's), grown to hold the parts ``new`` defines."""
    if not new:
        return mapping
    top = max(code for code, _ in new)
    if top >= len(mapping):
        grown = np.full(max(2 * len(mapping), top + 1), -1, dtype=NUMBER)
        grown[: len(mapping)] = mapping
        mapping = grown
    for code, row in new:
        mapping[code] = number(tuple(map(_item, fields, row)))
    return mapping
