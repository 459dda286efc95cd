"""Every fcvm-vsock-nv2 variant's explored verdict matches its ``expect``."""

import pytest

from stalecheck.report.witness_text import witness_lines
from stalecheck.runner import load_scenario, run_variant

SCENARIO = load_scenario("fcvm-vsock-nv2")


@pytest.mark.parametrize("name", list(SCENARIO.variants))
def test_variant_verdict(name: str) -> None:
    variant = SCENARIO.variants[name]
    result = run_variant(SCENARIO, variant)
    assert result.outcome == variant.expect, "\n".join(witness_lines(result.steps))
    if result.outcome == "reachable":
        assert result.verdict.steps
