"""The ``prune_dead_lines`` reduction (``machine/reduction.py``) changes no verdict.

Compared against the unreduced search: the same outcome and the same shortest
witness length on the bundled variants and on random small systems with a
random bad state, never more states, and fewer where a line goes dead early.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stalecheck.errors import ScenarioError
from stalecheck.explore.search import Budget, check
from stalecheck.explore.verdict import Outcome, Verdict
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario
from tests.machine.test_stateful import systems
from tests.machine.util import machine


def _explore(spec: SystemSpec, prune: bool, max_states: int | None = None) -> tuple[Verdict, Machine]:
    spec = dataclasses.replace(spec, options=dataclasses.replace(spec.options, prune_dead_lines=prune))
    m = Machine(spec)
    return check(m, Budget(max_states=max_states), sanity=m.is_complete), m


# Every variant of the scenarios that explore in well under a second, plus one
# two-PE set/way case with migration (a few seconds each way).
CASES = [
    *((name, v) for name in ("kvm-external-l3", "osv-pte-barriers") for v in load_scenario(name).variants),
    ("xen-set-way", "untrapped"),
]


@pytest.mark.parametrize(("scenario", "variant"), CASES)
def test_same_verdict_and_witness_length_never_more_states(scenario: str, variant: str) -> None:
    spec = load_scenario(scenario).variants[variant].build()
    full, _ = _explore(spec, prune=False)
    reduced, m = _explore(spec, prune=True)
    assert reduced.outcome == full.outcome
    assert len(reduced.witness) == len(full.witness), "BFS keeps the shortest witness length"
    assert reduced.states <= full.states
    if m.mmu is not None:  # translation walks lines: the reduction is off
        assert m.dead_lines is None and reduced.states == full.states


def test_fewer_states_where_a_line_goes_dead_early() -> None:
    sc = load_scenario("kvm-external-l3")
    full = sum(_explore(v.build(), prune=False)[0].states for v in sc.variants.values())
    reduced = sum(_explore(v.build(), prune=True)[0].states for v in sc.variants.values())
    assert reduced < full


def test_a_bad_state_that_reads_memory_is_refused_not_answered() -> None:
    def setup(b: object) -> None:
        b.system(pes=1)  # type: ignore[attr-defined]
        b.page("P", "X")  # type: ignore[attr-defined]
        b.host("h", "STR X, 1")  # type: ignore[attr-defined]
        b.bad_when(lambda v: v.mem("X") == 1, "memory holds 1")  # type: ignore[attr-defined]
        b.options(prune_dead_lines=True)  # type: ignore[attr-defined]

    m = machine(setup)
    with pytest.raises(ScenarioError, match="prune_dead_lines"):
        check(m)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(systems(), st.integers(0, 3), st.booleans())
def test_random_systems_get_the_same_verdict(m: Machine, value: int, device: bool) -> None:
    """A random bad state over registers: some thread read ``value`` into r1."""
    names = [t.name for t in m.threads if "r1" in m.layout.regs[m.thread_index(t.name)]]
    assume(names)
    who = names[-1] if device else names[0]
    spec = dataclasses.replace(
        m.spec, bad=lambda v: v.done(who) and v.reg(who, "r1") == value, bad_text="reads value"
    )
    full, _ = _explore(spec, prune=False, max_states=20_000)
    reduced, _ = _explore(spec, prune=True, max_states=20_000)
    assume(Outcome.UNKNOWN not in (full.outcome, reduced.outcome))
    assert (reduced.outcome, len(reduced.witness)) == (full.outcome, len(full.witness))
    assert reduced.states <= full.states
