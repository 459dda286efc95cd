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
  no CMO (docs/design.md section 1);
- a store performed for the PEs but not yet for the DMA masters (``STORE_DMA_LATE``,
  ``shareability.py``) is ordered only with later stores to its location (coherence
  for the DMA masters) and by the markers of barriers that reach them (OSH and SY:
  ``MARK_FULL``, ``MARK_ST``); ISH markers (``MARK_FULL_ISH``, ``MARK_ST_ISH``), ``DSB
  ISH``, release stores and forwarding ignore it.
"""

from __future__ import annotations

from stalecheck.machine.memtypes import INNER_CACHEABLE_PATHS
from stalecheck.machine.shareability import reaches_dma
from stalecheck.machine.state import (
    DCVA,
    IC_ENTRY,
    MARK_FULL,
    MARK_FULL_ISH,
    MARK_ST,
    MARK_ST_ISH,
    SETWAY,
    STORE,
    STORE_DMA_LATE,
    STORE_RELEASE,
    TLBI_ENTRY,
    Entry,
    MarkEntry,
)

_MARKS = (MARK_FULL, MARK_ST, MARK_FULL_ISH, MARK_ST_ISH)
_FULL_MARKS = (MARK_FULL, MARK_FULL_ISH)
_OUTER_MARKS = (MARK_FULL, MARK_ST)  # they order for the DMA masters too (shareability.py)
_MAINTENANCE = (DCVA, SETWAY)


def _blocks(earlier: Entry, later: Entry, setway_in_order: bool) -> bool:
    """Whether ``earlier`` (before in the buffer) must complete before ``later``."""
    ek, lk = earlier[0], later[0]
    if lk in (TLBI_ENTRY, IC_ENTRY):  # D7.5.9.15, D8.17: ordered by nothing but a DSB
        return False
    if ek in _FULL_MARKS:  # a full DMB orders stores, DC and set/way after it
        return True
    if lk == SETWAY:
        return setway_in_order and ek == SETWAY
    if ek in _MARKS:  # DMB ST: stores only (D7.5.9.15)
        return lk == STORE
    if lk == STORE:
        if ek == STORE:
            if (earlier[5] | later[5]) & STORE_DMA_LATE:  # the DMA masters see a location in order
                return earlier[1] == later[1] and earlier[2] == later[2]
            if later[5] & STORE_RELEASE:  # B2.3.7: a release after every earlier store
                return True
            return earlier[1] == later[1] and earlier[2] == later[2]
        if later[5] & STORE_DMA_LATE:
            return False
        if ek == DCVA:  # D7.5.9.15: same line, Normal Inner cacheable, same cacheability (WT != WB)
            return earlier[2] == later[1] and earlier[6] == later[6] and later[4] in INNER_CACHEABLE_PATHS
        return False
    if lk == DCVA:
        if ek == STORE:
            if earlier[5] & STORE_DMA_LATE:
                return False
            return earlier[1] == later[2] and earlier[6] == later[6] and later[3] in INNER_CACHEABLE_PATHS
        if ek == DCVA:
            return earlier[2] == later[2]
    return False


def _commute(a: Entry, b: Entry, setway_in_order: bool) -> bool:
    """Whether two adjacent entries may swap places without changing anything the buffer
    does: neither orders the other, neither is a marker (so forwarding, which only reads
    same-location stores, and marker removal are unaffected)."""
    if a[0] in _MARKS or b[0] in _MARKS:
        return False
    return not _blocks(a, b, setway_in_order) and not _blocks(b, a, setway_in_order)


def insert(buf: tuple[Entry, ...], entry: Entry, setway_in_order: bool = False) -> tuple[Entry, ...]:
    """``buf`` with ``entry`` added as if appended, at a canonical place among the entries it
    commutes with.  With out-of-order execution, independent stores and maintenance enter
    the buffer in any order; buffers that differ only in the order of entries that commute
    behave alike, so one order stands for all (the smallest, comparing entries as tuples),
    and exploring does not tell the orders apart.  Sound because only commuting neighbours
    are passed: every completion order the appended buffer allows, this one allows."""
    start = len(buf)
    while start and _commute(buf[start - 1], entry, setway_in_order):
        start -= 1
    for q in range(start, len(buf)):
        if entry < buf[q]:
            return (*buf[:q], entry, *buf[q:])
    return (*buf, entry)


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


def has_stores(buf: tuple[Entry, ...], domain: str = "SY") -> bool:
    """Whether a store has not completed for the observers of a barrier's ``domain`` (its
    option): a ``DSB ISHST`` does not wait for the DMA masters (shareability.py)."""
    if reaches_dma(domain):
        return any(entry[0] == STORE for entry in buf)
    return any(entry[0] == STORE and not entry[5] & STORE_DMA_LATE for entry in buf)


def performed(buf: tuple[Entry, ...], domain: str = "SY") -> bool:
    """Whether every entry has completed for the observers of a barrier's ``domain`` (its
    option): what a full DSB waits for (B2.6.9, in its domain: shareability.py)."""
    if not buf or reaches_dma(domain):
        return not buf
    return all(entry[0] == STORE and entry[5] & STORE_DMA_LATE for entry in buf)


def has_release(buf: tuple[Entry, ...]) -> bool:
    """Whether a release store (STLR) has not propagated yet: a later LDAR waits for it
    (B2.3.7 Barrier-ordered-before: release then acquire, RCsc)."""
    pending_release = STORE_RELEASE | STORE_DMA_LATE
    return any(entry[0] == STORE and entry[5] & pending_release == STORE_RELEASE for entry in buf)


def _orders(marker: Entry, entry: Entry) -> bool:
    """Whether a marker has ``entry`` (before it) to order."""
    if entry[0] == STORE and entry[5] & STORE_DMA_LATE:
        return marker[0] in _OUTER_MARKS  # only a barrier that reaches the DMA masters (shareability.py)
    if marker[0] in _FULL_MARKS:
        return entry[0] == STORE or entry[0] in _MAINTENANCE
    return entry[0] == STORE


def dmb_marker(buf: tuple[Entry, ...], full: bool, domain: str = "SY") -> Entry | None:
    """The marker a DMB leaves, or None when nothing before it needs ordering; ``domain``
    (the option) says whether it orders for the DMA masters too (shareability.py)."""
    kinds = (MARK_FULL, MARK_ST) if reaches_dma(domain) else (MARK_FULL_ISH, MARK_ST_ISH)
    marker = MarkEntry(kinds[0] if full else kinds[1])
    return marker if any(_orders(marker, entry) for entry in buf) else None


def _dominates(a: Entry, b: Entry) -> bool:
    """Whether marker ``a`` orders everything marker ``b`` does."""
    wider = a[0] in _OUTER_MARKS or b[0] not in _OUTER_MARKS
    return wider and (a[0] in _FULL_MARKS or b[0] not in _FULL_MARKS)


def loads_blocked(buf: tuple[Entry, ...]) -> bool:
    """A load after a full DMB waits until the stores and maintenance before it complete."""
    return any(entry[0] in _FULL_MARKS for entry in buf)


def forward(buf: tuple[Entry, ...], line: int, offset: int) -> int | None:
    """The value of the newest buffered store to the location, if any."""
    for entry in reversed(buf):
        if entry[0] == STORE and entry[1] == line and entry[2] == offset:
            if entry[5] & STORE_DMA_LATE:  # already in the memory system for the PEs
                return None
            return entry[3]
    return None


def named_lines(buf: tuple[Entry, ...]) -> int:
    """Bitmask of the lines the stores, DCs and set/way operations in ``buf`` name."""
    mask = 0
    for entry in buf:
        kind = entry[0]
        if kind == STORE:
            mask |= 1 << entry[1]
        elif kind == DCVA:
            mask |= 1 << entry[2]
        elif kind == SETWAY:
            mask |= 1 << entry[3]
    return mask


def remove(buf: tuple[Entry, ...], index: int) -> tuple[Entry, ...]:
    """Drop a completed entry, then any marker with nothing left to order before it,
    so equal buffers have one representation."""
    return _normal((*buf[:index], *buf[index + 1 :]))


def performed_for_pes(buf: tuple[Entry, ...], index: int, late: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """The entry at ``index`` has completed for the PEs but not for the DMA masters: in its
    place stay the ``STORE_DMA_LATE`` records of what they still read (shareability.py)."""
    return _normal((*buf[:index], *late, *buf[index + 1 :]))


def _normal(buf: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """``buf`` without the markers that have nothing left to order before them, adjacent
    markers merged where one orders all the other does."""
    out: list[Entry] = []
    for entry in buf:
        if entry[0] in _MARKS:
            if not any(_orders(entry, e) for e in out if e[0] not in _MARKS):
                continue
            if out and out[-1][0] in _MARKS:  # adjacent markers: one may subsume the other
                if _dominates(out[-1], entry):
                    continue
                if _dominates(entry, out[-1]):
                    out[-1] = entry
                    continue
        out.append(entry)
    return tuple(out)
