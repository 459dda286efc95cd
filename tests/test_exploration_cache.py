"""The ``explored`` fixture explores each (scenario, variant, budget, options) once."""

from __future__ import annotations

from stalecheck.explore.search import Budget
from tests.conftest import ExplorationCache


def test_a_repeated_question_is_answered_from_the_cache() -> None:
    cache = ExplorationCache()
    first = cache("kvm-external-l3", "hcr-dc-dma")
    assert cache("kvm-external-l3", "hcr-dc-dma") is first
    assert cache.explorations == 1


def test_options_and_budget_are_part_of_the_key() -> None:
    cache = ExplorationCache()
    plain = cache("kvm-external-l3", "hcr-dc-dma")
    pruned = cache("kvm-external-l3", "hcr-dc-dma", prune_dead_lines=True)
    capped = cache("kvm-external-l3", "hcr-dc-dma", Budget(max_states=10))
    assert cache.explorations == 3
    assert pruned.verdict.states <= plain.verdict.states
    assert capped.outcome == "unknown" and plain.outcome == "reachable"
