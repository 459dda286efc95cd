"""Issue 11, item 8: context synchronisation is exact.

D24.1.2.2 Synchronization requirements for AArch64 System registers: a direct write to a
System register takes effect, at the latest, at the next context synchronisation event;
B2.6.1: an ISB is one, as are exception entry and return.  Observing a flag (``WAIT``,
``AWAIT``) is not one, and neither is a DSB: code that needs the write in effect after it
writes an ISB (docs/notation.md names every context synchronisation event the model
knows).  A model that synchronised at a WAIT would read the register's new value too
early and call the stale read below unreachable.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _caches_on_then_wait(after_wait: str) -> str:
    """A vCPU with its data cache off turns it on (SCTLR_EL1.C=1), waits for the host to
    publish X through the caches, then reads X.  Bad: the read is still Non-cacheable,
    so it misses the host's write (still in a cache)."""
    b = Builder()
    b.system(pes=2)
    b.page("P", "X", vm="vm")
    b.vm("vm", mapped=("P",))
    b.options(nc_reads_may_hit=False)  # an NC read goes to the PoC: the old value
    b.host("host", "STR X, 1\nDSB SY\nSIGNAL go", pe=0)
    b.guest("vcpu", f"MSR SCTLR_EL1.C, 1\nWAIT go\n{after_wait}LDR r1, X", vm="vm", pe=1, sctlr=(1, 0, 1))
    b.bad_when(
        lambda v: v.done("vcpu") and v.reg("vcpu", "r1") == 0, "the vCPU reads X with its cache still off"
    )
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("after_wait", "expect"),
    [("", "reachable"), ("DSB SY\n", "reachable"), ("ISB\n", "unreachable")],
)
def test_only_a_context_synchronisation_event_puts_a_register_write_in_effect(
    after_wait: str, expect: str
) -> None:
    assert _caches_on_then_wait(after_wait) == expect
