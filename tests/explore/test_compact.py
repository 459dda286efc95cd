"""The compact visited set (``Store.COMPACT``) explores exactly what the plain search does.

``explore.compact`` batches look-ups in a sorted array, then takes the
successors in the plain search's order; these tests hold it to that: the same
outcome, stop reason, state and transition counts, depth and witness as
``Store.DIGEST`` on random graphs (deadlocks, self-loops, budgets that stop
part-way) and on bundled scenario variants.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalecheck.explore import compact
from stalecheck.explore.search import Budget, Store, check
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario
from tests.explore.test_search import Counters, Graph


def _same(a: object, b: object) -> None:
    fields = ("outcome", "reason", "states", "transitions", "depth", "witness", "steps", "sane")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]


graphs = st.integers(1, 25).flatmap(
    lambda n: st.tuples(
        st.dictionaries(st.integers(0, n - 1), st.lists(st.integers(0, n - 1), max_size=5)),
        st.frozensets(st.integers(0, n - 1), max_size=2),
        st.none() | st.integers(1, n),
    )
)


@settings(max_examples=300, deadline=None)
@given(graphs, st.sampled_from([1, 2, 3, 2048]))
def test_compact_matches_the_plain_search_on_random_graphs(
    case: tuple[dict[int, list[int]], frozenset[int], int | None], chunk: int
) -> None:
    edges, bad, max_states = case
    g = Graph(edges, bad=bad)
    old = compact.CHUNK
    compact.CHUNK = chunk  # chunk boundaries must not change what is explored
    try:
        reduced = check(g, Budget(max_states=max_states), store=Store.COMPACT)
    finally:
        compact.CHUNK = old
    _same(reduced, check(g, Budget(max_states=max_states), store=Store.DIGEST))
    assert reduced.store == "compact"


def test_compact_counts_every_state_of_a_grid() -> None:
    v = check(Counters(3, 4), store=Store.COMPACT)
    assert (v.states, v.depth, v.outcome) == (125, 12, "unreachable")
    assert "sorted array" in v.visited_assumption and "n = 125 states" in v.visited_assumption


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("kvm-external-l3", "clean-to-pou"),
        ("kvm-external-l3", "clean-to-poc"),
        ("osv-pte-barriers", "no-barriers"),
        ("osv-pte-barriers", "dsb-isb"),
    ],
)
def test_compact_matches_the_plain_search_on_bundled_variants(scenario: str, variant: str) -> None:
    sc = load_scenario(scenario)
    m = Machine(sc.variants[variant].build())
    _same(check(m, store=Store.COMPACT), check(m, store=Store.DIGEST))
