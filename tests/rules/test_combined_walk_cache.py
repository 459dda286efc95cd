"""Issue 11, item 6 (second half): a guest's walk cache may hold a table's PA.

D8.17 R_RRVJDB: "For the purpose of TLB maintenance, a TLB entry is any structure that
holds a translation table entry, including intermediate TLB caching structures".
D8.17.6.1: "TLBI IPAS2E1, Xt; DSB; TLBI VALE1, Xt2" is the sequence "required to
invalidate all cached copies of the stage 2 translations of the IPA ... used to translate
the IPA produced by the last level of stage 1 translation table lookup"; the stage-2
translation of a stage-1 *table's* IPA needs "TLBI IPAS2E1, Xt; DSB; TLBI VAE1, Xt2" (or
VMALLE1).  So a walk-cache entry may hold a Table descriptor combined with the stage-2
translation of the next table (its PA), and that entry survives IPAS2E1 and VALE1.

The old walk cache held the next table's IPA only, so the walk always translated the
table's IPA again through stage 2 and met the new mapping: a stale table could not be
walked after IPAS2E1 + VALE1.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _move_table(stage1_tlbi: str) -> str:
    """The hypervisor moves the guest's level-3 table (IPA page GT3) from PA page TOLD to
    TNEW, whose entry maps V to another data page, invalidates the stage-2 entry of GT3
    and the stage-1 entry of V with ``stage1_tlbi``, then V is read through the guest's
    stage 1.  Bad: V still reads through the old table."""
    b = Builder()
    b.system(pes=1)
    b.page("S2T", "S2L3:s2g2,s2gt3,s2da,s2db")  # the stage-2 table, one level
    b.page("G2P", "G2:g2e")  # the guest's level-2 table (IPA = PA)
    b.page("GT3", "G3:g3ipa")  # the IPA page of the guest's level-3 table
    b.page("TOLD", "TO:toe")  # its PA before the move
    b.page("TNEW", "TN:tne")  # and after
    b.page("DA", "A")
    b.page("DB", "B")
    for line in ("S2L3", "G2", "G3", "TO", "TN", "A", "B"):  # no data-cache steps
        b.host_type(line, DEVICE)
    b.regime("s2", root="S2L3", levels=(3,), stage=2, vas={"G2P": (0,), "GT3": (1,), "DA": (2,), "DB": (3,)})
    b.regime("g", root="G2", levels=(2, 3), vas={"V": (0, 0)}, s2="s2")
    b.init(
        s2g2=b.page_desc("G2P"),
        s2gt3=b.page_desc("TOLD"),
        s2da=b.page_desc("DA", attr="device"),
        s2db=b.page_desc("DB", attr="device"),
        g2e=b.table_desc("G3"),
        toe=b.page_desc("DA", attr="device"),
        tne=b.page_desc("DB", attr="device"),
        A=1,
        B=2,
    )
    new = b.page_desc("TNEW")
    b.host(
        "cpu",
        f"LDR r0, V\nSTR s2gt3, {new}\nDSB ISH\nTLBI IPAS2E1, GT3\nDSB NSH\n"
        f"TLBI {stage1_tlbi}, V\nDSB NSH\nISB\nLDR r1, V",
    )
    b.translate("cpu", "g")
    b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") == 1, "V reads through the moved table")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(("stage1_tlbi", "expect"), [("VALE1", "reachable"), ("VAE1", "unreachable")])
def test_a_combined_table_entry_survives_ipas2e1_and_a_last_level_tlbi(stage1_tlbi: str, expect: str) -> None:
    assert _move_table(stage1_tlbi) == expect
