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
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from stalecheck.crosscheck_ifetch import compare
from stalecheck.errors import StalecheckError
from stalecheck.explore.search import Budget
from stalecheck.litmus import ast
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


def run(catalogue: Path, compare: Callable[[ast.LitmusTest, Budget], Any], as_json: bool,
        timeout: float) -> None:
    """Every test of ``catalogue`` on both engines; print the counts (shared with the VMSA
    cross-check, benchmarks/crosscheck_vmsa.py)."""
    kinds: dict[str, list[str]] = {"equal": [], "subset": [], "machine-only": [], "incomplete": []}
    refused: dict[str, list[str]] = {}
    conflicts: list[str] = []  # machine states with a TLB conflict abort (VMSA; no herd kind)
    start = time.perf_counter()
    for path in sorted(catalogue.rglob("*.litmus")):
        name = str(path.relative_to(catalogue))
        try:
            c = compare(parse_file(path), Budget(timeout=timeout))
        except StalecheckError as exc:
            refused.setdefault(_reason(exc.message), []).append(name)
            continue
        kinds[c.kind if c.complete or c.kind == "machine-only" else "incomplete"].append(name)
        if getattr(c, "tlb_conflict", None):
            conflicts.append(name)
    seconds = round(time.perf_counter() - start, 1)
    if as_json:
        typer.echo(json.dumps({"counts": {k: len(v) for k, v in kinds.items()},
                               "machine_only": kinds["machine-only"],
                               "tlb_conflict": conflicts,
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
    if conflicts:
        typer.echo(f"  with a TLB conflict abort on the machine (herd has none): {len(conflicts)}")
        for name in conflicts:
            typer.echo(f"    {name}")
    typer.echo("not expressible:")
    for reason, names in sorted(refused.items(), key=lambda kv: -len(kv[1])):
        typer.echo(f"  {len(names):4}  {reason}")


def main(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds per machine search.")] = 120.0,
) -> None:
    """Run every ifetch test on both engines and print the counts."""
    run(CATALOGUE, compare, as_json, timeout)


if __name__ == "__main__":
    typer.run(main)
