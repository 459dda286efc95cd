"""Pinned state spaces: any change to what the engine explores shows up here.

Speed work on the engine (``Machine.actions``, ``next_state``, ``caches.py``,
``buffer.py``, the search) must leave the explored space exactly as it was:
the same distinct states, the same transitions and, for a reachable bad state,
the same shortest witness (as action indices, so action order is pinned too).
The numbers were recorded before any optimisation.  A deliberate change of
semantics updates them; regenerate with

    .venv/bin/python -c "from tests.machine.test_state_space_pins import dump; dump()"

and say in the commit why the space changed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from stalecheck.explore.search import Budget, check
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario, run_variant
from tests.conftest import Explored

# variant -> (outcome, distinct states, transitions, witness token)
# The scenario runs with out-of-order execution (issue 10): the VMM's and KVM's stores and
# cleans of different lines may now enter the buffer in either order, which added states
# to the variants where they write or clean more than one line (e.g. vmm-cleans 752 ->
# 1120); variants with one guest load and no such host code kept their counts.
KVM_EXTERNAL_L3 = {
    "clean-to-pou": ("reachable", 513, 2305, "0/0/0/0/0/0/0/0/0/0/0/0/0"),
    "clean-to-poc": ("unreachable", 704, 3552, ""),
    "flush-all-by-va-at-first-run": ("unreachable", 880, 4704, ""),
    "flush-all-set-way-at-first-run": ("reachable", 938, 4744, "0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0"),
    "vmm-cleans": ("unreachable", 1120, 6624, ""),
    "fwb": ("unreachable", 640, 3200, ""),
    "hcr-dc": ("unreachable", 1216, 6272, ""),
    "hcr-dc-dma": ("reachable", 71, 246, "0/0/0/0/0/0"),
    "vmm-writes-after-fault": ("reachable", 839, 4070, "0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0"),
    "guest-writes-caches-off": ("reachable", 256, 921, "0/0/0/0/2/1/0"),
    "guest-writes-caches-off-tvm-flush": ("unreachable", 480, 2512, ""),
    "guest-writes-caches-off-tvm-flush-no-dsb": ("reachable", 623, 3168, "0/0/0/0/0/0/1/1/1/0/0/0/0/0/0"),
}

# The benchmark's scalable case explores everything (its bad state is never true),
# so every rule's successors are counted, not just those before a first hit.
# (2, 1) grew from (3144, 15106) when an L1 fill could take a peer's stale clean copy
# (B2.11, issue 11 item 3).
PES_X_LINES = {(1, 2): (1216, 6416), (2, 1): (3180, 15552), (1, 3): (16512, 126656)}


def _benchmark() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "explore_speed.py"
    spec = importlib.util.spec_from_file_location("explore_speed", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("variant", sorted(KVM_EXTERNAL_L3))
def test_kvm_external_l3_state_space_is_pinned(variant: str, explored: Explored) -> None:
    result = explored("kvm-external-l3", variant)
    v = result.verdict
    assert (result.outcome, v.states, v.transitions, v.token) == KVM_EXTERNAL_L3[variant]


@pytest.mark.parametrize("size", sorted(PES_X_LINES))
def test_benchmark_state_space_is_pinned(size: tuple[int, int]) -> None:
    verdict = check(Machine(_benchmark().pes_x_lines(*size)), Budget())
    assert (verdict.outcome.value, verdict.states, verdict.transitions) == ("unreachable", *PES_X_LINES[size])


def dump() -> None:
    """Print the current figures in the form of the tables above."""
    scenario = load_scenario("kvm-external-l3")
    for name, variant in scenario.variants.items():
        v = run_variant(scenario, variant).verdict
        print(f"    {name!r}: ({v.outcome.value!r}, {v.states}, {v.transitions}, {v.token!r}),")
    for size in sorted(PES_X_LINES):
        v = check(Machine(_benchmark().pes_x_lines(*size)), Budget())
        print(f"    {size}: ({v.states}, {v.transitions}),")
