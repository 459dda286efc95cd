"""Per-catalogue agreement with herd7: agree / disagree / unsupported / error counts.

Runs every shared herd catalogue (aarch64, instructions, ifetch, VMSA, ETS2,
ETS3, faults, mixed) with herd7's CI variants and prints one Markdown table,
or with ``--json`` one JSON object; ``--details`` also lists every test that
is not *agree* with the reason.  The classification is
:mod:`stalecheck.litmus_agreement`; ``tests/litmus/test_agreement.py`` asserts
the same counts (no disagreement, agree-floors).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from stalecheck.litmus_agreement import CLASSES, Tally, run_all, table

HERD = Path(__file__).resolve().parents[1] / "tests" / "data" / "herdtools7"  # vendored herd7 data


def main(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    details: Annotated[bool, typer.Option("--details", help="List non-agreeing tests.")] = False,
    root: Annotated[Path, typer.Option(help="The herd data (manifest.tsv).")] = HERD,
) -> None:
    """Run every catalogue and print the counts."""
    tallies: list[Tally] = list(run_all(root))
    if as_json:
        typer.echo(json.dumps({
            t.catalogue.name: {k: t.count(k) for k in CLASSES}
            | {"tests": len(t.rows), "seconds": round(t.seconds, 3)}
            for t in tallies
        }))
    else:
        typer.echo(table(tallies))
    if details:
        for t in tallies:
            for r in t.rows:
                if r.klass != "agree":
                    typer.echo(f"{t.catalogue.name}\t{r.klass}\t{r.path}\t{r.expected}\t"
                               f"{r.got}\t{r.detail}")


if __name__ == "__main__":
    typer.run(main)
