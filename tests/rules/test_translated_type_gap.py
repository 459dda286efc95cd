"""What the translated paths leave out is printed, never silent.

D7.5.5: "When the value of SCTLR_EL1.C is 0: All stage 1 translations for data accesses
to Normal memory are Non-cacheable. All accesses to the EL1&0 stage 1 translation tables
are Non-cacheable." and "When the value of HCR_EL2.CD is 1: ... All accesses to the EL1&0
stage 2 translation tables are Non-cacheable."  D8.6.3: a stage-1 walk's table access is
translated by stage 2, whose attributes combine with the walk's.  The model takes a
translated access's type from its descriptors and a walk's from the regime alone, so
where a scenario may meet these rules the verdict says that the model is stronger.
"""

from __future__ import annotations

import dataclasses

from stalecheck.machine.assumptions import assumptions
from stalecheck.machine.system import Machine
from tests.machine.translated_systems import guest_system, host_system

GAP = "Model: translated accesses and walks take their cacheability from the descriptors"


def _gap(m: Machine) -> list[str]:
    return [a for a in assumptions(m) if a.startswith(GAP)]


def test_a_write_back_guest_prints_nothing() -> None:
    assert _gap(Machine(guest_system([], "wb", "wb", "wb", 2, False))) == []
    assert _gap(Machine(host_system([], [], [], "wb", "nc", 2))) == []  # one stage: no table page at stage 2


def test_a_stage_1_table_page_mapped_non_cacheable_at_stage_2_is_printed() -> None:
    (text,) = _gap(Machine(guest_system([], "wb", "nc", "wb", 2, False)))
    assert "D8.6.3" in text and "stage-1 table page may be mapped Non-cacheable" in text


def test_sctlr_c_0_under_translation_is_printed() -> None:
    spec = guest_system([], "wb", "wb", "wb", 2, False)
    threads = tuple(dataclasses.replace(t, sctlr=(1, 0, 1)) for t in spec.threads)
    (text,) = _gap(Machine(dataclasses.replace(spec, threads=threads)))
    assert "D7.5.5" in text and "cpu may run with SCTLR_EL1.C=0" in text
