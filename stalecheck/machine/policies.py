"""Hypervisor policies: small functions a trap calls, returning code to run at EL2.

A policy only *emits* instructions from the machine's vocabulary (``DC``,
``DSB``, ``MAP``, an emulated ``MSR``, an ``HCR`` bit flip); their effects are
defined once, in the engine, exactly as for a program's own instructions.  A
fix is a different policy, never a change to the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stalecheck.machine.isa import Instr, Op, dc, dsb, emulate_sctlr, map_page
from stalecheck.machine.spec import Policy, TrapContext


def set_hcr(name: str, value: int) -> Instr:
    return Instr(Op.HCR, kind=name, value=value)


def map_on_fault(clean: str = "", invalidate: bool = False) -> Policy:
    """Stage-2 fault: optionally clean the page (``"pou"`` or ``"poc"``) then map it.

    ``clean="pou"`` is what ``coherent_icache_guest_page()`` did in 2013 (seed 002:
    ``flush_icache_range`` cleans to the PoU only); ``"poc"`` is the fix that landed
    (``__flush_dcache_area``: DC CIVAC to the PoC, then DSB).
    """

    def policy(trap: TrapContext) -> Sequence[Instr]:
        code: list[Instr] = []
        if clean:
            op = {"pou": "CVAU", "poc": "CIVAC" if invalidate else "CVAC"}[clean]
            code.extend(dc(op, line) for line in trap.lines_of(trap.page))
            code.append(dsb("ISH"))
        code.append(map_page(trap.page))
        return code

    policy.__name__ = f"map_on_fault(clean={clean or 'none'})"
    return policy


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
    return policy


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
    return policy


def emulate_only(trap: TrapContext) -> Sequence[Instr]:
    """A trapped SCTLR_EL1 write emulated with no maintenance (the cost of trapping alone)."""
    return [emulate_sctlr(trap.field, trap.value)]


def ignore(trap: TrapContext) -> Sequence[Instr]:
    """Trapped and dropped: what KVM does with set/way under FWB (nothing to clean)."""
    return []


PolicyFactory = Callable[..., Policy]
