"""Issue 11, item 5 (the part that is modelled) and the assumption printed for the rest.

B2.6.10 Shareability and access limitations on the data barrier operations: a DMB or
DSB takes "The shareability domain over which the instruction must operate. This is one
of: Full system. Outer Shareable. Inner Shareable. Non-shareable."  A Non-shareable DMB
orders nothing for another PE; the old model ordered it like DMB SY, so a message
passed with DMB NSH came out "unreachable".
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
    ],
)
def test_a_non_shareable_dmb_orders_nothing_for_another_pe(barrier: str, expect: str) -> None:
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
    return [a for a in assumptions(machine) if "system-wide" in a]


def test_the_widened_domains_are_printed_where_they_can_change_a_verdict() -> None:
    assert _assumed("STR X, 1\nDMB ISH", device=False) == []  # PEs: one Inner Shareable domain
    assert _assumed("STR X, 1\nDMB NSH", device=False) == []  # modelled exactly (no marker)
    [dsb_nsh] = _assumed("STR X, 1\nDSB NSH", device=False)
    assert "DSB NSH act like SY" in dsb_nsh
    [dev] = _assumed("STR X, 1\nDMB OSHST", device=True, pes=1)
    assert "DMB OSHST" in dev and "B2.6.10" in dev
    assert _assumed("STR X, 1\nDSB SY", device=True) == []
