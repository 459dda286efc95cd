"""Issue 11, item 5 (the part that is modelled) and the assumption printed for the rest.

B2.6.10 Shareability and access limitations on the data barrier operations: a DMB or
DSB takes "The shareability domain over which the instruction must operate. This is one
of: Full system. Outer Shareable. Inner Shareable. Non-shareable."  A Non-shareable DMB
or DSB orders nothing for another PE; the old model ordered it like SY, so a message
passed with DMB NSH or DSB NSH came out "unreachable".  D8.17 R_PSMWS: "A DSB NSH is
sufficient to ensure completion of TLB maintenance instructions that apply to a single
PE", and only those.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.assumptions import assumptions
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _message_passing(barrier: str) -> str:
    b = Builder()
    b.system(pes=2)
    b.page("P", "X Y")
    b.host_type("X", DEVICE)  # no cache steps: the question is only the order of the two stores
    b.host_type("Y", DEVICE)
    b.host("writer", f"STR X, 1\n{barrier}\nSTR Y, 1", pe=0)
    b.host("reader", "AWAIT Y, 1\nDMB SY\nLDR r1, X", pe=1)
    b.bad_when(lambda v: v.done("reader") and v.reg("reader", "r1") == 0, "the reader sees Y before X")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("barrier", "expect"),
    [
        ("DMB ISH", "unreachable"),
        ("DMB ISHST", "unreachable"),
        ("DMB NSH", "reachable"),
        ("DMB NSHST", "reachable"),
        ("DSB SY", "unreachable"),
        ("DSB NSH", "reachable"),
        ("DSB NSHST", "reachable"),
    ],
)
def test_a_non_shareable_barrier_orders_nothing_for_another_pe(barrier: str, expect: str) -> None:
    assert _message_passing(barrier) == expect


def _assumed(program: str, device: bool, pes: int = 2) -> list[str]:
    b = Builder()
    b.system(pes=pes)
    b.page("P", "X")
    b.host("cpu", program)
    if pes > 1:
        b.host("other", "LDR r1, X", pe=1)
    if device:
        b.device("dma", "LDR r1, X")
    b.bad_when(lambda v: False, "nothing")
    machine = Machine(b.build())
    check(machine)
    return [a for a in assumptions(machine) if "shareability domains" in a]


def test_the_domains_are_printed_where_a_dma_master_can_see_them() -> None:
    assert _assumed("STR X, 1\nDMB ISH", device=False) == []  # PEs: one Inner Shareable domain
    assert _assumed("STR X, 1\nDMB NSH", device=False) == []
    [dev] = _assumed("STR X, 1\nDMB OSHST", device=True, pes=1)
    assert "DMB OSHST" in dev and "B2.6.10" in dev and "Stronger than the Arm ARM" in dev
    [dev] = _assumed("STR X, 1\nDSB SY", device=True)
    assert "here:" not in dev  # no barrier that names a domain


def _local_tlbi(barrier: str, broadcast: bool) -> str:
    """Unmap V, invalidate the TLB, complete with ``barrier``, then read V again."""
    b = Builder()
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("PA", "A")
    b.host_type("A", DEVICE)
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("PA", attr="device"), A=1)
    tlbi = "VAE1IS" if broadcast else "VAE1"
    b.host("cpu", f"STR l3e, 0\nDSB ISH\nTLBI {tlbi}, V\n{barrier}\nISB\nLDR r1, V")
    b.translate("cpu", "k")
    b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") == 1, "V still maps the page")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("barrier", "broadcast", "expect"),
    [("DSB NSH", False, "unreachable"), ("DSB NSH", True, "reachable"), ("DSB ISH", True, "unreachable")],
)
def test_a_dsb_nsh_completes_only_local_tlb_maintenance(barrier: str, broadcast: bool, expect: str) -> None:
    assert _local_tlbi(barrier, broadcast) == expect
