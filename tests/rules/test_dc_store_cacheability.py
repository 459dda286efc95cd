"""D7.5.9.15: Write-Through and Write-Back are different cacheability attributes for the
order of a DC by VA and a store to its line.

D7.5.9.15 Ordering and completion of data and instruction cache instructions: a data
cache instruction "Can execute in any order relative to loads or stores that have all of
the following properties: Access an address in Normal memory with either Inner Write
Through or Inner Write Back attributes within the same cache line ...; Use an address
with different cacheability attributes as the address passed to the data cache
instruction; Do not have a DMB or DSB executed between the load or store instruction and
the data cache instruction."  The old model compared only "cacheable or not", so a
Write-Back store was ordered before a Write-Through DC to its line.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.isa import Instr, store
from stalecheck.machine.memtypes import NORMAL_WB, NORMAL_WT, MemType
from stalecheck.machine.spec import HCR, TrapContext
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _hypervisor_writes(_trap: TrapContext) -> list[Instr]:
    return [store("X", 1)]  # at EL2, through the hypervisor's Write-Back mapping


def _device_reads_after_clean(guest_stage1: MemType) -> str:
    """The hypervisor stores to X while emulating the guest's SCTLR_EL1 write (HCR_EL2.TVM);
    back in the guest, the guest cleans X through its own mapping and kicks a
    non-coherent device, which reads X from memory."""
    b = Builder()
    b.system(pes=1)
    b.page("P", "X", vm="vm")
    b.vm("vm", hcr=HCR(TVM=True), mapped=("P",), stage1={"X": guest_stage1}, on_sctlr=_hypervisor_writes)
    b.guest("vcpu", "MSR SCTLR_EL1.C, 1\nDC CVAC X\nDSB SY\nSIGNAL go", vm="vm")
    b.device("dma", "WAIT go\nLDR r1, X", coherent=False)
    b.bad_when(lambda v: v.done("dma") and v.reg("dma", "r1") != 1, "the device reads X before the store")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(("guest_stage1", "expect"), [(NORMAL_WB, "unreachable"), (NORMAL_WT, "reachable")])
def test_a_write_through_dc_is_not_ordered_after_a_write_back_store(
    guest_stage1: MemType, expect: str
) -> None:
    assert NORMAL_WT.cacheability_key != NORMAL_WB.cacheability_key
    assert _device_reads_after_clean(guest_stage1) == expect
