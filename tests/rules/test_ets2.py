"""Issue 11, item 9: FEAT_ETS2 fully (B2.3.7 Ordering relations).

ETS-ordered-before: "An Effect E1 is ETS-ordered-before an Effect E2 if ... FEAT_ETS2
is implemented; E1 is an Explicit Memory Effect; E1 appears in program order before E3;
E3 is a TLBUncacheable Fault Effect; E2 is Translation-intrinsically-before E3; E2 is an
Implicit TTD Memory Read Effect."  "It also does not apply when E2 is an Implicit TTD
Memory Read Effect generated for an instruction fetch."

DSB-ordered-before, FEAT_ETS2 clauses: an Explicit Memory Write Effect before a DSB ST
(a Memory Effect before a DSB FULL) is ordered before a later "Implicit TTD Memory
Effect"; a DSB LD orders only earlier Explicit Memory Read Effects.

The old model let ETS2 act only at a DSB (any DSB, DSB LD included): a load right after
a page-table store, with no barrier, could still fault from the old entry, and a reader
on another PE could fault after reading the flag that published the entry.
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _map_then_read(between: str, ets2: bool) -> str:
    """One PE makes an invalid entry valid, then reads through it (seed 003's shape)."""
    b = Builder()
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("MMIO", "DEV")
    b.host_type("DEV", DEVICE)
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=0, DEV=5)
    b.host("cpu", f"STR l3e, {b.page_desc('MMIO', attr='device')}\n{between}LDR r1, V")
    b.fetch(ets2=ets2)
    b.translate("cpu", "k")
    b.bad_when(lambda v: v.fault("cpu") != 0, "the load faults on the entry just made valid")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize("between", ["", "ISB\n", "DSB LD\n", "DSB ISHST\n"])
def test_ets2_orders_an_earlier_store_before_a_faulting_walk_without_a_barrier(between: str) -> None:
    assert _map_then_read(between, ets2=False) == "reachable"
    assert _map_then_read(between, ets2=True) == "unreachable"


def _publish_then_read(ets2: bool) -> str:
    """The writer maps V and then publishes a flag; the reader polls the flag, then reads V."""
    b = Builder()
    b.system(pes=2)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("MMIO", "DEV")
    b.page("F", "flag")
    b.host_type("DEV", DEVICE)
    b.host_type("flag", DEVICE)
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=0, DEV=5)
    b.host("writer", f"STR l3e, {b.page_desc('MMIO', attr='device')}\nDMB ISHST\nSTR flag, 1", pe=0)
    b.host("reader", "AWAIT flag, 1\nLDR r1, V", pe=1)
    b.fetch(ets2=ets2)
    b.translate("reader", "k")
    b.bad_when(lambda v: v.fault("reader") != 0, "the reader faults after seeing the flag")
    return check(Machine(b.build())).outcome.value


def test_ets2_orders_the_walk_after_the_flag_read_across_pes() -> None:
    assert _publish_then_read(ets2=False) == "reachable"  # walked ahead of the flag read
    assert _publish_then_read(ets2=True) == "unreachable"


def _remap_code(tail: str, ets2: bool) -> str:
    """Item 7 too: break-before-make on the entry that maps the next code page; the PE
    then runs that code.  An early fetch may record the fault of the broken entry."""
    b = Builder()
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("PA", "CA")
    b.page("PB", "CB")
    b.host_type("CA", DEVICE)  # no data-cache steps on the code pages: a smaller search
    b.host_type("CB", DEVICE)
    b.regime("k", root="L2T", levels=(2, 3), vas={"CODE": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("PA"), CA=1, CB=2)
    bbm = f"STR l3e, 0\nDSB ISH\nTLBI VAE1, CODE\nDSB ISH\nSTR l3e, {b.page_desc('PB')}\n"
    b.host("cpu", f"{bbm}{tail}EXEC r1, CODE")
    b.fetch(ets2=ets2)
    b.translate("cpu", "k")
    b.bad_when(lambda v: v.fault("cpu") != 0, "an instruction abort on code that is mapped")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("tail", "ets2", "expect"),
    [
        ("DSB ISH\n", False, "reachable"),  # the early fetch faulted during the break
        ("DSB ISH\nISB\n", False, "unreachable"),  # the ISB discards what was fetched ahead
        ("DSB ISH\n", True, "unreachable"),  # ETS2: the DSB orders the store before the fetch's walk
        ("DSB ISHST\n", True, "unreachable"),  # a DSB ST orders earlier writes too
        ("DSB ISHLD\n", True, "reachable"),  # a DSB LD orders only earlier reads
        ("", True, "reachable"),  # ETS-ordered-before does not cover fetches
    ],
)
def test_early_instruction_fetch_records_a_translation_fault(tail: str, ets2: bool, expect: str) -> None:
    assert _remap_code(tail, ets2) == expect
