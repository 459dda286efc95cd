"""The machine engine against the axiomatic engine on herd's VMSA catalogue.

Issue 13 part 7.  Every test of ``herd-catalogue/aarch64-VMSA`` that the
machine engine can express (:mod:`stalecheck.crosscheck_vmsa`) runs on both
engines (herd's ``-variant kvm,fatal``); the script prints how many give equal
final-state sets, how many give the machine a subset (its threads run in program
order under translation, unless ``--weak``), every test where the machine reaches a state the
axiomatic engine forbids, the tests where the machine takes a TLB conflict abort
(Arm ARM D8.16.1; herd models none), and what the machine cannot express, grouped
by reason.  ``--json`` prints the same figures as one JSON object.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from crosscheck_ifetch import run

from stalecheck.crosscheck_vmsa import compare

CATALOGUE = (Path(__file__).resolve().parents[1] / "tests" / "data" / "herdtools7" / "herd-catalogue"
             / "aarch64-VMSA" / "tests")


def main(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds per machine search.")] = 60.0,
    weak: Annotated[bool, typer.Option("--weak", help="Out-of-order execution (docs/ordering.md).")] = False,
) -> None:
    """Run every VMSA test on both engines and print the counts."""
    run(CATALOGUE, functools.partial(compare, weak=weak) if weak else compare, as_json, timeout)


if __name__ == "__main__":
    typer.run(main)
