"""Seed 003 (osv-pte-barriers): what the witnesses and assumptions show.

Each variant's verdict against its prediction is in ``tests/scenarios/test_bundled_verdicts.py``.
"""

from __future__ import annotations

from stalecheck.report.witness_text import step_text
from stalecheck.scenarios.osv_pte_barriers import ESR_L3_TRANSLATION, ESR_TLB_CONFLICT
from tests.conftest import Explored

OSV = "osv-pte-barriers"


def test_no_barriers_faults_with_the_seeds_esr(explored: Explored) -> None:
    steps = explored(OSV, "no-barriers").steps
    assert steps[-1].effect.fault.startswith(f"ESR=0x{ESR_L3_TRANSLATION:08X}")


def test_dsb_only_witness_shows_the_early_translation(explored: Explored) -> None:
    """Why the ISB is needed: the access was translated before the DSB made the PTE
    store visible, and the stale (faulting) result was used after it."""
    steps = [step_text(s) for s in explored(OSV, "dsb-only").steps]
    early = next(i for i, s in enumerate(steps) if "ahead of time" in s and "translation fault" in s)
    completes = next(i for i, s in enumerate(steps) if "STR l3e" in s and "completes" in s)
    dsb = next(i for i, s in enumerate(steps) if "DSB ISHST" in s)
    assert early < completes < dsb
    assert "translation made ahead of time" in steps[-1]
    assert f"ESR=0x{ESR_L3_TRANSLATION:08X}" in steps[-1]


def test_make_before_break_takes_a_tlb_conflict_abort(explored: Explored) -> None:
    steps = [step_text(s) for s in explored(OSV, "make-before-break").steps]
    assert f"ESR=0x{ESR_TLB_CONFLICT:08X}" in steps[-1]
    assert "PA" in steps[-1] and "PB" in steps[-1]


def test_assumptions_name_ets2(explored: Explored) -> None:
    off = explored(OSV, "dsb-only").assumptions
    on = explored(OSV, "dsb-only-ets2").assumptions
    assert any("FEAT_ETS2 not implemented" in a for a in off)
    assert any("FEAT_ETS2 implemented" in a for a in on)
