"""Issue 11, item 10: a completed broadcast TLBI stops old translations everywhere.

D8.17 (R_LXHLD): "If a TLB maintenance instruction is complete, then no new memory
accesses using the in-scope old translation information are architecturally performed
by any observer that is affected by the TLB maintenance instruction."  A translation
another PE made ahead of time, for an access it has not performed yet, is such old
information.  The old model kept it, so a reader that waited for the writer's
break-before-make could still read the old page.
"""

from __future__ import annotations

from stalecheck.explore.search import check
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _reader_after_unmap(tlbi: bool) -> str:
    b = Builder()
    b.system(pes=2)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("PA", "A")
    b.host_type("A", DEVICE)
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("PA", attr="device"), A=1)
    maintenance = "TLBI VAE1IS, V\nDSB ISH\n" if tlbi else ""
    b.host("writer", f"STR l3e, 0\nDSB ISH\n{maintenance}SIGNAL unmapped", pe=0)
    b.host("reader", "WAIT unmapped\nLDR r1, V", pe=1)
    b.translate("writer", "k")
    b.translate("reader", "k", on_fault="fatal")
    b.bad_when(
        lambda v: v.done("reader") and v.fault("reader") == 0 and v.reg("reader", "r1") == 1,
        "the reader still reads the unmapped page",
    )
    return check(Machine(b.build())).outcome.value


def test_completed_broadcast_tlbi_discards_remote_early_translations() -> None:
    assert _reader_after_unmap(tlbi=False) == "reachable"  # the TLB may keep the old entry
    assert _reader_after_unmap(tlbi=True) == "unreachable"
