"""Hypervisor policies: what KVM and Xen ran, over the years, when a guest trapped to EL2.

A policy is a small function a trap calls (``spec.Policy``), returning code to
run at EL2.  It only *emits* instructions from the machine's vocabulary (``DC``,
``IC``, ``DSB``, ``MAP``, an emulated ``MSR``, an ``HCR`` bit flip, a store to a
stage-2 table); their effects are defined once, in the engine, exactly as for a
program's own instructions.  A fix is a different policy, never a change to the
engine.  This is seed history, not architecture, so it lives beside the
scenarios rather than in ``machine/``.

Stage-2 faults (seeds 002 and 004, and their successors): ``map_on_fault`` and
``kvm_stage2_map`` clean the faulting page, optionally invalidate the I-cache,
then map it.  Each knob of ``kvm_stage2_map`` is one of the choices KVM made:

- ``clean``: nothing, ``"pou"`` (2012's ``__cpuc_coherent_user_range`` and 2013's
  ``coherent_icache_guest_page``/``flush_icache_range``: enough for instruction
  fetch, not for a guest running with caches off) or ``"poc"`` (clean+invalidate
  to the PoC, ``__flush_dcache_area``: the fix that landed), skipped under
  ``HCR_EL2.FWB`` when ``skip_if_fwb`` (today's ``stage2_map``);
- ``icache``: ``"none"``, ``"page"`` (``IC IVAU`` by the *host's* VA of each
  line), ``"all"`` (``IC IALLUIS``), or ``"by-type"`` (2012's
  ``coherent_icache_guest_page``: per page on PIPT, all on VIPT, nothing on a
  VMID-tagged VIVT cache), skipped under ``CTR_EL0.DIC`` when ``skip_if_dic``;
- ``exec_only``: invalidate only on an execute fault; with ``map_xn`` a data
  fault maps the page execute-never, so a later fetch faults again and the
  invalidation happens then (KVM since 2017).

Set/way and cache-toggle traps (seed 001, KVM's ``kvm_set_way_flush`` and
``kvm_toggle_cache``; Xen's handling of set/way): ``on_setway_flush``,
``on_sctlr_toggle_flush``, ``emulate_only``, ``ignore``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stalecheck.errors import ScenarioError
from stalecheck.machine.ifetch import PIPT, VIPT, VIVT
from stalecheck.machine.isa import Instr, Op, dc, dsb, emulate_sctlr, ic, map_page, store
from stalecheck.machine.por_walks import declare_stores
from stalecheck.machine.spec import Policy, TrapContext

PolicyFactory = Callable[..., Policy]

_CLEAN = ("", "pou", "poc")
_ICACHE = ("none", "page", "all", "by-type", "modern")


def set_hcr(name: str, value: int) -> Instr:
    return Instr(Op.HCR, kind=name, value=value)


def clean_page(lines: Sequence[str], point: str, invalidate: bool = True) -> list[Instr]:
    """Clean a page's lines to ``point`` then wait: ``DC CVAU`` to the PoU, ``DC CIVAC``
    (``DC CVAC`` without ``invalidate``) to the PoC, each followed by one ``DSB ISH``."""
    op = "CVAU" if point == "pou" else ("CIVAC" if invalidate else "CVAC")
    return [*(dc(op, line) for line in lines), dsb("ISH")]


# ---- stage-2 faults --------------------------------------------------------------------------


def map_on_fault(clean: str = "", invalidate: bool = False) -> Policy:
    """Stage-2 fault: optionally clean the page (``"pou"`` or ``"poc"``) then map it.

    ``clean="pou"`` is what ``coherent_icache_guest_page()`` did in 2013 (seed 002:
    ``flush_icache_range`` cleans to the PoU only); ``"poc"`` is the fix that landed
    (``__flush_dcache_area``: DC CIVAC to the PoC, then DSB).
    """
    if clean not in _CLEAN:
        expected = ", ".join(map(repr, _CLEAN))
        raise ScenarioError(f"map_on_fault(clean={clean!r}): expected one of {expected}")

    def policy(trap: TrapContext) -> Sequence[Instr]:
        code = clean_page(trap.lines_of(trap.page), clean, invalidate) if clean else []
        code.append(map_page(trap.page))
        return code

    policy.__name__ = f"map_on_fault(clean={clean or 'none'})"
    return declare_stores(policy, ())  # DC, DSB and MAP only


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
            code.extend(clean_page(lines, clean))
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
    return declare_stores(policy, table.values() if table is not None else ())  # and DC, IC, DSB, MAP


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


# ---- set/way and cache-toggle traps -----------------------------------------------------------


def flush_vm(trap: TrapContext, touched_only: bool, op: str = "CIVAC") -> list[Instr]:
    """Clean+invalidate the VM's RAM by VA to the PoC (KVM ``stage2_flush_vm``):
    every RAM line, or only the lines of pages already mapped at stage 2.  The
    leading DSB makes the guest's own earlier stores complete first: a DC by VA is
    not ordered with an earlier Non-cacheable store to the same line unless a DMB
    or DSB comes between them (D7.5.9.15 Ordering and completion of data and
    instruction cache instructions)."""
    pages = trap.mapped if touched_only else None
    lines = trap.ram_lines(pages)
    return [dsb("SY"), *(dc(op, line) for line in lines), dsb("SY")]


def on_setway_flush(touched_only: bool, trap_vm_regs: bool) -> Policy:
    """Set/way trap (HCR_EL2.TSW): do not perform the guest's local op; clean the VM
    by VA instead (seed 001, KVM's kvm_set_way_flush); optionally start trapping VM
    registers (HCR_EL2.TVM) to catch the next cache toggle."""

    def policy(trap: TrapContext) -> Sequence[Instr]:
        if trap_vm_regs and trap.hcr_has("TVM"):
            return []  # already flushed and watching the cache toggle (kvm_set_way_flush)
        code = flush_vm(trap, touched_only)
        if trap_vm_regs:
            code.append(set_hcr("TVM", 1))
        return code

    policy.__name__ = f"setway_flush(touched_only={touched_only}, tvm={trap_vm_regs})"
    return declare_stores(policy, ())  # DSB, DC, HCR only


def on_sctlr_toggle_flush(touched_only: bool = False, leading_dsb: bool = True) -> Policy:
    """TVM trap on SCTLR_EL1: emulate the write; when the caches change state (C
    or M toggled), flush the VM by VA; once caches are on, stop trapping (seed 001,
    KVM's kvm_toggle_cache)."""

    def policy(trap: TrapContext) -> Sequence[Instr]:
        m, c, _ = trap.sctlr
        before_on = bool(m and c)
        after = {"M": m, "C": c}
        if trap.field in after:
            after[trap.field] = trap.value
        after_on = bool(after["M"] and after["C"])
        code: list[Instr] = [emulate_sctlr(trap.field, trap.value)]
        if before_on != after_on:
            flush = flush_vm(trap, touched_only)
            code[:0] = flush if leading_dsb else flush[1:]
        if after_on:
            code.append(set_hcr("TVM", 0))
        return code

    policy.__name__ = f"sctlr_toggle_flush(touched_only={touched_only})"
    return declare_stores(policy, ())  # EMSR, DSB, DC, HCR only


def emulate_only(trap: TrapContext) -> Sequence[Instr]:
    """A trapped SCTLR_EL1 write emulated with no maintenance (the cost of trapping alone)."""
    return [emulate_sctlr(trap.field, trap.value)]


def ignore(trap: TrapContext) -> Sequence[Instr]:
    """Trapped and dropped: what KVM does with set/way under FWB (nothing to clean)."""
    return []


declare_stores(emulate_only, ())
declare_stores(ignore, ())
