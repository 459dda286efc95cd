"""Exploration results shared by the witness tests (each variant explored once per
process).  The one place to switch to a session-wide cache of results."""

from __future__ import annotations

from functools import cache

from stalecheck.runner import Result, load_scenario, run_variant


@cache
def explored(scenario: str, variant: str) -> Result:
    """The result of exploring one bundled variant."""
    sc = load_scenario(scenario)
    return run_variant(sc, sc.variants[variant])
