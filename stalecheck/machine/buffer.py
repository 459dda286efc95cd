"""Per-PE buffer of stores and cache maintenance that complete asynchronously.

The rules on what may complete before what, each with its place in the Arm ARM
("Model:" marks where the model is stronger or weaker than the manual):
- stores to one location complete in program order (B2.3.1 Basic definitions,
  Coherence-before: a same-location write later in program order is never
  Coherence-before an earlier one);
- a ``DC`` by VA is ordered with earlier and later stores to the same line only
  when both are to Normal Inner Write-Back or Write-Through memory with the same
  cacheability attributes (Write-Back and Write-Through differ), and with
  other ``DC`` to that line (D7.5.9.15 Ordering and completion of data and
  instruction cache instructions: DC "can execute in any order relative to
  loads or stores that access any address with the Device memory attribute, or
  with Normal memory with Inner Non-cacheable attribute unless a DMB or DSB is
  executed between the instructions");
- a ``DMB`` leaves a marker (B2.3.7 Ordering relations, Barrier-ordered-before;
  B2.6.2 Data Memory Barrier): after a full ``DMB`` (loads and stores) no store,
  DC or set/way operation completes before every store, DC and set/way
  operation issued before it, and later loads wait for them; after a ``DMB ST``
  only stores are ordered, with stores: cache maintenance is ordered only by a
  DMB "whose required access type is both loads and stores" (D7.5.9.15);
- set/way operations are ordered with each other, and with stores and DC by VA,
  only by a full ``DMB`` or a ``DSB`` (D7.5.9.15: "can execute in any order
  relative to data cache maintenance instructions that do not specify an
  address unless a DMB or DSB is executed between the instructions").  The
  option ``setway_program_order`` keeps them in program order among themselves
  instead, the ARMv7 rule Linux's v7_flush_dcache_all relied on; it is printed
  with every verdict that uses it;
- a release store (``STLR``) completes after every store issued before it
  (B2.3.7 Ordering relations: a Release is Barrier-ordered-after every earlier
  access; earlier loads have executed before it issues, ``ordering.py``);
- only a ``DSB`` waits for completion, and only a ``DSB`` for both loads and
  stores completes cache maintenance (B2.6.9 Data Synchronization Barrier: "All
  cache maintenance instructions in program order before the DSB" are waited for
  only when the required access types are reads and writes; D7.5.9.15: a CMO "is
  only guaranteed to be complete ... following a DSB"), so a ``DSB ST`` completes
  no CMO (docs/design.md section 1).
"""

from __future__ import annotations

from stalecheck.machine.memtypes import INNER_CACHEABLE_PATHS
from stalecheck.machine.state import (
    DCVA,
    IC_ENTRY,
    MARK_FULL,
    MARK_ST,
    SETWAY,
    STORE,
    STORE_RELEASE,
    TLBI_ENTRY,
    Entry,
    MarkEntry,
)

_MARKS = (MARK_FULL, MARK_ST)
_MAINTENANCE = (DCVA, SETWAY)


def _blocks(earlier: Entry, later: Entry, setway_in_order: bool) -> bool:
    """Whether ``earlier`` (before in the buffer) must complete before ``later``."""
    ek, lk = earlier[0], later[0]
    if lk in (TLBI_ENTRY, IC_ENTRY):  # D7.5.9.15, D8.17: ordered by nothing but a DSB
        return False
    if ek == MARK_FULL:  # a full DMB orders stores, DC and set/way after it
        return True
    if lk == SETWAY:
        return setway_in_order and ek == SETWAY
    if ek == MARK_ST:  # DMB ST: stores only (D7.5.9.15)
        return lk == STORE
    if lk == STORE:
        if later[5] & STORE_RELEASE and ek == STORE:  # B2.3.7: a release after every earlier store
            return True
        if ek == STORE:
            return earlier[1] == later[1] and earlier[2] == later[2]
        if ek == DCVA:  # D7.5.9.15: same line, Normal Inner cacheable, same cacheability (WT != WB)
            return earlier[2] == later[1] and earlier[6] == later[6] and later[4] in INNER_CACHEABLE_PATHS
        return False
    if lk == DCVA:
        if ek == STORE:
            return earlier[1] == later[2] and earlier[6] == later[6] and later[3] in INNER_CACHEABLE_PATHS
        if ek == DCVA:
            return earlier[2] == later[2]
    return False


def completable(buf: tuple[Entry, ...], setway_in_order: bool = False) -> list[int]:
    """Indices of entries that may complete now, in buffer order."""
    out: list[int] = []
    for i, entry in enumerate(buf):
        if entry[0] in _MARKS:
            continue
        for j in range(i):  # a plain loop, not any(): called for every state with a buffer
            if _blocks(buf[j], entry, setway_in_order):
                break
        else:
            out.append(i)
    return out


def has_stores(buf: tuple[Entry, ...]) -> bool:
    return any(entry[0] == STORE for entry in buf)


def has_release(buf: tuple[Entry, ...]) -> bool:
    """Whether a release store (STLR) has not propagated yet: a later LDAR waits for it
    (B2.3.7 Barrier-ordered-before: release then acquire, RCsc)."""
    return any(entry[0] == STORE and entry[5] & STORE_RELEASE for entry in buf)


def _orders(marker: int, entry: Entry) -> bool:
    """Whether a marker of this kind has ``entry`` (before it) to order."""
    if marker == MARK_FULL:
        return entry[0] == STORE or entry[0] in _MAINTENANCE
    return entry[0] == STORE


def dmb_marker(buf: tuple[Entry, ...], full: bool) -> Entry | None:
    """The marker a DMB leaves, or None when nothing before it needs ordering."""
    marker = MARK_FULL if full else MARK_ST
    return MarkEntry(marker) if any(_orders(marker, entry) for entry in buf) else None


def loads_blocked(buf: tuple[Entry, ...]) -> bool:
    """A load after a full DMB waits until the stores and maintenance before it complete."""
    return any(entry[0] == MARK_FULL for entry in buf)


def forward(buf: tuple[Entry, ...], line: int, offset: int) -> int | None:
    """The value of the newest buffered store to the location, if any."""
    for entry in reversed(buf):
        if entry[0] == STORE and entry[1] == line and entry[2] == offset:
            return entry[3]
    return None


def remove(buf: tuple[Entry, ...], index: int) -> tuple[Entry, ...]:
    """Drop a completed entry, then any marker with nothing left to order before it,
    so equal buffers have one representation."""
    out: list[Entry] = []
    for i, entry in enumerate(buf):
        if i == index:
            continue
        if entry[0] in _MARKS:
            if not any(_orders(entry[0], e) for e in out if e[0] not in _MARKS):
                continue
            if out and out[-1][0] in _MARKS:  # adjacent markers: the full one subsumes
                if entry[0] == MARK_FULL:
                    out[-1] = entry
                continue
        out.append(entry)
    return tuple(out)
