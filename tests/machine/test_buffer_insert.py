"""``buffer.insert``: one canonical order for buffer entries that commute.

With out-of-order execution, entries of different lines enter a PE's buffer in any
order; ``insert`` puts each at a canonical place among the entries it commutes with.
That is a reduction, so it must not change what the buffer can do: every order in
which the entries may complete (B2.3.1 Coherence-before for same-location stores,
D7.5.9.15 for DC, B2.3.7 for DMB markers and release stores) and what a load forwards.
"""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from stalecheck.machine import buffer
from stalecheck.machine.state import (
    DCVA,
    MARK_FULL,
    MARK_ST,
    OP_CLEAN_INVAL,
    SETWAY,
    STORE,
    STORE_RELEASE,
    DcEntry,
    Entry,
    MarkEntry,
    SetWayEntry,
    StoreEntry,
)


@cache
def _orders(buf: tuple[Entry, ...], setway_in_order: bool) -> frozenset[tuple[Entry, ...]]:
    """Every sequence in which the buffer's entries may complete."""
    if all(e[0] in (MARK_FULL, MARK_ST) for e in buf):
        return frozenset({()})
    out: set[tuple[Entry, ...]] = set()
    for i in buffer.completable(buf, setway_in_order):
        for rest in _orders(buffer.remove(buf, i), setway_in_order):
            out.add((buf[i], *rest))
    return frozenset(out)


def _entry(draw: st.DrawFn, n: int) -> Entry:
    kind = draw(st.sampled_from((STORE, STORE, STORE, DCVA, SETWAY, MARK_FULL, MARK_ST)))
    line = draw(st.integers(0, 1))
    if kind == STORE:
        flags = STORE_RELEASE if draw(st.integers(0, 5)) == 0 else 0
        return StoreEntry(STORE, line, draw(st.integers(0, 1)), n, 1, flags, 1, n)
    if kind == DCVA:
        return DcEntry(DCVA, OP_CLEAN_INVAL, line, 1, 1, 1, 1, n)
    if kind == SETWAY:
        return SetWayEntry(SETWAY, OP_CLEAN_INVAL, 0, line, n)
    return MarkEntry(kind)


@st.composite
def _entries(draw: st.DrawFn) -> list[Entry]:
    return [_entry(draw, n) for n in range(draw(st.integers(1, 6)))]


@settings(max_examples=300, deadline=None)
@given(_entries(), st.booleans())
def test_insert_keeps_every_completion_order_and_every_forward(entries: list[Entry], setway: bool) -> None:
    appended: tuple[Entry, ...] = ()
    inserted: tuple[Entry, ...] = ()
    for entry in entries:
        if entry[0] in (MARK_FULL, MARK_ST):  # as execute.py: a marker only when it has work
            marker = buffer.dmb_marker(appended, full=entry[0] == MARK_FULL)
            if marker is None:
                continue
            appended, inserted = (*appended, marker), (*inserted, marker)
            continue
        appended = (*appended, entry)
        inserted = buffer.insert(inserted, entry, setway)
    assert sorted(appended) == sorted(inserted)
    assert _orders(appended, setway) == _orders(inserted, setway)
    for line in (0, 1):
        for offset in (0, 1):
            assert buffer.forward(appended, line, offset) == buffer.forward(inserted, line, offset)


def test_stores_to_two_lines_entering_in_either_order_are_one_buffer() -> None:
    """The reduction itself: the two orders of two commuting stores are one state."""
    a = StoreEntry(STORE, 0, 0, 1, 1, 0, 1, 7)
    b = StoreEntry(STORE, 1, 0, 1, 1, 0, 1, 8)
    assert buffer.insert((a,), b) == buffer.insert((b,), a)


def test_same_location_stores_and_markers_keep_their_order() -> None:
    """B2.3.1: two stores to one location complete in program order; a DMB marker
    (B2.3.7 Barrier-ordered-before) is never passed."""
    first = StoreEntry(STORE, 0, 0, 2, 1, 0, 1, 9)
    later = StoreEntry(STORE, 0, 0, 1, 1, 0, 1, 3)  # smaller as a tuple, yet it stays last
    assert buffer.insert((first,), later) == (first, later)
    other = StoreEntry(STORE, 1, 0, 0, 1, 0, 1, 1)
    fenced = (first, MarkEntry(MARK_FULL))
    assert buffer.insert(fenced, other) == (*fenced, other)
