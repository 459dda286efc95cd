"""Issue 11, item 14: ``quiet_coherent_lines`` stays sound with pure invalidates at EL2.

D7.5.8.1.2: an invalidate "might result in the loss of updates" (dirty data is
discarded), so for a line that is invalidated without a clean, whether a write-back
happened first decides what a later read sees.  The reduction skips exactly those
write-backs, so it must not apply to such a line.
"""

from __future__ import annotations

import pytest

from stalecheck.errors import ScenarioError
from stalecheck.explore.search import check
from stalecheck.machine.isa import Instr
from stalecheck.machine.spec import HCR, TrapContext
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _host_invalidates(quiet: bool) -> str:
    b = Builder()
    b.system(pes=1)
    b.page("P", "X")
    b.options(quiet_coherent_lines=quiet)
    b.host("h", "STR X, 1\nDSB SY\nDC IVAC X\nDSB SY\nLDR r1, X")
    b.bad_when(lambda v: v.done("h") and v.reg("h", "r1") == 1, "the store survived the invalidate")
    return check(Machine(b.build())).outcome.value


def test_static_pure_invalidate_keeps_the_line_loud() -> None:
    assert _host_invalidates(quiet=False) == "reachable"
    assert _host_invalidates(quiet=True) == "reachable"


def _invalidate_at_el2(trap: TrapContext) -> list[Instr]:
    """A TPC policy that performs the trapped CMO at EL2 as a pure invalidate."""
    return [Instr("DC", kind="IVAC", loc=trap.instr.loc, text=f"DC IVAC {trap.instr.loc}")]


def test_policy_invalidate_of_a_quiet_line_is_refused() -> None:
    b = Builder()
    b.system(pes=1)
    b.page("P", "X", vm="vm")
    b.options(quiet_coherent_lines=True)
    b.vm("vm", hcr=HCR(TPC=True), mapped=("P",), on_cmo=_invalidate_at_el2)
    b.guest("g", "STR X, 1\nDC CIVAC X\nDSB SY\nLDR r1, X", vm="vm")
    b.bad_when(lambda v: v.done("g") and v.reg("g", "r1") == 1, "never mind")
    with pytest.raises(ScenarioError, match="invalidates it without cleaning"):
        check(Machine(b.build()))
