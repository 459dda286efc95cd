"""Per-PE buffer of stores and cache maintenance that complete asynchronously.

The rules on what may complete before what, each from one place in the Arm ARM:
- stores to one location complete in program order (B2.3, coherence order
  respects program order for one observer);
- a ``DC`` by VA is ordered with earlier and later stores to the same line only
  when they have the same cacheability, and with other ``DC`` to that line
  (D7.5.9.? "Ordering and completion of data and instruction cache
  instructions": DC by VA may execute in any order relative to accesses to
  Device or Non-cacheable memory unless a DMB or DSB intervenes);
- a ``DMB`` leaves a marker: no store or DC issued after it completes before
  every store and DC issued before it (B2.3 barrier-ordered-before; DC counts
  as a store for DMB ST); a full ``DMB`` also holds back later loads;
- set/way operations are ordered with respect to stores and DC by VA by nothing
  but a ``DSB`` (D7.5.9); among themselves they take effect in program order
  (assumption, printed with verdicts: Linux's v7_flush_dcache_all and TF-A's
  dcsw_op clean L1 then L2 with no DSB between the levels and rely on it);
- only a ``DSB`` waits for completion (B2.3.12; a ``DSB ST`` waits for stores
  only, so it completes no CMO, DESIGN.md section 1).
"""

from __future__ import annotations

from stalecheck.machine.state import DCVA, IC_ENTRY, MARK_FULL, MARK_ST, SETWAY, STORE, TLBI_ENTRY, Entry

_MARKS = (MARK_FULL, MARK_ST)


def _blocks(earlier: Entry, later: Entry) -> bool:
    ek, lk = earlier[0], later[0]
    if lk == SETWAY:  # set/way ops take effect in program order among themselves
        return ek == SETWAY
    if lk in (TLBI_ENTRY, IC_ENTRY):  # D7.5.9, D8.14: ordered by nothing but a DSB
        return False
    if ek in _MARKS:
        return True
    if lk == STORE:
        if ek == STORE:
            return earlier[1] == later[1] and earlier[2] == later[2]
        if ek == DCVA:
            return earlier[2] == later[1] and earlier[3] == later[4]
        return False
    # later is a DC by VA
    if ek == STORE:
        return earlier[1] == later[2] and earlier[4] == later[3]
    if ek == DCVA:
        return earlier[2] == later[2]
    return False


def completable(buf: tuple[Entry, ...]) -> list[int]:
    """Indices of entries that may complete now, in buffer order."""
    out: list[int] = []
    for i, entry in enumerate(buf):
        if entry[0] in _MARKS:
            continue
        if not any(_blocks(buf[j], entry) for j in range(i)):
            out.append(i)
    return out


def has_stores(buf: tuple[Entry, ...]) -> bool:
    return any(entry[0] == STORE for entry in buf)


def has_ordered(buf: tuple[Entry, ...]) -> bool:
    """Whether a DMB issued now has anything to order (a store or a DC by VA)."""
    return any(entry[0] in (STORE, DCVA) for entry in buf)


def loads_blocked(buf: tuple[Entry, ...]) -> bool:
    """A load after a full DMB waits until the stores and DCs before it complete."""
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
    ordered_before = False
    for i, entry in enumerate(buf):
        if i == index:
            continue
        if entry[0] in _MARKS:
            if not ordered_before:
                continue
            if out and out[-1][0] in _MARKS:  # adjacent markers: keep the stronger
                if entry[0] == MARK_FULL:
                    out[-1] = entry
                continue
            out.append(entry)
            continue
        if entry[0] in (STORE, DCVA):
            ordered_before = True
        out.append(entry)
    return tuple(out)
