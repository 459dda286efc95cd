"""Seed 004 (kvm-guest-faults-icache), today's policy (kvm-stage2-map-modern), and the
code-modification sequence with each of its broken shortenings."""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine import ifetch
from stalecheck.machine.system import Machine
from stalecheck.report.witness_text import step_text
from stalecheck.runner import load_scenario
from stalecheck.scenarios.builder import Builder
from tests.conftest import Explored

ICACHE = load_scenario("kvm-guest-faults-icache")
MODERN = load_scenario("kvm-stage2-map-modern")

@pytest.mark.parametrize("name", sorted(MODERN.variants))
def test_modern_policy_closes_every_configuration(name: str, explored: Explored) -> None:
    result = explored(MODERN.name, name)
    assert result.outcome == "unreachable"
    assert result.cost["traps"] >= 1


def test_modern_policy_costs_follow_fwb_and_dic(explored: Explored) -> None:
    """No D-cache maintenance under FWB, no I-cache maintenance under DIC."""
    cost = {n: explored(MODERN.name, n).cost for n in MODERN.variants}
    assert cost["fwb-dic"]["cmos"] == 0
    assert cost["pipt-dic"]["cmos"] < cost["pipt"]["cmos"]
    assert cost["fwb"]["cmos"] < cost["swap-in"]["cmos"]


def test_vipt_per_page_witness_shows_the_other_alias(explored: Explored) -> None:
    steps = [step_text(s) for s in explored(ICACHE.name, "vipt-inval-page").steps]
    inval = next(s for s in steps if "IC IVAU C completes" in s)
    assert "(alias 1)" in inval and "C(alias 0)=9" in inval
    assert "executes code version 9" in steps[-1]


def test_mark_dirty_has_the_same_maintenance_as_no_clean(explored: Explored) -> None:
    """The 2012 workaround issues no CMO: its cost equals the buggy policy's."""
    dirty = explored(ICACHE.name, "swap-in-mark-dirty")
    plain = explored(ICACHE.name, "swap-in-no-clean")
    assert dirty.cost == plain.cost
    assert dirty.verdict.steps == plain.verdict.steps


# ---- the code-modification sequence (host code, one PE) ------------------------------------

FULL = "STR C, 2\nDC CVAU C\nDSB ISH\nIC IVAU C\nDSB ISH\nISB\nEXEC r1, C"


def _modify(code: str, icache: str = "pipt", idc: bool = False, dic: bool = False) -> str:
    b = Builder()
    b.system(pes=1, l2=True, louu=1, loc=2)
    b.page("P", "C")
    b.init(C=1)
    b.fetch(icache=icache, idc=idc, dic=dic, host_colour=0)
    b.icache_holds(0, "C", 1, colour=0)
    b.host("cpu", code)
    b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") != 2, "runs the old code")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("code", "kw", "expect"),
    [
        (FULL, {}, "unreachable"),
        (FULL, {"icache": "vipt"}, "unreachable"),
        (FULL.replace("\nISB", ""), {}, "reachable"),  # fetched ahead of the IC
        (FULL.replace("DC CVAU C\nDSB ISH\n", "DC CVAU C\n"), {}, "reachable"),  # IC before the clean
        (FULL.replace("DC CVAU C\nDSB ISH\n", ""), {}, "reachable"),  # no clean
        (FULL.replace("IC IVAU C\nDSB ISH\n", ""), {}, "reachable"),  # no invalidate
        (FULL.replace("IC IVAU C\nDSB ISH", "IC IVAU C\nDSB ISHST"), {}, "reachable"),  # ST completes no IC
        # IDC=1 drops the clean but not the DSB that orders the store before the IC
        (FULL.replace("DC CVAU C\n", ""), {"idc": True}, "unreachable"),
        (FULL.replace("DC CVAU C\nDSB ISH\n", ""), {"idc": True}, "reachable"),
        # DIC=1 requires IDC=1 (D24.2.42 CTR_EL0): neither clean nor invalidate is needed
        (FULL.replace("IC IVAU C\nDSB ISH\n", ""), {"idc": True, "dic": True}, "unreachable"),
    ],
)
def test_code_modification_sequence(code: str, kw: dict[str, object], expect: str) -> None:
    assert _modify(code, **kw) == expect  # type: ignore[arg-type]


def test_ifetch_invalidate_by_va_reaches_one_alias_on_vipt_only() -> None:
    ic = ifetch.fill(ifetch.fill((), 0, 3, (7,)), 1, 3, (7,))
    assert ifetch.invalidate_va(ic, ifetch.VIPT, 1, 3) == ((0, 3, (7,)),)
    assert ifetch.invalidate_va(ic, ifetch.PIPT, 0, 3) == ()
    assert ifetch.tag_for(ifetch.VIVT, 1, 2) != ifetch.tag_for(ifetch.VIVT, 1, 1)
