"""Session-wide fixtures.

``explored`` is the exploration cache: exploring a bundled variant costs from a
few milliseconds to tens of seconds, and several tests ask about the same
variant (its verdict against the prediction, its pinned state count, its
witness, its cost, the reduction compared with it).  Ask the fixture instead of
calling ``run_variant`` and each variant is explored at most once per pytest
process (``make test`` runs two processes, pytest-xdist ``-n 2``, so a variant
may be explored once in each)::

    def test_something(explored: Explored) -> None:
        result = explored("kvm-external-l3", "clean-to-pou")            # runner.Result
        reduced = explored("kvm-external-l3", "clean-to-pou", prune_dead_lines=True)

The key is (scenario, variant, budget, options): keyword arguments are
``Options`` fields set on top of the variant's own (``Builder.options``), so a
reduced or otherwise re-optioned exploration is cached apart from the plain one.
A ``Result`` is frozen; treat its lists as read-only, since other tests share it.

Under pytest-xdist with ``--dist loadgroup`` (``make test``), the tests whose
parameters name a ``scenario`` and a ``variant`` are grouped by that pair, so
they land on one worker and the variant is explored once in the whole run.
"""

from __future__ import annotations

from typing import Any, Protocol

import pytest

from stalecheck.explore.search import Budget
from stalecheck.runner import Result, load_scenario, run_variant
from stalecheck.scenarios.builder import Builder, Variant


class Explored(Protocol):
    """The type of the ``explored`` fixture (import it from ``tests.conftest`` for annotations)."""

    def __call__(self, scenario: str, variant: str, budget: Budget = ..., **options: Any) -> Result: ...


def _with_options(variant: Variant, options: dict[str, Any]) -> Variant:
    """The variant with ``options`` applied after its own build function."""

    def build(b: Builder) -> None:
        variant.build_fn(b)
        b.options(**options)

    return Variant(variant.name, variant.summary, variant.expect, build)


class ExplorationCache:
    """Results by (scenario, variant, budget, options), with a count of real explorations."""

    def __init__(self) -> None:
        self.results: dict[tuple[str, str, Budget, tuple[tuple[str, Any], ...]], Result] = {}
        self.explorations = 0

    def __call__(self, scenario: str, variant: str, budget: Budget = Budget(), **options: Any) -> Result:
        key = (scenario, variant, budget, tuple(sorted(options.items())))
        if key not in self.results:
            sc = load_scenario(scenario)
            v = sc.variants[variant]
            self.explorations += 1
            self.results[key] = run_variant(sc, _with_options(v, options) if options else v, budget)
        return self.results[key]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if "explored" in getattr(item, "fixturenames", ()) and {"scenario", "variant"} <= params.keys():
            item.add_marker(pytest.mark.xdist_group(f"{params['scenario']}/{params['variant']}"))


@pytest.fixture(scope="session")
def explored() -> Explored:
    """Explore a bundled variant once per process and hand every test the same ``Result``."""
    return ExplorationCache()
