"""The walk memo (``Walker._memoized``) gives, state by state, what walking again gives.

Two machines of one system, one with the memo and one without, are asked for the steps
and successors of every state a breadth-first search reaches (up to a bound): the
memoized machine first meets each TLB with some table values and later replays its read
tree, with other values too (so trees grow and are cut short); both must answer alike.
On random translated systems (one and two stages, Write-Back or NC walks, attributes
that a fault policy writes) with and without quiet lines, and on bundled translation
variants.  The plans' agreement with ``next_state`` on such systems (the memo answering
a probe's oracle) is in tests/machine/test_plan.py.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalecheck.errors import ScenarioError
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario
from tests.machine.translated_systems import guest_system, translated_systems


def _pair(spec: SystemSpec) -> tuple[Machine, Machine]:
    memo, plain = Machine(spec), Machine(spec)
    assert plain.mmu is not None
    plain.mmu.walker.memoize = False
    return memo, plain


def _agree(spec: SystemSpec, limit: int) -> int:
    """Compare on up to ``limit`` states; return how many (and how many replays hit)."""
    memo, plain = _pair(spec)
    init = memo.initial_state()
    seen = {init}
    frontier = [init]
    while frontier and len(seen) < limit:
        nxt = []
        for state in frontier:
            actions = memo.actions(state)
            assert actions == plain.actions(state)
            succs = [memo.next_state(state, a) for a in actions]
            assert succs == [plain.next_state(state, a) for a in actions]
            for succ in succs:
                if succ not in seen:
                    seen.add(succ)
                    nxt.append(succ)
        frontier = nxt
    return len(seen)


def _with_quiet(spec: SystemSpec, quiet: bool) -> SystemSpec:
    return dataclasses.replace(spec, options=dataclasses.replace(spec.options, quiet_coherent_lines=quiet))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(translated_systems(), st.booleans())
def test_memoized_walks_give_what_walking_gives_on_random_systems(spec: SystemSpec, quiet: bool) -> None:
    try:
        _agree(_with_quiet(spec, quiet), 1500)
    except ScenarioError as err:  # a quiet line accessed NC: refused alike with and without
        assert "quiet_coherent_lines" in str(err)


def test_a_guest_with_quiet_lines_replays_its_trees() -> None:
    spec = _with_quiet(guest_system(["STR X, 1"], "wb", "wb", "wb", 2, False), True)
    # the space as measured before prune_dead_tlb (on by default) made it smaller
    spec = dataclasses.replace(spec, options=dataclasses.replace(spec.options, prune_dead_tlb=False))
    assert _agree(spec, 3000) >= 200


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("osv-pte-barriers", "break-before-make"),  # walk caches, TLBIs, two PEs
        ("osv-pte-barriers", "spurious-fault-retry"),
        ("kvm-guest-faults-icache", "swap-in-clean-poc"),  # two stages, fetches
        ("kvm-stage2-map-modern", "fwb"),
    ],
)
def test_memoized_walks_give_what_walking_gives_on_bundled_variants(scenario: str, variant: str) -> None:
    assert _agree(load_scenario(scenario).variants[variant].build(), 3000) >= 50
