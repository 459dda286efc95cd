"""``check -j N`` on the split visited set (``explore.partition_split``) is the plain search.

The workers store states as ``check`` does (a bucket of inner-part numbers per rest), and
each worker numbers inner parts its own way.  A state crossing to its owner carries the
sender's number, which the owner translates by comparing the inner part itself.  So the
tests give every worker a numbering of its own (shifted by decoy entries), on random
systems (``tests/machine/test_stateful.systems``) with bad states, budgets that stop part
way through a level and lending forced on every level: everything observable must equal
``search.check``.  The partitions run in this process (``InProcess``), the bytes they
exchange are those the pipes carry; one test runs the forked workers and one a dask
cluster on a bundled variant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stalecheck.explore import parallel
from stalecheck.explore.parallel import check_parallel, partition_kind, search
from stalecheck.explore.partition import Partition
from stalecheck.explore.partition_split import SplitPartition
from stalecheck.explore.search import Budget, check, replay
from stalecheck.explore.verdict import Verdict
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.system import Machine
from stalecheck.runner import VariantMachine, load_scenario
from tests.explore.test_search import Graph
from tests.machine.test_stateful import systems
from tests.machine.translated_systems import translated_systems

FIELDS = ("outcome", "reason", "states", "transitions", "depth", "witness", "steps", "sane")


def _fields(v: Verdict) -> list[object]:
    return [getattr(v, f) for f in FIELDS]


class InProcess:
    """``parallel.Workers`` without processes: each call runs the partitions in turn."""

    def __init__(self, parts: Sequence[SplitPartition]) -> None:
        self.parts = list(parts)
        self.count = len(parts)

    def call(self, method: str, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        return [getattr(part, method)(*a) for part, a in zip(self.parts, args, strict=True)]

    def close(self) -> None:
        self.parts = []


def _machine_numbering_its_own_way(spec: SystemSpec, decoys: int) -> Machine:
    """A machine whose inner parts get numbers shifted by ``decoys`` (as if it had met
    other memories and copies first): two workers never agree on a number."""
    m = Machine(spec)
    for i in range(decoys):
        m.inner_keys[("decoy", i)] = len(m.inner_keys)
    return m


def _split_search(
    spec: SystemSpec, jobs: int, max_states: int | None
) -> tuple[Verdict, list[SplitPartition]]:
    parts = [
        SplitPartition(lambda i=i: _machine_numbering_its_own_way(spec, 3 * i + 1), i, jobs, "is_complete")
        for i in range(jobs)
    ]
    workers = InProcess(parts)
    return search(Machine(spec), workers, max_states, sanity="is_complete", replay=replay), parts


def _plain(spec: SystemSpec, max_states: int | None) -> Verdict:
    m = Machine(spec)
    return check(m, Budget(max_states=max_states), sanity=m.is_complete)


def _with_bad(m: Machine, value: int, which: int) -> SystemSpec:
    """``m``'s system with a bad state: some thread's r1 holds ``value``."""
    names = [t.name for t in m.threads if "r1" in m.layout.regs[m.thread_index(t.name)]]
    assume(names)
    who = names[which % len(names)]
    return dataclasses.replace(m.spec, bad=lambda v: v.reg(who, "r1") == value, bad_text="reads value")


def _lend_whenever_uneven(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(parallel, "LEND_MIN", 1)
    mp.setattr(parallel, "LEND_SLACK", 0.0)
    mp.setattr(parallel, "LEND_SHARE", 1.0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    systems(),
    st.integers(0, 7),
    st.integers(0, 3),
    st.sampled_from([None, 1, 7, 60, 5_000]),
    st.integers(2, 3),
    st.booleans(),
)
def test_split_workers_match_the_plain_search_on_random_systems(
    m: Machine, value: int, which: int, limit: int | None, jobs: int, lend: bool
) -> None:
    spec = _with_bad(m, value, which)
    with pytest.MonkeyPatch.context() as mp:
        if lend:
            _lend_whenever_uneven(mp)
        got, _ = _split_search(spec, jobs, limit)
    assert _fields(got) == _fields(_plain(spec, limit))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(translated_systems(), st.sampled_from([None, 40, 700]), st.integers(2, 3), st.booleans())
def test_split_workers_match_the_plain_search_on_random_systems_with_translation(
    spec: SystemSpec, limit: int | None, jobs: int, lend: bool
) -> None:
    """The same on systems with page tables, walks, TLBs and stage-2 faults
    (``tests/machine/translated_systems``): TLB fills keep the threads, so they stay on
    their worker; walks and fault policies cross with the thread steps."""
    with pytest.MonkeyPatch.context() as mp:
        if lend:
            _lend_whenever_uneven(mp)
        got, _ = _split_search(spec, jobs, limit)
    assert _fields(got) == _fields(_plain(spec, limit))


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("kvm-external-l3", "clean-to-pou"),  # reachable
        ("kvm-external-l3", "vmm-cleans"),  # unreachable
        ("osv-pte-barriers", "spurious-fault-retry"),  # translation: TLBs and walks
        ("virtio-ring-rmb", "no-rmb"),  # weak ordering
    ],
)
def test_split_workers_match_the_plain_search_on_bundled_variants(scenario: str, variant: str) -> None:
    spec = load_scenario(scenario).variants[variant].build()
    for limit in (None, 500):
        got, parts = _split_search(spec, 3, limit)
        assert _fields(got) == _fields(_plain(spec, limit))
    # the owners did renumber what crossed: some inner part has different numbers here and there
    shared = set(parts[0].model.inner_keys) & set(parts[1].model.inner_keys) - {("decoy", 0)}
    assert any(parts[0].model.inner_keys[i] != parts[1].model.inner_keys[i] for i in shared)
    assert any(decoder.parts for part in parts for decoder in part.decoders)


def test_lending_on_the_split_store_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _lend_whenever_uneven(monkeypatch)
    spec = load_scenario("kvm-external-l3").variants["clean-to-poc"].build()
    got, parts = _split_search(spec, 2, None)
    assert _fields(got) == _fields(_plain(spec, None))
    assert all(p.seen for p in parts)


def test_the_machine_engine_gets_the_split_store_and_other_models_the_one_set() -> None:
    m = Machine(load_scenario("kvm-external-l3").variants["clean-to-pou"].build())
    assert partition_kind(m) is SplitPartition
    assert partition_kind(Graph({0: [1]})) is Partition


def test_forked_split_workers_match_the_plain_search() -> None:
    m = Machine(load_scenario("kvm-external-l3").variants["clean-to-poc"].build())
    assert _fields(check_parallel(m, 2, replay=replay)) == _fields(check(m))


def test_split_workers_on_a_dask_local_cluster_match_the_plain_search() -> None:
    distributed = pytest.importorskip("dask.distributed")
    factory = VariantMachine("kvm-external-l3", "clean-to-pou")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = check_parallel(factory(), 2, replay=replay, client=client, factory=factory)
    assert _fields(got) == _fields(check(factory()))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(systems(), st.integers(2, 3), st.booleans())
def test_the_traffic_the_workers_count_adds_up(m: Machine, jobs: int, lend: bool) -> None:
    """What the workers count of their traffic (``SplitPartition.traffic``, printed by
    ``benchmarks/explore_speed.py --parallel``) adds up: each successor a worker sends,
    its owner receives once; the states stored are the plain search's; every outer part
    of the space is expanded on some worker (its plan built there, ``machine/plan.py``)."""
    with pytest.MonkeyPatch.context() as mp:
        if lend:
            _lend_whenever_uneven(mp)
        got, parts = _split_search(m.spec, jobs, None)
    one = Machine(m.spec)
    plain = check(one, Budget(), sanity=one.is_complete)
    traffic = [p.traffic() for p in parts]
    assert sum(t["sent"] for t in traffic) == sum(t["received"] for t in traffic)
    assert sum(p.stored() for p in parts) == got.states == plain.states
    if plain.outcome.value == "unreachable":  # the whole space: every outer part met was expanded
        assert sum(t["outer_parts_expanded"] for t in traffic) >= len(one.outer_list)
    assert all(t["bytes_sent"] > 0 for t in traffic if t["sent"] or t["lent"])
