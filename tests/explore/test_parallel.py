"""``check -j N`` (``explore.parallel``) explores exactly what the plain search does.

The parallel search claims the plain BFS order inside every level, so everything
observable must match ``search.check`` with the exact store: outcome, stop reason,
state and transition counts, depth, witness and its described steps, and the sanity
flag, for any number of workers, on random graphs (bad states, deadlocks, budgets
that stop part-way through a level) and on bundled scenario variants, locally and
on a dask LocalCluster.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalecheck.explore import parallel
from stalecheck.explore.parallel import _lending_plan, check_parallel
from stalecheck.explore.search import Budget, check, replay
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario
from tests.explore.test_search import Counters, Graph

FIELDS = ("outcome", "reason", "states", "transitions", "depth", "witness", "steps", "sane")


def _same(a: object, b: object) -> None:
    assert [getattr(a, f) for f in FIELDS] == [getattr(b, f) for f in FIELDS]


graphs = st.integers(1, 30).flatmap(
    lambda n: st.tuples(
        st.dictionaries(st.integers(0, n - 1), st.lists(st.integers(0, n - 1), max_size=5)),
        st.frozensets(st.integers(0, n - 1), max_size=2),
        st.none() | st.integers(1, n),
        st.frozensets(st.integers(0, n - 1), max_size=3),
    )
)


@settings(max_examples=40, deadline=None)
@given(graphs, st.integers(1, 3))
def test_parallel_matches_the_plain_search_on_random_graphs(
    case: tuple[dict[int, list[int]], frozenset[int], int | None, frozenset[int]], jobs: int
) -> None:
    _same_on_a_random_graph(case, jobs)


def _same_on_a_random_graph(
    case: tuple[dict[int, list[int]], frozenset[int], int | None, frozenset[int]], jobs: int
) -> None:
    """The parallel search of a random graph gives the plain search's verdict, counts and witness."""
    edges, bad, max_states, sane_states = case
    g = Graph(edges, bad=bad)

    def sanity(state: int) -> bool:
        return state in sane_states

    expected = check(g, Budget(max_states=max_states), sanity=sanity)
    _same(check_parallel(g, jobs, max_states, sanity=sanity, replay=replay), expected)


def _lend_whenever_uneven(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lending (``Partition.lend``) on every uneven level, however small."""
    monkeypatch.setattr(parallel, "LEND_MIN", 1)
    monkeypatch.setattr(parallel, "LEND_SLACK", 0.0)
    monkeypatch.setattr(parallel, "LEND_SHARE", 1.0)


@settings(max_examples=25, deadline=None)
@given(graphs, st.integers(2, 3))
def test_lending_states_to_expand_changes_nothing_on_random_graphs(
    case: tuple[dict[int, list[int]], frozenset[int], int | None, frozenset[int]], jobs: int
) -> None:
    """States expanded by a worker that does not own them: same counts, depth, witness."""
    with pytest.MonkeyPatch.context() as mp:
        _lend_whenever_uneven(mp)
        _same_on_a_random_graph(case, jobs)


def test_lending_changes_nothing_on_a_bundled_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    _lend_whenever_uneven(monkeypatch)
    m = Machine(load_scenario("kvm-external-l3").variants["clean-to-pou"].build())
    _same(check_parallel(m, 3, replay=replay), check(m))


def test_a_worker_lends_part_of_its_surplus_in_proportion_to_the_deficits() -> None:
    assert _lending_plan([1000, 1000]) is None
    assert _lending_plan([1010, 990]) is None  # within the slack
    assert _lending_plan([2000, 0]) == [[0, 800], [0, 0]]
    assert _lending_plan([3000, 0, 1000, 0]) == [[0, 800, 0, 800], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_parallel_counts_every_state_of_a_grid() -> None:
    v = check_parallel(Counters(3, 4), 2)
    assert (v.states, v.depth, v.outcome, v.reason) == (125, 12, "unreachable", "exhausted")


def test_parallel_finds_the_shortest_witness_in_a_grid() -> None:
    model = Counters(3, 3, bad_at=(2, 1, 3))
    expected = check(model)
    got = check_parallel(model, 3, replay=replay)
    _same(got, expected)
    assert got.outcome == "reachable" and len(got.witness) == 6


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("kvm-external-l3", "clean-to-pou"),
        ("kvm-external-l3", "clean-to-poc"),
        ("osv-pte-barriers", "no-barriers"),
        ("osv-pte-barriers", "dsb-isb"),
    ],
)
def test_parallel_matches_the_plain_search_on_bundled_variants(scenario: str, variant: str) -> None:
    m = Machine(load_scenario(scenario).variants[variant].build())
    _same(check_parallel(m, 2, replay=replay), check(m))


def _counters() -> Counters:
    """A picklable factory: dask workers build their own model."""
    return Counters(3, 3, bad_at=(3, 0, 2))


def test_parallel_on_a_dask_local_cluster_matches_the_plain_search() -> None:
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = check_parallel(_counters(), 2, replay=replay, client=client, factory=_counters)
    _same(got, check(_counters()))


def test_check_dash_j_prints_what_the_plain_check_prints() -> None:
    exe = [sys.executable, "-m", "stalecheck", "check", "kvm-external-l3", "--json"]
    runs = [subprocess.run([*exe, *x], capture_output=True, text=True, timeout=99) for x in ([], ["-j", "2"])]
    for run in runs:
        assert run.returncode in (0, 1), run.stderr
    plain, parallel = ([json.loads(line) for line in run.stdout.splitlines()] for run in runs)
    for a, b in zip(plain, parallel, strict=True):
        a.pop("seconds")
        b.pop("seconds")
        assert a == b


def test_a_parallel_search_with_another_store_is_refused() -> None:
    exe = [sys.executable, "-m", "stalecheck", "check", "kvm-external-l3", "-j", "2", "--store", "compact"]
    run = subprocess.run(exe, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "--store exact" in run.stderr and "Traceback" not in run.stderr
