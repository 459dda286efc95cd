"""Issue 11, item 12: the Contiguous bit and its break-before-make rule.

D8.7.1 The Contiguous bit (R_RCBXXM): a Page descriptor with the Contiguous bit "is
permitted to be cached in a TLB as though it is one of a number of adjacent translation
table entries that point to a contiguous OA range with consistent attributes and
permissions".  So a walk of one entry of the range may fill the TLB for its neighbours,
and changing the range one entry at a time leaves a window where a neighbour's entry is
cached from a descriptor that has not been changed yet.  The old model had no Contiguous
bit: each entry was cached from its own walk only.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _move_range(one_at_a_time: bool) -> str:
    """Move the contiguous range V1, V2 from pages PA0, PA1 to PB0, PB1, then read V2."""
    b = Builder()
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:e1,e2")
    for page, line in (("PA0", "A0"), ("PA1", "A1"), ("PB0", "B0"), ("PB1", "B1")):
        b.page(page, line)
        b.host_type(line, DEVICE)  # no data-cache steps on the data pages
    b.regime("k", root="L2T", levels=(2, 3), vas={"V1": (0, 0), "V2": (0, 1)}, contig=2)

    def pte(page: str) -> int:
        return b.page_desc(page, attr="device", contig=True)

    b.init(l2e=b.table_desc("L3T"), e1=pte("PA0"), e2=pte("PA1"), A0=1, A1=2, B0=3, B1=4)
    if one_at_a_time:  # break-before-make on each entry alone, V2 first
        move = (
            f"STR e2, 0\nDSB ISH\nTLBI VAE1, V2\nDSB ISH\nSTR e2, {pte('PB1')}\nDSB ISH\n"
            f"STR e1, 0\nDSB ISH\nTLBI VAE1, V1\nDSB ISH\nSTR e1, {pte('PB0')}\nDSB ISH\n"
        )
    else:  # break the whole range, invalidate every entry of it, then make
        move = (
            f"STR e1, 0\nSTR e2, 0\nDSB ISH\nTLBI VAE1, V1\nTLBI VAE1, V2\nDSB ISH\n"
            f"STR e1, {pte('PB0')}\nSTR e2, {pte('PB1')}\nDSB ISH\n"
        )
    b.host("cpu", f"{move}ISB\nLDR r1, V2")
    b.translate("cpu", "k")
    b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") == 2, "V2 still reads the old page PA1")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(("one_at_a_time", "expect"), [(True, "reachable"), (False, "unreachable")])
def test_a_contiguous_range_needs_break_before_make_as_a_whole(one_at_a_time: bool, expect: str) -> None:
    assert _move_range(one_at_a_time) == expect
