"""Issue 11, items 6 (TLB tags) and 12 (a vcpu_load hook).

D8.16 Translation Lookaside Buffers: TLB entries of the EL1&0 regime are tagged with the
VMID and, for non-global entries, the ASID; nothing in an entry names the table it came
from.  So two vCPUs of one VM whose stage-1 tables differ but whose ASIDs are equal hit
each other's entries on a PE they share.  KVM's kvm_arch_vcpu_load() invalidates the
PE's TLB for the VM when another vCPU ran there last ("last_vcpu_ran").  The old model
tagged entries by regime, so the stale hit came out unreachable.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.isa import Instr, dsb, tlbi
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.spec import TrapContext, TrapKind
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _flush_on_load(trap: TrapContext) -> list[Instr]:
    assert trap.kind == TrapKind.VCPU_LOAD and trap.pe == 1
    return [tlbi("VMALLE1"), dsb("NSH")]  # the local flush; ERET synchronises


def _other_vcpus_entry(asid_b: int, hook: bool) -> str:
    """vCPU A ran on PE1 and left its translation of V (to page A) in PE1's TLB; vCPU B,
    whose own tables map V to page B, is moved to PE1 and reads V."""
    b = Builder()
    b.system(pes=2)
    b.page("PTA", "TA:tae", vm="vm")
    b.page("PTB", "TB:tbe", vm="vm")
    b.page("PA", "A", vm="vm")
    b.page("PB", "B", vm="vm")
    for line in ("TA", "TB", "A", "B"):  # no data-cache steps: a smaller search
        b.host_type(line, DEVICE)
    b.regime("ga", root="TA", levels=(3,), vas={"V": (0,)}, vmid=1, asid=5)
    b.regime("gb", root="TB", levels=(3,), vas={"V": (0,)}, vmid=1, asid=asid_b)
    b.init(tae=b.page_desc("PA", attr="device"), tbe=b.page_desc("PB", attr="device"), A=1, B=2)
    b.tlb_holds(1, "ga", "V", b.page_desc("PA", attr="device"))
    b.vm("vm", mapped=("PTA", "PTB", "PA", "PB"), on_vcpu_load=_flush_on_load if hook else None)
    b.guest("vcpu-b", "ISB\nLDR r1, V", vm="vm", pe=0, migratable=True)
    b.translate("vcpu-b", "gb")
    b.bad_when(lambda v: v.done("vcpu-b") and v.reg("vcpu-b", "r1") == 1, "vCPU B reads vCPU A's page")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("asid_b", "hook", "expect"),
    [
        (5, False, "reachable"),  # one VMID and ASID: vCPU A's entry hits
        (6, False, "unreachable"),  # another ASID: it never does
        (5, True, "unreachable"),  # the hypervisor flushes the PE's TLB when it loads the vCPU
    ],
)
def test_entries_are_tagged_by_vmid_and_asid_and_vcpu_load_can_flush_them(
    asid_b: int, hook: bool, expect: str
) -> None:
    assert _other_vcpus_entry(asid_b, hook) == expect
