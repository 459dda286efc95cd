"""Issue 11, item 6: walk caches and combined stage 1+2 entries.

D8.17 R_RRVJDB: "For the purpose of TLB maintenance, a TLB entry is any structure that
holds a translation table entry, including intermediate TLB caching structures".
D8.17 I_RTRQB: last-level TLB invalidation avoids "unnecessary loss of the cached
intermediate translation table entries", so a TLBI VALE1 may leave a cached Table entry.
D8.17.6.1: "TLBI IPAS2E1, Xt; DSB; TLBI VMALLE1" is "required to invalidate all cached
copies of the stage 2 translation of the IPA".

The old TLB held whole per-stage leaf translations only: freeing a table after a
leaf-only TLBI, and remapping an IPA with TLBI IPAS2E1 alone, both came out safe.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _reuse_freed_table(tlbi: str) -> str:
    """Unmap V by clearing its level-2 entry, invalidate, then reuse the old level-3
    table's line for something that reads as an entry mapping the secret page."""
    b = Builder()
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("PA", "A")
    b.page("PS", "S")
    b.host_type("A", DEVICE)  # no data-cache steps on the data pages
    b.host_type("S", DEVICE)
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("PA", attr="device"), A=1, S=2)
    reuse = b.page_desc("PS", attr="device")
    b.host("cpu", f"STR l2e, 0\nDSB ISH\nTLBI {tlbi}, V\nDSB ISH\nSTR l3e, {reuse}\nDSB ISH\nISB\nLDR r1, V")
    b.translate("cpu", "k")
    b.bad_when(lambda v: v.reg("cpu", "r1") == 2, "V, unmapped, reads the secret through the freed table")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(("tlbi", "expect"), [("VALE1IS", "reachable"), ("VAE1IS", "unreachable")])
def test_a_leaf_only_tlbi_leaves_the_walk_cache(tlbi: str, expect: str) -> None:
    assert _reuse_freed_table(tlbi) == expect


def _remap_ipa(vmalle1: bool) -> str:
    """The hypervisor moves the guest's IPA page IP from PA to PB, on the PE the vCPU runs
    on; then V, which the guest's stage 1 maps to IP, is read.  (No break-before-make: a
    TLB conflict abort is not the bad state, and the read comes after the maintenance.)"""
    b = Builder()
    b.system(pes=1)
    b.page("S2T", "S2L3:s2pt,s2ip")  # the stage-2 table (hypervisor memory), one level
    b.page("GPT", "G3:g3e")  # the guest's stage-1 table, one level
    b.page("IP", "IPL")  # the IPA page V maps to
    b.page("PA", "A")
    b.page("PB", "B")
    for line in ("S2L3", "G3", "A", "B"):  # no data-cache steps: a smaller search
        b.host_type(line, DEVICE)
    b.regime("s2", root="S2L3", levels=(3,), vas={"GPT": (0,), "IP": (1,)}, stage=2)
    b.regime("g", root="G3", levels=(3,), vas={"V": (0,)}, s2="s2")
    b.init(
        s2pt=b.page_desc("GPT"),
        s2ip=b.page_desc("PA", attr="device"),
        g3e=b.page_desc("IP", attr="device"),
        A=1,
        B=2,
    )
    flush = "TLBI VMALLE1\nDSB NSH\n" if vmalle1 else ""
    new = b.page_desc("PB", attr="device")
    b.host("cpu", f"STR s2ip, {new}\nDSB ISH\nTLBI IPAS2E1, IP\nDSB NSH\n{flush}ISB\nLDR r1, V")
    b.translate("cpu", "g")
    b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") == 1, "V reads the old page")
    return check(Machine(b.build())).outcome.value


def test_a_combined_entry_survives_tlbi_ipas2e1_without_vmalle1() -> None:
    assert _remap_ipa(vmalle1=False) == "reachable"
    assert _remap_ipa(vmalle1=True) == "unreachable"


def _move_table_without_break(tlbi: str) -> str:
    """Point V's level-2 entry at another level-3 table (mapping V to the same page, so no
    two different leaf entries can meet) without invalidating the old table entry, then
    invalidate with ``tlbi`` and read V.  D8.17.1 I_HYQMB: without break-before-make "a TLB
    conflict abort can be generated because in a TLB there might be multiple translation
    table entries that all translate the same IA. For Table descriptors, this also applies
    to intermediate TLB caching structures."  VALE1 leaves the old table entry (I_RTRQB)."""
    b = Builder()
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3A:a3e L3B:b3e")
    b.page("PA", "A")
    b.page("PB", "B")
    b.host_type("A", DEVICE)
    b.host_type("B", DEVICE)
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
    b.init(
        l2e=b.table_desc("L3A"),
        a3e=b.page_desc("PA", attr="device"),
        b3e=b.page_desc("PA", attr="device"),
        A=1,
        B=2,
    )
    move = f"STR l2e, {b.table_desc('L3B')}\nDSB ISH\nTLBI {tlbi}, V\nDSB ISH\nISB"
    b.host("cpu", f"LDR r0, V\n{move}\nLDR r1, V")
    b.translate("cpu", "k")
    b.bad_when(lambda v: v.fault("cpu") != 0, "V takes an abort after the tables were changed")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(("tlbi", "expect"), [("VALE1", "reachable"), ("VAE1", "unreachable")])
def test_two_walk_cache_entries_for_one_input_may_give_a_tlb_conflict_abort(tlbi: str, expect: str) -> None:
    assert _move_table_without_break(tlbi) == expect
