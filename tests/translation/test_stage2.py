"""Two stages in simulated memory: the guest's stage-1 walk goes through stage 2, and
stage-2 faults go to the hypervisor's policy (or are reported with their ESR)."""

from __future__ import annotations

from stalecheck.explore.search import check
from stalecheck.explore.verdict import Verdict
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.support.policies import kvm_stage2_map


def _two_stage(table_mapped: bool, data_mapped: bool, policy: bool) -> tuple[Verdict, Builder]:
    b = Builder()
    b.system(pes=1)
    b.page("S2T", "S2L2:s2a S2L3:s2pt,s2data")  # stage-2 tables (hypervisor memory)
    b.page("GPT", "G2:g2e G3:g3e", vm="vm")  # the guest's stage-1 tables (guest RAM)
    b.page("GDATA", "D", vm="vm")
    b.regime("s2", root="S2L2", levels=(2, 3), vas={"GPT": (0, 0), "GDATA": (0, 1)}, stage=2)
    b.regime("g1", root="G2", levels=(2, 3), vas={"V": (0, 0)}, s2="s2")
    data_desc = b.page_desc("GDATA")
    b.init(
        s2a=b.table_desc("S2L3"),
        s2pt=b.page_desc("GPT") if table_mapped else 0,
        s2data=data_desc if data_mapped else 0,
        g2e=b.table_desc("G3"),
        g3e=b.page_desc("GDATA"),
        D=5,
    )
    fault = kvm_stage2_map(table={"GDATA": ("s2data", data_desc), "GPT": ("s2pt", b.page_desc("GPT"))})
    b.vm("vm", mapped=("GPT", "GDATA"), on_stage2_fault=fault if policy else None)
    b.guest("vcpu", "LDR r1, V", vm="vm")
    b.translate("vcpu", "g1")
    b.bad_when(lambda v: v.done("vcpu") and (v.fault("vcpu") != 0 or v.reg("vcpu", "r1") != 5), "bad")
    return check(Machine(b.build())), b


def test_both_stages_mapped_reads_through() -> None:
    verdict, _ = _two_stage(True, True, policy=False)
    assert verdict.outcome.value == "unreachable" and verdict.sane


def test_stage2_fault_on_the_data_page_is_reported_to_el2() -> None:
    verdict, _ = _two_stage(True, False, policy=False)
    assert verdict.outcome.value == "reachable"
    # data abort from a lower EL, level-3 translation
    assert verdict.steps[-1].effect.fault.startswith("ESR=0x92000007")


def test_stage2_fault_on_the_stage1_walk_sets_s1ptw() -> None:
    verdict, _ = _two_stage(False, True, policy=False)
    assert verdict.steps[-1].effect.fault.startswith("ESR=0x92000087")  # S1PTW: the table's own IPA faulted


def test_the_hypervisor_maps_on_demand_and_the_access_retries() -> None:
    for table_mapped, data_mapped in ((True, False), (False, True), (False, False)):
        verdict, _ = _two_stage(table_mapped, data_mapped, policy=True)
        assert verdict.outcome.value == "unreachable", (table_mapped, data_mapped)
        assert verdict.sane  # the guest does finish: the proof is not vacuous
