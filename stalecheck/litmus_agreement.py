"""Agreement with herd7, catalogue by catalogue: agree / disagree / unsupported / error.

Each shared catalogue is run with the variants its herd7 CI flags give
(``tests/data/herdtools7/README.md``: ``-variant ifetch``, ``kvm,fatal``,
``mixed``; the others set theirs in each test's header), and every test with
an expected verdict is classified:

* *agree*: the catalogue's verdict (``kinds.txt``), or for herd's own outputs
  (instruction tests, some mixed-size tests) the Observation word and both
  witness counts -- and for ``.expected`` files the whole output -- match;
* *disagree*: we gave a different answer (this must never happen);
* *unsupported*: we refused the test, naming the feature it needs;
* *error*: we reported a user error or timed out on a test herd accepts.

``benchmarks/litmus_agreement.py`` prints the table; the test suite asserts
zero disagreements and errors and floors on the agree counts.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stalecheck.litmus_batch import Outcome, check_path
from stalecheck.report.herd import herd_text, normalise

CLASSES = ("agree", "disagree", "unsupported", "error")


@dataclass(frozen=True)
class Catalogue:
    """One manifest suite, the short name it is reported under, and herd7's variants."""

    name: str
    suite: str
    variants: tuple[str, ...] = ()


CATALOGUES = (
    Catalogue("aarch64", "herd-catalogue/aarch64"),
    Catalogue("instructions", "herd-instructions/AArch64"),
    Catalogue("ifetch", "herd-catalogue/aarch64-ifetch", ("ifetch",)),
    Catalogue("VMSA", "herd-catalogue/aarch64-VMSA", ("kvm", "fatal")),
    Catalogue("ETS2", "herd-catalogue/aarch64-ETS2"),
    Catalogue("ETS3", "herd-catalogue/aarch64-ETS3"),
    Catalogue("faults", "herd-catalogue/aarch64-faults"),
    Catalogue("mixed", "herd-catalogue/aarch64-mixed", ("mixed",)),
)


@dataclass
class Row:
    """One test: what was expected, what we said, and the class."""

    path: str
    expected: str
    got: str
    klass: str
    detail: str = ""


@dataclass
class Tally:
    """A catalogue's counts per class, with its rows for the details."""

    catalogue: Catalogue
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    worst: tuple[float, str] = (0.0, "")  # the slowest test: seconds, path

    def count(self, klass: str) -> int:
        return sum(1 for r in self.rows if r.klass == klass)


def manifest_rows(root: Path, suite: str) -> list[dict[str, str]]:
    with (root / "manifest.tsv").open(newline="") as fh:
        return [r for r in csv.DictReader(fh, delimiter="\t") if r["suite"] == suite]


def classify(root: Path, row: dict[str, str], outcome: Outcome) -> Row:
    """Compare one outcome with its manifest row."""
    rel, expected = row["relative_path"], row["expected"]
    if outcome.status == "unsupported":
        return Row(rel, expected, "", "unsupported", outcome.message.splitlines()[0])
    result = outcome.result
    if outcome.status in ("error", "timeout") or result is None:
        return Row(rel, expected, outcome.status, "error", outcome.message.splitlines()[0])
    if expected in ("Always", "Sometimes", "Never"):
        got = f"{result.observation} {result.p_true} {result.p_false}"
        want = f"{expected} {row['positive']} {row['negative']}"
        expected_file = root / (rel + ".expected")
        if expected_file.is_file():
            same = normalise(herd_text(result)) == normalise(expected_file.read_text())
            detail = "" if same else "output differs from .expected"
            if same != (got == want):
                same = False
        else:
            same, detail = got == want, ""
        return Row(rel, want, got, "agree" if same else "disagree", detail)
    got = result.verdict
    return Row(rel, expected, got, "agree" if got == expected else "disagree")


def run_catalogue(root: Path, cat: Catalogue, timeout: float | None = 60.0) -> Tally:
    """Check every test of one catalogue that has an expected verdict."""
    tally = Tally(cat)
    for row in manifest_rows(root, cat.suite):
        outcome = check_path(
            str(root / row["relative_path"]), timeout, keep_result=True, variants=cat.variants
        )
        tally.seconds += outcome.seconds
        tally.worst = max(tally.worst, (outcome.seconds, row["relative_path"]))
        tally.rows.append(classify(root, row, outcome))
    return tally


def run_all(root: Path, timeout: float | None = 60.0) -> Iterator[Tally]:
    for cat in CATALOGUES:
        yield run_catalogue(root, cat, timeout)


def table(tallies: list[Tally]) -> str:
    """The counts as a Markdown table (for docs and reports)."""
    lines = ["| catalogue | tests | agree | disagree | unsupported | error | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in tallies:
        counts = " | ".join(str(t.count(k)) for k in CLASSES)
        lines.append(f"| {t.catalogue.name} | {len(t.rows)} | {counts} | {t.seconds:.2f} |")
    return "\n".join(lines)
