"""Run a whole manifest suite once per test session and keep per-test outcomes.

The validation tests and the "supported count" floor tests read the same
outcomes, so each litmus file is checked only once however many tests use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pytest

from stalecheck.axiomatic.check import CheckResult, check_test
from stalecheck.errors import StalecheckError, UnsupportedError
from stalecheck.litmus import parse_file
from tests.litmus.conftest import SHARED, manifest_rows


@dataclass
class SuiteOutcome:
    """One manifest row and what our engine made of it."""

    row: dict[str, str]
    result: CheckResult | None
    unsupported: str = ""
    error: str = ""


@cache
def run_suite(suite: str) -> dict[str, SuiteOutcome]:
    out: dict[str, SuiteOutcome] = {}
    for row in manifest_rows(suite):
        path = SHARED / row["relative_path"]
        try:
            result = check_test(parse_file(path), keep_witness=False)
            out[row["relative_path"]] = SuiteOutcome(row, result)
        except UnsupportedError as exc:
            out[row["relative_path"]] = SuiteOutcome(row, None, unsupported=exc.render())
        except StalecheckError as exc:
            out[row["relative_path"]] = SuiteOutcome(row, None, error=exc.render())
    return out


def suite_params(rows: list[dict[str, str]], divergences: dict[str, str]) -> list[object]:
    """One pytest param per manifest row; a known divergence is a strict xfail, so
    fixing it (or losing agreement elsewhere) fails the run until the list changes."""
    out: list[object] = []
    for r in rows:
        rel = r["relative_path"]
        marks = []
        if rel in divergences:
            marks.append(pytest.mark.xfail(reason=divergences[rel], strict=True))
        out.append(pytest.param(r, id=rel.rsplit("/", 1)[-1], marks=marks))
    return out
