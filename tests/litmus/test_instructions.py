"""herd's per-instruction tests: final states and the Observation line must equal ``.expected``.

Unsupported tests are skipped but counted: a floor on the supported count
makes any regression in coverage fail the suite, and the list of unsupported
instructions is printed by :func:`test_unsupported_are_listed`.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from stalecheck.report.herd import herd_text, normalise, parse_expected
from tests.litmus.conftest import SHARED, manifest_rows
from tests.litmus.suite_runner import run_suite, suite_params

SUITE = "herd-instructions/AArch64"
ROWS = manifest_rows(SUITE)

MIN_SUPPORTED = 277
MIN_AGREEING = 277

# Known disagreements with herd, run as strict xfails (agreeing again fails the run).
KNOWN_DIVERGENCES: dict[str, str] = {}


def _compare(relative: str) -> list[str]:
    outcome = run_suite(SUITE)[relative]
    assert outcome.result is not None
    expected = parse_expected((SHARED / (relative + ".expected")).read_text())
    got = parse_expected(herd_text(outcome.result))
    return [k for k in ("states", "observation", "positive", "negative", "ok", "condition")
            if expected.get(k) != got.get(k)]


@pytest.mark.parametrize("row", suite_params(ROWS, KNOWN_DIVERGENCES))
def test_states_and_observation_match_expected(row: dict[str, str]) -> None:
    rel = row["relative_path"]
    outcome = run_suite(SUITE)[rel]
    if outcome.unsupported and rel not in KNOWN_DIVERGENCES:
        pytest.skip(f"unsupported: {outcome.unsupported}")
    assert not outcome.error, outcome.error
    assert not outcome.unsupported
    expected = parse_expected((SHARED / (rel + ".expected")).read_text())
    assert outcome.result is not None
    got = parse_expected(herd_text(outcome.result))
    assert got["states"] == expected["states"]
    assert got["observation"] == expected["observation"]
    assert (got["positive"], got["negative"]) == (expected["positive"], expected["negative"])
    assert got["ok"] == expected["ok"]
    assert got["condition"] == expected["condition"]
    # And the whole output, line by line and space by space (herd starts a state of
    # faults only with a space), once Time/Hash lines and trailing blanks are dropped.
    ours = normalise(herd_text(outcome.result))
    theirs = normalise((SHARED / (rel + ".expected")).read_text())
    assert ours == theirs


def test_supported_count_does_not_drop() -> None:
    outcomes = run_suite(SUITE)
    supported = [rel for rel, o in outcomes.items() if o.result is not None]
    agreeing = [rel for rel in supported if not _compare(rel)]
    assert len(ROWS) == 278
    assert len(supported) >= MIN_SUPPORTED
    assert len(agreeing) >= MIN_AGREEING


def test_unsupported_are_listed() -> None:
    """Every unsupported test names what it needs; the tally is printed for the report."""
    reasons = Counter()
    for outcome in run_suite(SUITE).values():
        if outcome.unsupported:
            m = re.search(r"instruction (\S+) is not supported", outcome.unsupported)
            reasons[m.group(1) if m else outcome.unsupported.split(": ", 1)[-1][:60]] += 1
            assert "not supported" in outcome.unsupported
    print("unsupported:", dict(sorted(reasons.items())))
