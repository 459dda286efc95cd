"""herd's AArch64 catalogue: every supported test's verdict must equal ``kinds.txt``."""

from __future__ import annotations

import pytest

from tests.litmus.conftest import manifest_rows
from tests.litmus.suite_runner import run_suite, suite_params

SUITE = "herd-catalogue/aarch64"
ROWS = manifest_rows(SUITE)

# Tests where we knowingly disagree with kinds.txt, with the reason.  They run
# as strict xfails: if we start agreeing, the suite tells us to drop the entry.
KNOWN_DIVERGENCES: dict[str, str] = {}

# Floors: raising them is progress, lowering them needs a reason in review.
MIN_SUPPORTED = 73
MIN_AGREEING = 73


@pytest.mark.parametrize("row", suite_params(ROWS, KNOWN_DIVERGENCES))
def test_verdict_matches_kinds(row: dict[str, str]) -> None:
    outcome = run_suite(SUITE)[row["relative_path"]]
    if outcome.unsupported:
        pytest.skip(f"unsupported: {outcome.unsupported}")
    assert not outcome.error, outcome.error
    assert outcome.result is not None
    assert outcome.result.verdict == row["expected"]


def test_supported_and_agreeing_counts_do_not_drop() -> None:
    outcomes = run_suite(SUITE).values()
    supported = [o for o in outcomes if o.result is not None]
    agreeing = [o for o in supported if o.result and o.result.verdict == o.row["expected"]]
    unsupported = sorted(o.row["relative_path"] for o in outcomes if o.unsupported)
    assert len(ROWS) == 73
    assert len(supported) >= MIN_SUPPORTED, f"unsupported now: {unsupported}"
    assert len(agreeing) >= MIN_AGREEING
