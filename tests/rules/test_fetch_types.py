"""Issue 11, items 1 and 2: where the instruction-fetch model was stronger than the Arm ARM.

Each test quotes the rule and builds the smallest system in which the old model said
"unreachable" for a behaviour the architecture permits.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.memtypes import (
    DEVICE,
    NORMAL_NC,
    NORMAL_WB,
    NORMAL_WB_NSH,
    S2Force,
    combine_stages,
    stage1_fetch_type,
)
from stalecheck.machine.spec import HCR
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _guest_runs_stale_code(sctlr: tuple[int, int, int], hcr: HCR, invalidate: bool) -> str:
    """The VMM writes new code (version 2) over a page whose old code (version 1) sits in
    PE0's PIPT I-cache, cleans it to the PoC, and maybe invalidates the I-cache; then the
    guest runs the page with the given SCTLR_EL1 (M, C, I)."""
    b = Builder()
    b.system(pes=1, louu=1, loc=1)
    b.page("P", "C", vm="vm")
    b.init(C=1)
    b.fetch(icache="pipt", host_colour=0, guest_colour=0)
    b.icache_holds(0, "C", 1)
    b.vm("vm", hcr=hcr, mapped=("P",))
    inval = "\nIC IALLU\nDSB ISH" if invalidate else ""
    b.host("vmm", f"STR C, 2\nDC CVAC C\nDSB ISH{inval}\nSIGNAL loaded")
    b.guest("vcpu", "WAIT loaded\nISB\nEXEC r1, C", vm="vm", sctlr=sctlr)
    b.bad_when(lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 2, "runs the old code")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("sctlr", "hcr"),
    [
        ((0, 0, 0), HCR()),  # stage 1 off, SCTLR_EL1.I=0: fetches Normal NC (D8.2.12.1)
        ((1, 1, 0), HCR()),  # SCTLR_EL1.I=0 with the MMU on (D7.5.5)
        ((1, 1, 1), HCR(ID=True)),  # HCR_EL2.ID=1 (D7.5.5)
    ],
)
def test_non_cacheable_fetches_can_hit_the_instruction_cache(sctlr: tuple[int, int, int], hcr: HCR) -> None:
    """D7.5.7: "In AArch64 state, instruction accesses to Non-cacheable Normal memory can be
    held in instruction caches. [...] This includes cases where System register
    Cacheability control fields force instruction accesses to memory to be
    Non-cacheable." Cleaning to the PoC without invalidating the I-cache leaves the old
    code runnable."""
    assert _guest_runs_stale_code(sctlr, hcr, invalidate=False) == "reachable"
    assert _guest_runs_stale_code(sctlr, hcr, invalidate=True) == "unreachable"


def test_hcr_cd_applies_after_fwb() -> None:
    """J1.1 AArch64.S2Translate: AArch64.S2TreatAsNormalNC is applied to the walk's
    attributes, which with FWB=1 are already combined with stage 1
    (AArch64.S2ApplyFWBMemAttrs): "accdesc.acctype != AccessType_IFETCH &&
    walkstate.memattrs.memtype == MemType_Normal && !S2DCacheEnabled()"."""
    forced = combine_stages(NORMAL_WB, NORMAL_WB, fwb=True, force=S2Force.FORCE_WB, hcr_cd=True)
    assert forced == NORMAL_NC
    assert combine_stages(DEVICE, NORMAL_WB, fwb=True, force=S2Force.PASS, hcr_cd=True) == DEVICE


def test_hcr_id_applies_after_fwb_and_device_fetches_are_nc() -> None:
    """J1.1 AArch64.S2TreatAsNormalNC: "accdesc.acctype == AccessType_IFETCH &&
    (walkstate.memattrs.memtype == MemType_Device || HCR_EL2.ID == '1')"."""
    wb = S2Force.FORCE_WB
    assert combine_stages(NORMAL_WB, NORMAL_WB, fwb=True, force=wb, hcr_cd=True, fetch=True) == NORMAL_NC
    assert combine_stages(NORMAL_WB, NORMAL_WB, fwb=True, force=wb, hcr_cd=False, fetch=True) == NORMAL_WB
    passing = S2Force.PASS
    assert combine_stages(NORMAL_WB, DEVICE, fwb=False, force=passing, hcr_cd=False, fetch=True) == NORMAL_NC


def test_hcr_dc_applies_to_instruction_fetches() -> None:
    """D7.5.5: "When the value of HCR_EL2.DC is 1, all stage 1 translations [...] are treated
    as accesses to Normal Non-shareable Inner Write-Back Cacheable [...] memory, regardless
    of the value of SCTLR_EL1.{I, C}. This applies to translations for both data and
    instruction accesses." """
    assert stage1_fetch_type(NORMAL_WB, mmu=False, icache=False, hcr_dc=True) == NORMAL_WB_NSH
    assert not stage1_fetch_type(NORMAL_WB, mmu=False, icache=False, hcr_dc=False).cacheable
    assert not stage1_fetch_type(NORMAL_WB, mmu=True, icache=False, hcr_dc=False).cacheable


def test_hcr_cd_under_fwb_makes_the_guest_read_the_poc() -> None:
    """With FWB=1 and HCR_EL2.CD=1 a guest data access is Normal NC (J1.1
    AArch64.S2TreatAsNormalNC), so a dirty line the VMM left in L1 can be missed: the guest
    reads the PoC.  The old model forced WB and said unreachable."""
    b = Builder()
    b.system(pes=1, louu=0, loc=1)
    b.page("P", "X", vm="vm")
    b.vm("vm", hcr=HCR(FWB=True, CD=True), mapped=("P",))
    b.options(nc_reads_may_hit=False)
    b.host("vmm", "STR X, 1\nDSB SY\nSIGNAL loaded")
    b.guest("vcpu", "WAIT loaded\nLDR r1, X", vm="vm")
    b.bad_when(lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 1, "stale read")
    assert check(Machine(b.build())).outcome.value == "reachable"
