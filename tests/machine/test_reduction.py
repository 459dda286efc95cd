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
from stalecheck.scenarios.builder import Builder
from tests.conftest import Explored
from tests.machine.test_stateful import systems
from tests.machine.translated_systems import ATTRS, FILLERS, OTHER, guest_system, host_system
from tests.machine.util import machine, quiet_agrees
from tests.tally import Tally


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
def test_same_verdict_and_witness_length_never_more_states(
    scenario: str, variant: str, explored: Explored
) -> None:
    full = explored(scenario, variant).verdict
    reduced = explored(scenario, variant, prune_dead_lines=True).verdict
    assert reduced.outcome == full.outcome
    assert len(reduced.witness) == len(full.witness), "BFS keeps the shortest witness length"
    assert reduced.states <= full.states


def test_fewer_states_where_a_line_goes_dead_early(explored: Explored) -> None:
    names = load_scenario("kvm-external-l3").variants
    full = sum(explored("kvm-external-l3", v).verdict.states for v in names)
    reduced = sum(explored("kvm-external-l3", v, prune_dead_lines=True).verdict.states for v in names)
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


def _random_bad_state(m: Machine, value: int, device: bool) -> SystemSpec:
    """``m``'s system with a random bad state over registers: some thread read ``value`` into r1."""
    names = [t.name for t in m.threads if "r1" in m.layout.regs[m.thread_index(t.name)]]
    assume(names)
    who = names[-1] if device else names[0]
    return dataclasses.replace(
        m.spec, bad=lambda v: v.done(who) and v.reg(who, "r1") == value, bad_text="reads value"
    )


# Random systems that stay under this many states compare both ways in well under a
# second; bigger ones are drawn again (most systems() are far smaller).
SMALL = 5_000


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(systems(), st.integers(0, 3), st.booleans())
def test_random_systems_get_the_same_verdict(m: Machine, value: int, device: bool) -> None:
    spec = _random_bad_state(m, value, device)
    full, _ = _explore(spec, prune=False, max_states=SMALL)
    reduced, _ = _explore(spec, prune=True, max_states=SMALL)
    assume(Outcome.UNKNOWN not in (full.outcome, reduced.outcome))
    assert (reduced.outcome, len(reduced.witness)) == (full.outcome, len(full.witness))
    assert reduced.states <= full.states


def _quiet(spec: SystemSpec, on: bool) -> Verdict:
    spec = dataclasses.replace(spec, options=dataclasses.replace(spec.options, quiet_coherent_lines=on))
    m = Machine(spec)
    return check(m, Budget(max_states=SMALL), sanity=m.is_complete)


def test_quiet_lines_keep_every_verdict_of_random_systems() -> None:
    """``quiet_coherent_lines`` (the quiet-line reduction): the same outcome and shortest
    witness length as the full search.  Systems too big for the full search are drawn
    again; a system that turns out to access a quiet line non-cacheably is refused
    (ScenarioError) rather than answered, and most must be answered, so the comparison
    really runs."""
    tally = Tally()

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(systems(), st.integers(0, 3), st.booleans())
    def run(m: Machine, value: int, device: bool) -> None:
        spec = _random_bad_state(m, value, device)
        quiet_agrees(_quiet, spec, tally)

    run()
    tally.require(0.5, "were answered with and without the reduction", at_least=10)


def test_quiet_lines_skip_the_spontaneous_steps_of_a_cacheable_only_line() -> None:
    """Message passing between two PEs over Normal WB lines: the stale read comes from
    the store buffer, not the caches, so the reduced search finds it in fewer states."""

    def setup(b: Builder) -> None:
        b.system(pes=2, l2=True)
        b.page("P", "X")
        b.page("Q", "Y")
        b.host("writer", "STR X, 1\nSTR Y, 1", pe=0)
        b.host("reader", "LDR r1, Y\nLDR r2, X", pe=1)
        b.bad_when(
            lambda v: v.done("reader") and v.reg("reader", "r1") == 1 and v.reg("reader", "r2") == 0,
            "reads the flag before the data",
        )

    b = Builder()
    setup(b)
    full, reduced = _quiet(b.build(), False), _quiet(b.build(), True)
    assert full.outcome == reduced.outcome == Outcome.REACHABLE
    assert len(reduced.witness) == len(full.witness)
    assert reduced.states < full.states


# ---- under translation: a line stays live while a walk or a translated access may reach it ----


def _dead_lines_under_translation(spec: SystemSpec) -> tuple[Verdict, Verdict]:
    full, _ = _explore(spec, prune=False, max_states=SMALL)
    assume(full.outcome != Outcome.UNKNOWN)
    reduced, m = _explore(spec, prune=True)
    assert m.dead_lines is not None
    assert (reduced.outcome, len(reduced.witness)) == (full.outcome, len(full.witness))
    assert reduced.states <= full.states
    return full, reduced


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(FILLERS), max_size=2),
    st.lists(st.sampled_from(FILLERS), max_size=2),
    st.lists(st.sampled_from(OTHER), max_size=3),
    st.sampled_from(("wb", "nc")),
    st.sampled_from(ATTRS),
    st.integers(0, 2),
)
def test_random_host_translation_systems_get_the_same_verdict(
    before: list[str], after: list[str], other: list[str], walk: str, attr: str, observe: int
) -> None:
    """One-stage translation with a page no walk reaches (X) beside the tables and the
    mapped page: the PTE written by the program, a second PE that may break it."""
    _dead_lines_under_translation(host_system(before, after, other, walk, attr, observe))


def test_a_line_no_walk_reaches_goes_dead_under_translation() -> None:
    """X is neither a table line nor in a page any descriptor maps: once the program
    is past its last access to X, X's cache steps are not explored, while the tables
    and the mapped page stay live until the thread is done."""
    spec = host_system(["STR X, 1", "DC CVAC l3e"], [], [], "wb", "wb", 1)
    full, _ = _explore(spec, prune=False)
    reduced, m = _explore(spec, prune=True)
    assert m.dead_lines is not None
    assert (reduced.outcome, len(reduced.witness)) == (full.outcome, len(full.witness))
    assert reduced.states < full.states


def test_a_guest_with_a_policy_keeps_the_reduction_off() -> None:
    """A stage-2 fault policy's stores are not known in advance: what a walk reaches is
    not bounded, so the dead-lines reduction stays off under translation."""
    spec = guest_system([], "wb", "wb", "wb", 1, False)
    spec = dataclasses.replace(spec, options=dataclasses.replace(spec.options, prune_dead_lines=True))
    assert Machine(spec).dead_lines is None
