"""Per-PE buffer of stores and cache maintenance that complete asynchronously.

The rules on what may complete before what, each with its place in the Arm ARM
("Model:" marks where the model is stronger or weaker than the manual):
- stores to one location complete in program order (B2.3.1 Basic definitions,
  Coherence-before: a same-location write later in program order is never
  Coherence-before an earlier one);
- a ``DC`` by VA is ordered with earlier and later stores to the same line only
  when they have the same cacheability, and with other ``DC`` to that line
  (D7.5.9.15 Ordering and completion of data and instruction cache
  instructions: program order only for same-line accesses to Normal Inner
  Write-Through or Write-Back memory with the same cacheability; "any order
  relative to loads or stores that access any address with the Device memory
  attribute, or with Normal memory with Inner Non-cacheable attribute unless a
  DMB or DSB is executed between the instructions").  Model: a Non-cacheable
  or Device store and a ``DC`` of the same line that is also Non-cacheable are
  kept in order, which the manual does not require;
- a ``DMB`` leaves a marker: no store or DC issued after it completes before
  every store and DC issued before it (B2.3.7 Ordering relations,
  Barrier-ordered-before; B2.6.2 Data Memory Barrier); a full ``DMB`` also holds
  back later loads.  Model: a ``DMB ST`` also orders ``DC``, as if it were a
  store; the manual orders cache maintenance only by a DMB "whose required
  access type is both loads and stores" (D7.5.9.15), and Barrier-ordered-before
  names DC (CVAU) effects only for a DMB FULL;
- set/way operations are ordered with respect to stores and DC by VA only by a
  ``DSB`` in the model; the manual also lets a full ``DMB`` order them
  (D7.5.9.15: "Can execute in any order relative to loads or stores unless a
  DMB or DSB is executed between the instructions"), so the model allows more
  reordering than the architecture here;
- among themselves set/way operations take effect in program order (assumption,
  printed with verdicts).  The AArch64 manual does not give this: D7.5.9.15 says
  data cache maintenance instructions that do not specify an address "can
  execute in any order relative to data cache maintenance instructions that do
  not specify an address unless a DMB or DSB is executed between the
  instructions", and its example (D7.5.9.16.1) executes a ``DSB`` after each
  level.  Program order is the ARMv7 (AArch32) rule that Linux's
  v7_flush_dcache_all relies on (it adds a DSB between levels only for Cortex-A7
  erratum 814220); TF-A's do_dcsw_op executes ``DSB SY`` before each level;
- only a ``DSB`` waits for completion, and only a ``DSB`` for both loads and
  stores completes cache maintenance (B2.6.9 Data Synchronization Barrier: "All
  cache maintenance instructions in program order before the DSB" are waited for
  only when the required access types are reads and writes; D7.5.9.15: a CMO "is
  only guaranteed to be complete ... following a DSB"), so a ``DSB ST`` completes
  no CMO (DESIGN.md section 1).
"""

from __future__ import annotations

from stalecheck.machine.state import DCVA, IC_ENTRY, MARK_FULL, MARK_ST, SETWAY, STORE, TLBI_ENTRY, Entry

_MARKS = (MARK_FULL, MARK_ST)


def _blocks(earlier: Entry, later: Entry) -> bool:
    ek, lk = earlier[0], later[0]
    if lk == SETWAY:  # set/way ops take effect in program order among themselves
        return ek == SETWAY
    if lk in (TLBI_ENTRY, IC_ENTRY):  # D7.5.9.15, D8.17: ordered by nothing but a DSB
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
        for j in range(i):  # a plain loop, not any(): called for every state with a buffer
            if _blocks(buf[j], entry):
                break
        else:
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
