"""Issue 11, item 11: configurations no implementation can have are refused."""

from __future__ import annotations

import pytest

from stalecheck.errors import ScenarioError
from stalecheck.machine.spec import HCR
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _fwb_system(louu: int, louis: int | None = None) -> Builder:
    b = Builder()
    b.system(pes=1, louu=louu, louis=louis, loc=1)
    b.page("P", "X", vm="vm")
    b.vm("vm", hcr=HCR(FWB=True), mapped=("P",))
    b.guest("vcpu", "LDR r1, X", vm="vm")
    b.bad_when(lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 0, "read")
    return b


def test_fwb_needs_louu_and_louis_zero() -> None:
    """D8.6 (IRRDBK): "The architecture requires that CLIDR_EL1.{LoUU, LoIUS} are {0, 0} so
    that no data cache levels need to be cleaned to manage coherency with instruction
    fetches" (when FEAT_S2FWB is implemented)."""
    with pytest.raises(ScenarioError, match="LoUU=1"):
        Machine(_fwb_system(louu=1).build())
    with pytest.raises(ScenarioError, match="LoUIS=1"):
        Machine(_fwb_system(louu=0, louis=1).build())
    Machine(_fwb_system(louu=0).build())


def test_dic_needs_idc() -> None:
    """D24.2.42 CTR_EL0.IDC: "If CTR_EL0.DIC is 1 then the value reported in this field must
    also be 1"."""
    b = Builder()
    b.system(pes=1)
    b.page("P", "C")
    b.fetch(icache="pipt", dic=True)
    b.host("cpu", "EXEC r1, C")
    b.bad_when(lambda v: False, "never")
    with pytest.raises(ScenarioError, match=r"D24\.2\.42"):
        Machine(b.build())
