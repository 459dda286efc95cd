"""Hypervisor policies for stage-2 faults: map, clean, invalidate the I-cache.

Like ``policies.py``, these only *emit* instructions (``DC``, ``IC``, ``DSB``,
``MAP``); what each does is defined once in the engine.  Each knob is one of
the choices KVM made over the years (seed 004 and its successors):

- ``clean``: nothing, ``"pou"`` (2012's ``__cpuc_coherent_user_range``: enough
  for instruction fetch, not for a guest running with caches off) or ``"poc"``
  (clean+invalidate to the PoC, ``__flush_dcache_area``), skipped under
  ``HCR_EL2.FWB`` when ``skip_if_fwb`` (today's ``stage2_map``);
- ``icache``: ``"none"``, ``"page"`` (``IC IVAU`` by the *host's* VA of each
  line), ``"all"`` (``IC IALLUIS``), or ``"by-type"`` (2012's
  ``coherent_icache_guest_page``: per page on PIPT, all on VIPT, nothing on a
  VMID-tagged VIVT cache), skipped under ``CTR_EL0.DIC`` when ``skip_if_dic``;
- ``exec_only``: invalidate only on an execute fault; with ``map_xn`` a data
  fault maps the page execute-never, so a later fetch faults again and the
  invalidation happens then (KVM since 2017).
"""

from __future__ import annotations

from collections.abc import Sequence

from stalecheck.errors import ScenarioError
from stalecheck.machine.ifetch import PIPT, VIPT, VIVT
from stalecheck.machine.isa import Instr, Op, dc, dsb, ic, store
from stalecheck.machine.spec import Policy, TrapContext

_CLEAN = ("", "pou", "poc")
_ICACHE = ("none", "page", "all", "by-type", "modern")


def kvm_stage2_map(
    clean: str = "",
    icache: str = "none",
    exec_only: bool = False,
    map_xn: bool = False,
    skip_if_fwb: bool = False,
    skip_if_dic: bool = False,
    table: dict[str, tuple[str, int]] | None = None,
) -> Policy:
    """A stage-2 fault handler: optional clean, optional I-cache invalidation, map.

    ``table`` maps an IPA page to (stage-2 entry location, descriptor): the map is
    then a store of that descriptor into the in-memory stage-2 table followed by a
    ``DSB ISH`` (the walker must see it; the ERET is the context synchronisation),
    instead of the abstract ``MAP``."""
    if clean not in _CLEAN:
        raise ScenarioError(f"clean={clean!r} (expected one of {', '.join(map(repr, _CLEAN))})")
    if icache not in _ICACHE:
        raise ScenarioError(f"icache={icache!r} (expected one of {', '.join(_ICACHE)})")

    def policy(trap: TrapContext) -> Sequence[Instr]:
        lines = trap.lines_of(trap.page)
        code: list[Instr] = []
        if clean and not (skip_if_fwb and trap.vm.hcr.FWB):
            op = "CVAU" if clean == "pou" else "CIVAC"
            code.extend(dc(op, line) for line in lines)
            code.append(dsb("ISH"))
        is_exec = trap.access == "exec"
        if icache != "none" and (is_exec or not exec_only) and not (skip_if_dic and trap.dic):
            ops = _icache_ops(icache, trap.icache, lines)
            if ops:
                code.extend(ops)
                code.append(dsb("ISH"))
        xn = map_xn and not is_exec
        if table is not None:
            if trap.page not in table:
                raise ScenarioError(f"no stage-2 table entry given for IPA page {trap.page!r}")
            loc, desc = table[trap.page]
            code.extend([store(loc, desc), dsb("ISH")])
        else:
            code.append(Instr(Op.MAP, loc=trap.page, kind="XN" if xn else ""))
        return code

    policy.__name__ = f"kvm_stage2_map(clean={clean or 'none'}, icache={icache}, exec_only={exec_only})"
    return policy


def _icache_ops(how: str, kind: str, lines: tuple[str, ...]) -> list[Instr]:
    if how == "page":
        return [ic("IVAU", line) for line in lines]
    if how == "all":
        return [ic("IALLUIS")]
    if how == "by-type":  # 2012: coherent_icache_guest_page()
        if kind == PIPT:
            return [ic("IVAU", line) for line in lines]
        if kind == VIPT:
            return [ic("IALLUIS")]
        return []  # VIVT tagged with VMIDs: "we are out of the woods"
    # modern (today's KVM): per page for PIPT, whole cache for anything aliasing
    if kind == PIPT:
        return [ic("IVAU", line) for line in lines]
    if kind in (VIPT, VIVT):
        return [ic("IALLUIS")]
    return []


def modern_kvm() -> Policy:
    """Today's policy: clean+invalidate to the PoC before a cacheable map unless FWB;
    invalidate the I-cache before an executable map unless DIC (per page on PIPT,
    whole on VIPT); data faults map execute-never so execute faults invalidate."""
    policy = kvm_stage2_map(
        clean="poc", icache="modern", exec_only=True, map_xn=True, skip_if_fwb=True, skip_if_dic=True
    )
    policy.__name__ = "kvm_stage2_map(modern)"
    return policy
