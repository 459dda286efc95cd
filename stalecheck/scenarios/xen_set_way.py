"""Seed 001: Xen on Arm (2017, Cortex-A7 boards): set/way maintenance is local.

A guest cleans its caches with a set/way loop (as 32-bit Linux does at boot and
CPU bring-up), is migrated to another PE in the middle of the loop, so the
lines still dirty in the old PE's L1 are never cleaned.  It then turns caches
off, reads (stale: the data is still in the old L1) and writes Non-cacheable
(later overwritten when the stale dirty line is written back), turns caches on
and reads again.  Julien Grall's proposal, after KVM: trap set/way
(HCR_EL2.TSW) and clean the VM by VA, trap VM registers (HCR_EL2.TVM) and
flush again when the caches are toggled.

Scaling: two PEs (one migration suffices to split the loop), L1 per PE and a
shared L2 (the A7 cluster), one line per page; pages P0/P1 hold what the guest
touches, P2 is guest RAM it never touches (so that cleaning "touched pages"
and "all RAM" differ in cost).
"""

from __future__ import annotations

from stalecheck.machine.memtypes import S2Force
from stalecheck.machine.spec import HCR
from stalecheck.scenarios.builder import Builder, Scenario
from stalecheck.scenarios.support.policies import ignore, map_on_fault, on_sctlr_toggle_flush, on_setway_flush

SCENARIO = Scenario(
    "xen-set-way",
    "Guest set/way clean split by a vCPU migration; stale reads with caches off, then on",
    seed="001",
)

# The guest: dirty two lines with caches on, clean by set/way level by level
# with a DSB after each level (the Arm ARM's example sequence, D7.5.9.16.1),
# caches off; read X, write Y; caches on; read Y.
GUEST = """
STR X, 1
STR Y, 1
DSB SY
SETWAY CISW L1
DSB SY
SETWAY CISW L2
DSB SY
MSR SCTLR_EL1.C, 0
ISB
LDR r1, X
STR Y, 2
DSB SY
MSR SCTLR_EL1.C, 1
ISB
LDR r2, Y
"""


def _base(b: Builder, caches_off_only: bool = False, **vm: object) -> None:
    hcr = vm.get("hcr")
    # FEAT_S2FWB hardware has CLIDR_EL1.LoUU=LoUIS=0 (Arm ARM D8.6, IRRDBK).
    b.system(pes=2, l2=True, louu=0 if isinstance(hcr, HCR) and hcr.FWB else 1, loc=2)
    b.page("P0", "X", vm="vm")
    b.page("P1", "Y", vm="vm")
    b.page("P2", "Z", vm="vm")
    b.vm("vm", **vm)  # type: ignore[arg-type]
    b.guest("vcpu", GUEST, vm="vm", pe=0, migratable=True)
    if caches_off_only:
        b.bad_when(
            lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 1,
            "the guest reads X != 1 with caches off",
        )
        return
    b.bad_when(
        lambda v: v.done("vcpu") and (v.reg("vcpu", "r1") != 1 or v.reg("vcpu", "r2") != 2),
        "the guest reads X != 1 with caches off, or Y != 2 after turning caches back on",
    )


@SCENARIO.variant("untrapped", expect="reachable")
def _untrapped(b: Builder) -> None:
    """Set/way executes natively on whichever PE the vCPU is on."""
    _base(b, mapped=("P0", "P1", "P2"))


@SCENARIO.variant("untrapped-caches-off-read", expect="reachable")
def _untrapped_off(b: Builder) -> None:
    """Untrapped, asking only about the caches-off read: the witness needs a
    migration before the loop has cleaned the dirty lines (the osstest failure)."""
    _base(b, caches_off_only=True, mapped=("P0", "P1", "P2"))


@SCENARIO.variant("tsw-clean-by-va-caches-off-read", expect="unreachable")
def _tsw_off(b: Builder) -> None:
    """Trapping set/way and cleaning by VA closes the caches-off read."""
    _base(
        b,
        caches_off_only=True,
        mapped=("P0", "P1", "P2"),
        hcr=HCR(TSW=True),
        on_setway=on_setway_flush(False, False),
    )


@SCENARIO.variant("tsw-clean-by-va", expect="reachable")
def _tsw(b: Builder) -> None:
    """HCR_EL2.TSW: each trapped set/way op cleans all guest RAM by VA to the PoC;
    closes the caches-off read, not the caches-on read of a refilled stale line."""
    _base(b, mapped=("P0", "P1", "P2"), hcr=HCR(TSW=True), on_setway=on_setway_flush(False, False))


@SCENARIO.variant("tsw-tvm", expect="unreachable")
def _tsw_tvm(b: Builder) -> None:
    """TSW + TVM (what KVM and Xen do): the first set/way trap flushes the VM by VA
    and starts trapping SCTLR_EL1; each cache toggle flushes again."""
    _base(
        b,
        mapped=("P0", "P1", "P2"),
        hcr=HCR(TSW=True),
        on_setway=on_setway_flush(False, True),
        on_sctlr=on_sctlr_toggle_flush(),
    )


@SCENARIO.variant("tsw-tvm-touched-only", expect="unreachable")
def _tsw_tvm_touched(b: Builder) -> None:
    """TSW + TVM with populate-on-demand: only pages mapped at stage 2 are flushed."""
    _base(
        b,
        hcr=HCR(TSW=True),
        on_stage2_fault=map_on_fault(),
        on_setway=on_setway_flush(True, True),
        on_sctlr=on_sctlr_toggle_flush(touched_only=True),
    )


@SCENARIO.variant("tsw-tvm-preemptible", expect="unreachable")
def _tsw_tvm_preemptible(b: Builder) -> None:
    """TSW + TVM, the flush preemptible: the vCPU may migrate in the middle of the
    hypervisor's by-VA flush (by-VA maintenance is broadcast, unlike set/way)."""
    _base(
        b,
        mapped=("P0", "P1", "P2"),
        hcr=HCR(TSW=True),
        on_setway=on_setway_flush(False, True),
        on_sctlr=on_sctlr_toggle_flush(),
    )
    b.options(preemptible_policies=True)


@SCENARIO.variant("fwb", expect="unreachable")
def _fwb(b: Builder) -> None:
    """FEAT_S2FWB forcing Normal WB: caches-off accesses stay cacheable and coherent,
    so trapped set/way ops can be ignored."""
    _base(
        b,
        mapped=("P0", "P1", "P2"),
        hcr=HCR(TSW=True, FWB=True),
        s2_force=S2Force.FORCE_WB,
        on_setway=ignore,
    )
