"""The vendored herd7 data (``tests/data/herdtools7``) is whole and in step with the team's copy."""

from __future__ import annotations

import csv

import pytest

from tests.data import HERDTOOLS7
from tests.data.sync_herdtools7 import UPSTREAM, differences

UPSTREAM_COMMIT = "5feffe4e8f98d93b60144a3cda322eba92dd9723"


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason=f"no team copy at {UPSTREAM} (a bare clone)")
def test_vendored_copy_in_step_with_the_team_copy() -> None:
    diff = differences(UPSTREAM, HERDTOOLS7)
    assert not diff, "re-sync with `make sync-herd`:\n" + "\n".join(diff[:20])


def test_every_manifest_row_names_a_vendored_file() -> None:
    with (HERDTOOLS7 / "manifest.tsv").open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert len(rows) > 1000
    missing = [r["relative_path"] for r in rows if not (HERDTOOLS7 / r["relative_path"]).is_file()]
    assert not missing, missing[:10]


def test_licence_and_upstream_commit_travel_with_the_data() -> None:
    assert "CeCILL-B" in (HERDTOOLS7 / "LICENSE-herdtools7.txt").read_text()
    assert UPSTREAM_COMMIT in (HERDTOOLS7 / "README.md").read_text()
