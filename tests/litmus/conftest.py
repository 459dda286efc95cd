"""Shared fixtures: the herd test data lives beside the repository, in ``../shared/litmus``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "litmus"


def manifest_rows(suite: str) -> list[dict[str, str]]:
    """Rows of ``manifest.tsv`` for one suite (the data must exist: missing data fails)."""
    manifest = SHARED / "manifest.tsv"
    assert manifest.is_file(), f"litmus data not found at {manifest}"
    with manifest.open(newline="") as fh:
        return [r for r in csv.DictReader(fh, delimiter="\t") if r["suite"] == suite]


@pytest.fixture(scope="session")
def shared() -> Path:
    assert SHARED.is_dir(), f"litmus data not found at {SHARED}"
    return SHARED
