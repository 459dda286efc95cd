"""The split visited set (``explore/split.py``) is the plain exact search, step for step.

``search.check`` takes the split path for every ``Machine`` with ``Store.EXACT``; the
one-set loop it replaces still runs for models without ``split_at``.  Hiding
``split_at`` behind a proxy runs that loop on the same machine, so the two can be
compared: same verdict, distinct states, transitions, depth, witness and sanity, also
when a budget stops the search part way.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stalecheck.explore.search import Budget, check
from stalecheck.explore.verdict import Verdict
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario
from tests.machine.test_stateful import systems


class OneSet:
    """The machine without ``split_at``: ``check`` runs its one-set loop on it."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine

    def __getattr__(self, name: str) -> Any:
        if name in ("split_at", "expand", "join"):
            raise AttributeError(name)
        return getattr(self.m, name)


def _fields(v: Verdict) -> tuple[object, ...]:
    return (v.outcome, v.reason, v.states, v.transitions, v.depth, v.witness, v.sane, v.store)


def _both(spec: SystemSpec, max_states: int | None = None) -> tuple[Verdict, Verdict]:
    split, plain = Machine(spec), Machine(spec)
    assert split.split_at
    budget = Budget(max_states=max_states)
    return (
        check(split, budget, sanity=split.is_complete),
        check(OneSet(plain), budget, sanity=plain.is_complete),
    )


def _bad(m: Machine, value: int, which: int) -> SystemSpec:
    names = [t.name for t in m.threads if "r1" in m.layout.regs[m.thread_index(t.name)]]
    assume(names)
    who = names[which % len(names)]
    return dataclasses.replace(m.spec, bad=lambda v: v.reg(who, "r1") == value, bad_text="reads value")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(systems(), st.integers(0, 7), st.integers(0, 3), st.sampled_from([1, 7, 60, 5_000]))
def test_random_systems_explore_alike(m: Machine, value: int, which: int, limit: int) -> None:
    spec = _bad(m, value, which)
    split, plain = _both(spec, limit)
    assert _fields(split) == _fields(plain)
    assert split.steps == plain.steps


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("kvm-external-l3", "clean-to-pou"),  # reachable
        ("kvm-external-l3", "vmm-cleans"),  # unreachable
        ("kvm-external-l3", "hcr-dc-dma"),  # a device
        ("osv-pte-barriers", "spurious-fault-retry"),  # translation: TLBs and walks
        ("kvm-guest-faults-icache", "swap-in-clean-poc"),  # instruction fetch
        ("virtio-ring-rmb", "no-rmb"),  # weak ordering
    ],
)
def test_bundled_variants_explore_alike(scenario: str, variant: str) -> None:
    spec = load_scenario(scenario).variants[variant].build()
    for limit in (None, 500):
        split, plain = _both(spec, limit)
        assert _fields(split) == _fields(plain)
