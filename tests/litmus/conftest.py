"""Shared fixtures: the herd7 test data vendored in ``tests/data/herdtools7``."""

from __future__ import annotations

import csv

from tests.data import HERDTOOLS7

HERD = HERDTOOLS7
SHARED = HERD  # the former name (the data used to sit in ../shared/litmus); branches in flight import it


def manifest_rows(suite: str) -> list[dict[str, str]]:
    """Rows of ``manifest.tsv`` for one suite (the data must exist: missing data fails)."""
    manifest = HERD / "manifest.tsv"
    assert manifest.is_file(), f"litmus data not found at {manifest}"
    with manifest.open(newline="") as fh:
        return [r for r in csv.DictReader(fh, delimiter="\t") if r["suite"] == suite]

