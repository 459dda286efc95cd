"""Instruction-fetch rules: the L1 instruction cache by type, and where a fetch reads.

An icache is a sorted tuple of ``(tag, line, values)`` entries per PE.  The tag
is what the cache is indexed and tagged by beyond the physical line:

- PIPT: nothing (tag 0): one entry per physical line, any VA hits it;
- VIPT with aliasing: the VA's alias ("colour") bit, so one physical line may
  sit in the cache once per alias; ``IC IVAU`` reaches only the alias of the
  VA it names, only ``IC IALLU(IS)`` removes every alias (B2.7.4.2 "Instruction
  cache maintenance" for VIPT; seed 004, DDI 0406C B3-1384);
- VIVT tagged with the VMID (ARMv7 legacy, seed 004): VMID and alias, so a VM
  never hits another VM's or the host's entries.

Where a fetch that misses reads (B2.7.4.2 data and instruction coherency,
CTR_EL0.IDC/DIC):
- cacheable fetch, ``IDC``=0: the instruction side is coherent with data only
  at the PoU, so a fill reads the first copy at or beyond the PoU (CLIDR_EL1.LoUU);
  dirty data in L1D is invisible until ``DC CVAU`` (or stronger) cleans it;
  LoUU=0 (which FEAT_S2FWB requires, CLIDR_EL1.LoUU) needs no clean;
- cacheable fetch, ``IDC``=1: data-to-instruction coherence needs no clean,
  the fill sees the coherent value;
- ``DIC``=1: the icache is coherent with data and needs no invalidation: the
  model keeps no icache entries at all;
- Non-cacheable fetch (stage 1 off with SCTLR.I=0, or a NC mapping): reads the
  PoC and does not allocate (D8.2.12.1).
"""

from __future__ import annotations

from typing import NamedTuple

from stalecheck.machine import caches
from stalecheck.machine.caches import Copies, Memory, Values
from stalecheck.machine.hierarchy import Hierarchy


class ICacheEntry(NamedTuple):
    """One line held in an L1 instruction cache."""

    tag: int  # beyond the physical line: alias and VMID (``tag_for``)
    line: int
    values: Values


ICache = tuple[ICacheEntry, ...]

PIPT, VIPT, VIVT = "pipt", "vipt", "vivt-vmid"
KINDS = ("none", PIPT, VIPT, VIVT)


def tag_for(kind: str, colour: int, vmid: int) -> int:
    """The part of an icache entry's index/tag beyond the physical line."""
    if kind == VIPT:
        return colour
    if kind == VIVT:
        return vmid * 2 + colour
    return 0


def lookup(ic: ICache, tag: int, line: int) -> Values | None:
    for entry in ic:
        if entry.tag == tag and entry.line == line:
            return entry.values
    return None


def fill(ic: ICache, tag: int, line: int, values: Values) -> ICache:
    kept = tuple(e for e in ic if not (e[0] == tag and e[1] == line))
    return tuple(sorted((*kept, ICacheEntry(tag, line, values))))


def drop(ic: ICache, index: int) -> ICache:
    return (*ic[:index], *ic[index + 1 :])


def invalidate_va(ic: ICache, kind: str, tag: int, line: int) -> ICache:
    """IC IVAU: the entries the named VA can reach: every entry of the line on PIPT,
    only the VA's alias on VIPT, only the VA's VMID and alias on VIVT."""
    if kind == PIPT:
        return tuple(e for e in ic if e[1] != line)
    return tuple(e for e in ic if not (e[0] == tag and e[1] == line))


def miss_value(
    copies: Copies, mem: Memory, h: Hierarchy, pe: int, line: int, nl: int, idc: bool, cacheable: bool
) -> Values:
    """What a fetch that misses the icache reads (see the module docstring)."""
    if not cacheable:
        return mem[line]
    if idc or h.pou_depth == 0:  # CLIDR_EL1.LoUU=0 (required with FEAT_S2FWB): no clean needed
        return caches.coherent_value(copies, mem, h, pe, line, nl)
    for inst in h.paths[pe]:  # the first copy at or beyond the PoU on this PE's path
        if h.instances[inst].level >= h.pou_depth:
            copy = copies[inst * nl + line]
            if copy:
                return copy[1]
    return mem[line]
