"""Issue 11, item 12 (second half): a misprogrammed Contiguous bit.

D8.7.1.1 R_QTRPM: "if one or more of the contiguous translation table entries does not
have the Contiguous bit set to 1, then this is misprogramming of the Contiguous bit, and a
TLB might contain overlapping entries."  R_NGLXZ: a lookup in such a range "is permitted to
produce one of the following: An OA, access permissions, and memory attributes that are
consistent with any of the programmed translation table values. If BBM support levels 1
and 2 are not implemented, then an OA, access permissions, or memory attributes that are
inconsistent with any of the programmed translation table values. ... A TLB conflict
abort."  D8.7.1.2 R_MWFWF bounds it: regions a correctly programmed range cannot reach
stay unreachable.

The old model gave a misprogrammed range's input only its own entry's value or the value
extrapolated from a neighbour, never an output no entry gives it: below, V2 reading the
page V1 maps (page PA0, extrapolation would give PA1) came out unreachable.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _read_range(v2_contig: bool) -> str:
    """V1 and V2 form one contiguous range (2 entries) mapping PA0 and PA1; V1's entry has
    the Contiguous bit, V2's has it only if ``v2_contig``.  Read V1, then V2."""
    b = Builder()
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:e1,e2")
    for page, line in (("PA0", "A0"), ("PA1", "A1")):
        b.page(page, line)
        b.host_type(line, DEVICE)  # no data-cache steps on the data pages
    b.regime("k", root="L2T", levels=(2, 3), vas={"V1": (0, 0), "V2": (0, 1)}, contig=2)
    b.init(
        l2e=b.table_desc("L3T"),
        e1=b.page_desc("PA0", attr="device", contig=True),
        e2=b.page_desc("PA1", attr="device", contig=v2_contig),
        A0=1,
        A1=2,
    )
    b.host("cpu", "LDR r1, V1\nLDR r2, V2")
    b.translate("cpu", "k")
    b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r2") == 1, "V2 reads V1's page PA0")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(("v2_contig", "expect"), [(False, "reachable"), (True, "unreachable")])
def test_a_misprogrammed_range_may_give_an_output_no_entry_gives(v2_contig: bool, expect: str) -> None:
    assert _read_range(v2_contig) == expect


def test_the_misprogrammed_results_are_bounded_by_the_range() -> None:
    """R_MWFWF: only outputs a correctly programmed range could give (an entry's own page
    or one extrapolated across the range), with the bits of one of the entries."""
    from stalecheck.machine import tlb
    from stalecheck.machine.translation import CONTIG, OA_SHIFT, page_desc

    e1 = page_desc(0, attr="device", contig=True)
    e2 = page_desc(1, attr="wb", ro=True)
    got = tlb.misprogrammed([(0, (e2,)), (-1, (e1,))], CONTIG, OA_SHIFT, n_pages=4)
    low = (1 << OA_SHIFT) - 1
    assert {r >> OA_SHIFT for r in got} == {0, 1}  # PA0 (e1 as is) and PA1 (own, extrapolated)
    assert {r & low for r in got} == {e1 & low, e2 & low}
    assert tlb.misprogrammed([(0, (e1,)), (-1, (e1 + (1 << OA_SHIFT),))], CONTIG, OA_SHIFT, 4) == set()
