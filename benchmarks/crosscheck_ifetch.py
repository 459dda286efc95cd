"""The machine engine against the axiomatic engine on herd's instruction-fetch catalogue.

Issue 13 part 7.  Every test of ``herd-catalogue/aarch64-ifetch`` that the
machine engine can express (:mod:`stalecheck.crosscheck_ifetch`) runs on both
engines; the script prints how many give equal final-state sets, how many give
the machine a subset (it keeps ``EXEC`` in program order), and every test where
the machine reaches a state the axiomatic engine forbids (a bug in one of the
two), then what the machine engine cannot express, grouped by reason.
``--json`` prints the same figures as one JSON object.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from stalecheck.crosscheck_ifetch import compare
from stalecheck.errors import StalecheckError
from stalecheck.explore.search import Budget
from stalecheck.litmus.parser import parse_file

CATALOGUE = (Path(__file__).resolve().parents[1] / "tests" / "data" / "herdtools7" / "herd-catalogue"
             / "aarch64-ifetch" / "tests")


PREFIX = "not expressible in the machine engine: "


def _reason(message: str) -> str:
    """The kind of thing refused, without the instruction's operands; tests the axiomatic
    engine refuses are grouped under "axiomatic: ..."."""
    if not message.startswith(PREFIX):
        return "axiomatic: " + message.split(" (")[0]
    why = message[len(PREFIX):].split(" in ")[0].split(" (")[0]
    return why.split(" ")[0] + " " + why.split(" ")[1] if why.startswith("instruction") else why


def main(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds per machine search.")] = 120.0,
) -> None:
    """Run every ifetch test on both engines and print the counts."""
    kinds: dict[str, list[str]] = {"equal": [], "subset": [], "machine-only": [], "incomplete": []}
    refused: dict[str, list[str]] = {}
    start = time.perf_counter()
    for path in sorted(CATALOGUE.rglob("*.litmus")):
        name = str(path.relative_to(CATALOGUE))
        try:
            c = compare(parse_file(path), Budget(timeout=timeout))
        except StalecheckError as exc:
            refused.setdefault(_reason(exc.message), []).append(name)
            continue
        kinds[c.kind if c.complete or c.kind == "machine-only" else "incomplete"].append(name)
    seconds = round(time.perf_counter() - start, 1)
    if as_json:
        typer.echo(json.dumps({"counts": {k: len(v) for k, v in kinds.items()},
                               "machine_only": kinds["machine-only"],
                               "refused": {k: len(v) for k, v in refused.items()},
                               "seconds": seconds}))
        return
    expressed = sum(len(v) for v in kinds.values())
    typer.echo(f"{expressed} of {expressed + sum(map(len, refused.values()))} tests expressed "
               f"({seconds} s)")
    for k, names in kinds.items():
        typer.echo(f"  {k}: {len(names)}")
    for name in kinds["machine-only"]:
        typer.echo(f"    machine-only states: {name}")
    typer.echo("not expressible:")
    for reason, names in sorted(refused.items(), key=lambda kv: -len(kv[1])):
        typer.echo(f"  {len(names):4}  {reason}")


if __name__ == "__main__":
    typer.run(main)
