"""Golden files of the witness text: every bundled variant predicted reachable.

The witness is what a reviewer checks line by line against the Arm ARM, and what
users and the README quote, so any change to its words shows up here as a diff of
one plain-text file per variant (``test_witness_golden/<scenario>__<variant>.txt``).
When a change is intended, promote the new text and commit it with the reason:

    .venv/bin/python -m pytest tests/report/test_witness_golden.py --regen-all

(``--regen-all`` rewrites every file and passes; ``--force-regen`` rewrites only
the files that differ and fails those tests once.)  Review ``git diff`` of the
files before committing them.  Verdicts themselves are checked in ``tests/scenarios``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stalecheck.report.witness_text import witness_lines
from stalecheck.runner import Result, load_scenario
from stalecheck.scenarios import BUNDLED
from tests.conftest import Explored

GOLDEN = Path(__file__).with_suffix("")
CASES = [
    (name, variant.name)
    for name in BUNDLED
    for variant in load_scenario(name).variants.values()
    if variant.expect == "reachable"
]


def golden_name(scenario: str, variant: str) -> str:
    return f"{scenario}__{variant}"


def witness_golden_text(result: Result) -> str:
    v = result.verdict
    lines = [f"{result.scenario}/{result.variant}: witness ({len(v.steps)} steps, replay token {v.token}):"]
    lines.extend(witness_lines(v.steps))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("scenario", "variant"), CASES, ids=[f"{s}/{v}" for s, v in CASES])
def test_witness_text_matches_golden(
    scenario: str, variant: str, file_regression: object, explored: Explored
) -> None:
    result = explored(scenario, variant)
    assert result.outcome == "reachable", f"{scenario}/{variant} is predicted reachable"
    file_regression.check(  # type: ignore[attr-defined]
        witness_golden_text(result), basename=golden_name(scenario, variant), extension=".txt"
    )


def test_no_orphan_golden_files() -> None:
    """A golden file whose variant is gone or no longer reachable would hide nothing
    and mislead a reader: each file belongs to a case above."""
    expected = {golden_name(s, v) + ".txt" for s, v in CASES}
    present = {p.name for p in GOLDEN.glob("*.txt")}
    assert present <= expected, f"golden files without a reachable variant: {sorted(present - expected)}"


def test_readme_witness_is_real_output() -> None:
    """The README's abridged witness quotes the real one: every step it shows is the
    golden line of that number (and the golden file is the program's output)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    intro = "A witness (`stalecheck check kvm-external-l3 -v clean-to-pou`):"
    assert intro in readme
    block = readme.split(intro, 1)[1].split("```", 2)[1]
    golden = (GOLDEN / f"{golden_name('kvm-external-l3', 'clean-to-pou')}.txt").read_text().splitlines()
    shown = [line.strip() for line in block.splitlines() if re.match(r"\s+\d+\. ", line)]
    assert len(shown) >= 5, "the README shows a witness"
    for line in shown:
        number = int(line.split(".", 1)[0])
        assert golden[number].strip() == line, f"README step {number}"
    header = next(line.strip() for line in block.splitlines() if line.strip().startswith("witness ("))
    assert golden[0].endswith(header)
