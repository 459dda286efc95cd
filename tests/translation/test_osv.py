"""Seed 003 (osv-pte-barriers): every variant's verdict comes from exploring."""

from __future__ import annotations

import pytest

from stalecheck.report.witness_text import step_text
from stalecheck.runner import load_scenario, run_variant
from stalecheck.scenarios.osv_pte_barriers import ESR_L3_TRANSLATION, ESR_TLB_CONFLICT

SC = load_scenario("osv-pte-barriers")

EXPECTED = {
    "no-barriers": "reachable",
    "dsb-only": "reachable",
    "dsb-only-ets2": "unreachable",
    "isb-only": "reachable",
    "dsb-isb": "unreachable",
    "spurious-fault-retry": "unreachable",
    "no-barriers-retry": "reachable",
    "break-before-make": "unreachable",
    "make-before-break": "reachable",
}


def test_every_variant_is_covered() -> None:
    assert set(SC.variants) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_variant_verdict(name: str) -> None:
    result = run_variant(SC, SC.variants[name])
    assert result.outcome == EXPECTED[name]
    assert result.expect == EXPECTED[name]


def test_no_barriers_faults_with_the_seeds_esr() -> None:
    steps = run_variant(SC, SC.variants["no-barriers"]).steps
    assert steps[-1].effect.fault.startswith(f"ESR=0x{ESR_L3_TRANSLATION:08X}")


def test_dsb_only_witness_shows_the_early_translation() -> None:
    """Why the ISB is needed: the access was translated before the DSB made the PTE
    store visible, and the stale (faulting) result was used after it."""
    steps = [step_text(s) for s in run_variant(SC, SC.variants["dsb-only"]).steps]
    early = next(i for i, s in enumerate(steps) if "ahead of time" in s and "translation fault" in s)
    completes = next(i for i, s in enumerate(steps) if "STR l3e" in s and "completes" in s)
    dsb = next(i for i, s in enumerate(steps) if "DSB ISHST" in s)
    assert early < completes < dsb
    assert "translation made ahead of time" in steps[-1]
    assert f"ESR=0x{ESR_L3_TRANSLATION:08X}" in steps[-1]


def test_make_before_break_takes_a_tlb_conflict_abort() -> None:
    steps = [step_text(s) for s in run_variant(SC, SC.variants["make-before-break"]).steps]
    assert f"ESR=0x{ESR_TLB_CONFLICT:08X}" in steps[-1]
    assert "PA" in steps[-1] and "PB" in steps[-1]


def test_assumptions_name_ets2() -> None:
    off = run_variant(SC, SC.variants["dsb-only"]).assumptions
    on = run_variant(SC, SC.variants["dsb-only-ets2"]).assumptions
    assert any("FEAT_ETS2 not implemented" in a for a in off)
    assert any("FEAT_ETS2 implemented" in a for a in on)
