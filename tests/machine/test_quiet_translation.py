"""The quiet-line reduction under the translation model (``machine/reduction.py``).

B2.11 Mismatched memory attributes: "Any agent that reads that memory Location using
the same common definition of the Memory type, Shareability and Cacheability attributes
is guaranteed to access it coherently".  D8.2 R_XGXKR: "When memory locations that hold
the translation tables are accessed by software, and the memory accesses and the
translation table walks have mismatched memory attributes, the behavior is the same as
different memory accesses to same memory location using mismatched memory attributes."

So a line every access and every walk reaches cacheably reads ``coherent_value``
whatever its copies, and its spontaneous fills, drops and write-backs are not explored.
A line reached non-cacheably (a NC leaf, a NC walk, a fetch past L1) is not quiet; where
the static pass cannot see the type (a descriptor a policy writes), the run refuses
instead of answering.  Reduced and unreduced searches agree on random translated systems
and on every bundled variant that uses translation.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings

from stalecheck.errors import ScenarioError
from stalecheck.explore.search import Budget, check
from stalecheck.explore.verdict import Outcome, Verdict
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario
from stalecheck.scenarios import registry
from tests.machine.translated_systems import guest_system, host_system, translated_systems
from tests.machine.util import quiet_agrees
from tests.tally import Tally

SMALL = 20_000


def _quiet(spec: SystemSpec, on: bool) -> Machine:
    options = dataclasses.replace(spec.options, quiet_coherent_lines=on)
    return Machine(dataclasses.replace(spec, options=options))


def _check(spec: SystemSpec, on: bool, budget: Budget = Budget(max_states=SMALL)) -> Verdict:
    m = _quiet(spec, on)
    return check(m, budget, sanity=m.is_complete)


def _names(m: Machine) -> set[str]:
    return {m.lines[line].name for line in m.quiet}


def test_write_back_tables_and_data_are_quiet_under_translation() -> None:
    """Every leaf Write-Back and every walk Write-Back: tables and data are quiet, and the
    search is smaller with the same verdict."""
    spec = host_system([], [], [], "wb", "wb", 2)
    assert _names(_quiet(spec, True)) == {"L2T", "L3T", "X", "DATA"}
    full, reduced = _check(spec, False), _check(spec, True)
    assert full.outcome == reduced.outcome == Outcome.UNREACHABLE
    assert reduced.states < full.states


def test_a_non_cacheable_leaf_makes_its_page_loud() -> None:
    """A program stores a NC leaf: the page it maps is accessed Non-cacheably (D8.6), so
    its lines keep their spontaneous steps; the tables stay quiet."""
    m = _quiet(host_system([], [], [], "wb", "nc", 2), True)
    assert "DATA" not in _names(m)
    assert {"L2T", "L3T"} <= _names(m)


def test_with_two_stages_a_non_cacheable_leaf_makes_every_output_page_loud() -> None:
    """D8.6.3: a NC stage-1 leaf combines with whatever stage 2 gives, so any page a
    descriptor outputs may be accessed NC."""
    m = _quiet(guest_system([], "nc", "wb", "wb", 2, False), True)
    assert not {"DATA", "G3"} & _names(m)


def test_a_non_cacheable_walk_turns_the_reduction_off() -> None:
    """TCR_ELx.IRGN/ORGN Non-cacheable (D7.5.3): the walk may read past the caches, so
    write-backs change what it reads (D8.2 R_XGXKR)."""
    assert _quiet(host_system([], [], [], "nc", "wb", 2), True).quiet == frozenset()


def test_a_descriptor_only_the_run_reveals_is_refused_not_hidden() -> None:
    """The stage-2 fault policy maps the data page Non-cacheable: the static pass cannot
    see that descriptor, the page was reduced as quiet, and the NC access through it is
    refused; without the reduction the stale read is found."""
    spec = guest_system([], "wb", "wb", "nc", 2, False)
    assert "DATA" in _names(_quiet(spec, True))
    assert _check(spec, False).outcome == Outcome.REACHABLE
    with pytest.raises(ScenarioError, match="quiet_coherent_lines"):
        _check(spec, True)


def test_a_non_cacheable_walk_of_a_quiet_line_is_refused() -> None:
    """The walker's own check (whatever made the line quiet): a NC walk that reads a quiet
    table line refuses rather than miss a write-back it would have seen."""
    m = _quiet(host_system([], [], [], "nc", "wb", 2), True)
    m.access.quiet = frozenset({m.line_of("L3T")})
    with pytest.raises(ScenarioError, match="table walk"):
        check(m, Budget(max_states=SMALL))


def test_random_translated_systems_get_the_same_verdict() -> None:
    """Reduced and unreduced searches: the same outcome and shortest witness length, never
    more states; a refused system counts as not answered, and most must be answered."""
    tally = Tally()

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(translated_systems())
    def run(spec: SystemSpec) -> None:
        quiet_agrees(_check, spec, tally)

    run()
    tally.require(0.6, "were answered with and without the reduction", at_least=8)


def _translation_variants() -> list[tuple[str, str]]:
    return [
        (name, v)
        for name in registry.names()
        for v, variant in load_scenario(name).variants.items()
        if variant.build().xlate is not None
    ]


@pytest.mark.parametrize(("scenario", "variant"), _translation_variants())
def test_bundled_translation_variants_keep_their_verdicts(scenario: str, variant: str) -> None:
    """Every bundled variant that uses translation: the same outcome and witness length
    with the reduction, none refused."""
    spec = load_scenario(scenario).variants[variant].build()
    full, reduced = _check(spec, False, Budget()), _check(spec, True, Budget())
    assert (reduced.outcome, len(reduced.witness)) == (full.outcome, len(full.witness))
    assert reduced.states <= full.states
