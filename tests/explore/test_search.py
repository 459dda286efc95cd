"""The search on toy models that know nothing about caches.

Toy models make each property of ``explore.check`` visible on a graph small
enough to reason about by hand: shortest witnesses, budgets that end in
``unknown`` with what was covered, replay that rebuilds the same steps, and the
sanity flag that keeps a vacuous model from passing as a proof.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalecheck.explore.search import Budget, Progress, check, replay
from stalecheck.explore.verdict import Outcome, StopReason


@dataclass
class Graph:
    """A model given as an explicit graph: ``edges[s]`` lists successors in order."""

    edges: dict[int, list[int]]
    bad: frozenset[int] = frozenset()
    init: int = 0
    calls: list[int] = field(default_factory=list)

    def initial_state(self) -> int:
        return self.init

    def actions(self, state: int) -> Sequence[int]:
        return self.edges.get(state, [])

    def next_state(self, state: int, action: int) -> int:
        return action

    def is_bad(self, state: int) -> bool:
        return state in self.bad

    def fingerprint(self, state: int) -> int:
        return state

    def describe(self, before: int, action: int, after: int) -> str:
        return f"{before}->{after}"


@dataclass
class Counters:
    """``n`` counters each counting up to ``limit``: (limit+1)**n states, depth n*limit."""

    n: int
    limit: int
    bad_at: tuple[int, ...] | None = None

    def initial_state(self) -> tuple[int, ...]:
        return (0,) * self.n

    def actions(self, state: tuple[int, ...]) -> Sequence[int]:
        return [i for i, c in enumerate(state) if c < self.limit]

    def next_state(self, state: tuple[int, ...], action: int) -> tuple[int, ...]:
        return (*state[:action], state[action] + 1, *state[action + 1 :])

    def is_bad(self, state: tuple[int, ...]) -> bool:
        return state == self.bad_at

    def fingerprint(self, state: tuple[int, ...]) -> int:
        return hash(state)

    def describe(self, before: tuple[int, ...], action: int, after: tuple[int, ...]) -> str:
        return f"counter {action}: {before[action]} -> {after[action]}"


def test_finds_the_shortest_witness_not_the_first_explored_path() -> None:
    # 0 -> 1 -> 2 -> 3 -> 9 (bad, 4 steps) is listed first; 0 -> 5 -> 9 is 2 steps.
    g = Graph({0: [1, 5], 1: [2], 2: [3], 3: [9], 5: [9]}, bad=frozenset({9}))
    v = check(g)
    assert v.outcome == Outcome.REACHABLE and v.reason == StopReason.FOUND
    assert v.steps == ("0->5", "5->9") and v.witness == (1, 0) and v.token == "1/0"


def test_a_bad_initial_state_has_an_empty_witness() -> None:
    v = check(Graph({0: [1]}, bad=frozenset({0})))
    assert v.outcome == Outcome.REACHABLE and v.witness == () and v.states == 1


def test_unreachable_only_when_every_state_was_explored() -> None:
    v = check(Counters(2, 3))
    assert (v.outcome, v.reason, v.states) == (Outcome.UNREACHABLE, StopReason.EXHAUSTED, 16)
    assert v.depth == 6 and v.transitions == 2 * 3 * 4  # each counter steps 3 times per value of the other


def test_max_states_gives_unknown_with_what_was_covered() -> None:
    v = check(Counters(3, 4, bad_at=(4, 4, 4)), Budget(max_states=30))
    assert (v.outcome, v.reason) == (Outcome.UNKNOWN, StopReason.MAX_STATES)
    assert v.states == 30 and v.witness == ()
    assert v.depth < 12, "the bad state at depth 12 was not reached"


def test_a_zero_timeout_stops_after_the_first_level_with_unknown() -> None:
    v = check(Counters(3, 4, bad_at=(4, 4, 4)), Budget(timeout=0.0))
    assert (v.outcome, v.reason) == (Outcome.UNKNOWN, StopReason.TIMEOUT)
    assert v.depth >= 1 and v.states >= 4


def test_a_budget_large_enough_changes_nothing() -> None:
    full = check(Counters(3, 3))
    budgeted = check(Counters(3, 3), Budget(max_states=10_000, timeout=3600))
    assert (full.outcome, full.states, full.transitions) == (
        budgeted.outcome,
        budgeted.states,
        budgeted.transitions,
    )


def test_progress_reports_growing_counts_and_a_final_snapshot() -> None:
    seen: list[Progress] = []
    v = check(Counters(3, 5), progress=seen.append, progress_every=50)
    assert len(seen) >= 2
    assert [p.states for p in seen] == sorted(p.states for p in seen)
    assert seen[-1].states == v.states and seen[-1].frontier == 0


@given(st.integers(1, 3), st.integers(1, 3), st.data())
@settings(max_examples=40, deadline=None)
def test_witness_replays_to_a_bad_state_and_is_shortest(n: int, limit: int, data: st.DataObject) -> None:
    target = tuple(data.draw(st.integers(0, limit)) for _ in range(n))
    model = Counters(n, limit, bad_at=target)
    v = check(model)
    assert v.outcome == Outcome.REACHABLE
    assert len(v.witness) == sum(target), "BFS: the shortest path has one step per increment"
    state = model.initial_state()
    for index in v.witness:
        state = model.next_state(state, model.actions(state)[index])
    assert state == target
    assert replay(model, v.witness) == v.steps


def test_replay_is_deterministic_across_runs() -> None:
    a = check(Counters(3, 2, bad_at=(2, 1, 2)))
    b = check(Counters(3, 2, bad_at=(2, 1, 2)))
    assert (a.witness, a.steps) == (b.witness, b.steps)


def test_replay_detects_a_model_whose_action_order_changed() -> None:
    g = Graph({0: [1, 2], 2: [3]}, bad=frozenset({3}))
    v = check(g)
    assert v.witness == (1, 0)
    g.edges[0] = [2]  # the model now lists fewer actions in the same state
    with pytest.raises(ValueError, match="not deterministic"):
        replay(g, v.witness)


def test_sanity_flag_is_false_when_no_state_meets_the_sometimes_property() -> None:
    v = check(Counters(2, 2), sanity=lambda s: s == (5, 5))
    assert v.outcome == Outcome.UNREACHABLE and not v.sane


def test_sanity_flag_is_true_when_some_state_meets_it() -> None:
    v = check(Counters(2, 2), sanity=lambda s: s == (2, 2))
    assert v.sane
    assert check(Counters(2, 2)).sane, "no sanity property: nothing to flag"


def test_states_with_equal_fingerprints_are_explored_once() -> None:
    g = Graph({0: [1, 2], 1: [3], 2: [3], 3: []})
    v = check(g)
    assert v.states == 4 and v.transitions == 4
