"""How much partial-order and symmetry reduction save, and that they change no verdict.

    .venv/bin/python benchmarks/por_factor.py                 # table, every bundled scenario
    .venv/bin/python benchmarks/por_factor.py xen-set-way     # some scenarios
    .venv/bin/python benchmarks/por_factor.py --json          # one JSON object per variant
    .venv/bin/python benchmarks/por_factor.py --case identical-vcpus --size 3x1
    .venv/bin/python benchmarks/por_factor.py --case two-vcpu-guest --size 2x1x0 --timeout 60

For each variant (or benchmark case): the plain breadth-first search, the reduced
one (``--por``), the symmetric one (``--symmetry``) and both together, with their
verdicts, distinct states, CPU seconds, and the reduction factors (plain states /
reduced states; reachable variants stop at the first bad state, so their factor
compares searches that stopped at different places).  A variant whose verdicts
differ is printed as MISMATCH and makes the script exit 1.  Where a scenario has no
symmetry (none of the bundled ones has: a host and a guest never run one program)
the symmetric searches are the plain and reduced ones, and the table says "none".

``--case`` takes ``identical-vcpus`` (below: ``n`` vCPUs running one program over
a shared line and ``m`` lines of their own, declared interchangeable) or any case of
``benchmarks/explore_speed.py`` (e.g. ``two-vcpu-guest``), explored whole (their bad
state is never true).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from stalecheck.explore.reduced import SearchMode
from stalecheck.explore.search import Budget, check
from stalecheck.explore.verdict import Verdict
from stalecheck.machine import symmetry
from stalecheck.machine.por import PartialOrder
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario, run_variant
from stalecheck.scenarios import registry
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.support.policies import map_on_fault

MODES = {
    "por": SearchMode(por=True),
    "sym": SearchMode(symmetry=True),
    "both": SearchMode(por=True, symmetry=True),
}


def identical_vcpus(vcpus: int, own: int) -> SystemSpec:
    """``vcpus`` vCPUs of one VM, one per PE, each storing to a shared line X and to
    ``own`` lines of its own, cleaning X to the PoU, ``DSB SY`` and reading X and its
    first own line back; stage-2 faults map pages with a clean to the PoC.  The
    vCPUs (with their lines) are declared interchangeable; with ``own=0`` the symmetry
    is found without the declaration.  The vCPUs run in program order."""
    b = Builder()
    b.system(pes=vcpus, system_cache=True, louu=1, loc=1)
    b.page("P", "X", vm="vm")
    mine = [[f"Y{p}x{j}" for j in range(own)] for p in range(vcpus)]
    for p in range(vcpus):
        for name in mine[p]:
            b.page(f"Q{name}", name, vm="vm")
    b.vm("vm", on_stage2_fault=map_on_fault(clean="poc", invalidate=True))
    for p in range(vcpus):
        program = ["STR X, 1", *(f"STR {name}, 1" for name in mine[p]), "DC CVAU X", "DSB SY", "LDR r1, X"]
        program += [f"LDR r2, {mine[p][0]}"] if own else []
        b.guest(f"vcpu{p}", "\n".join(program), vm="vm", pe=p)
    if own:
        b.interchangeable(*[(f"vcpu{p}", *mine[p]) for p in range(vcpus)])
    # In program order, as when the README's figures were taken (and lines are interchanged
    # only in program order, machine/symmetry.py).
    b.options(weak_ordering=False)
    b.bad_when(lambda v: False, "never: the benchmark explores the whole space")
    return b.build()


def _case(name: str) -> Callable[..., SystemSpec]:
    if name == "identical-vcpus":
        return identical_vcpus
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from explore_speed import CASES  # type: ignore[import-not-found]

    if name not in CASES:
        raise SystemExit(f"unknown case {name!r} (identical-vcpus, {', '.join(sorted(CASES))})")
    build: Callable[..., SystemSpec] = CASES[name][0]
    return build


def _timed(fn: Callable[[], Verdict]) -> tuple[Verdict, float]:
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def _search(machine: Machine, mode: SearchMode | None, timeout: float | None) -> Verdict:
    return check(
        machine,
        Budget(timeout=timeout),
        sanity=machine.is_complete,
        mode=mode,
        reducer=lambda seen: PartialOrder(machine, seen),
        symmetry=lambda: symmetry.find(machine),
    )


def _row(label: str, runs: dict[str, tuple[Verdict, float]]) -> dict[str, Any]:
    plain = runs["plain"][0]
    row: dict[str, Any] = {"variant": label, "verdict": plain.outcome.value, "states": plain.states}
    row["seconds"] = round(runs["plain"][1], 2)
    for key, (v, seconds) in runs.items():
        if key == "plain":
            continue
        row[f"verdict_{key}"] = v.outcome.value
        row[f"states_{key}"] = v.states
        row[f"factor_{key}"] = round(plain.states / max(1, v.states), 2)
        row[f"seconds_{key}"] = round(seconds, 2)
        row[f"reduction_{key}"] = v.reduction
    return row


def _print(row: dict[str, Any], as_json: bool) -> bool:
    """Print one row; whether the verdicts agree (an unknown one agrees with anything)."""
    outcomes = {row["verdict"], *(row[f"verdict_{k}"] for k in MODES)} - {"unknown"}
    same = len(outcomes) <= 1
    if as_json:
        print(json.dumps(row), flush=True)
        return same
    verdict = (
        row["verdict"]
        if same
        else "MISMATCH " + "/".join(row[f"verdict_{k}"] for k in MODES)
    )
    cells = []
    for key in MODES:
        sym_off = key != "por" and not row[f"reduction_{key}"].endswith(")")  # "... (group size)"
        factor = "none" if sym_off else f"{row[f'factor_{key}']:.2f}"
        cells.append(f"{row[f'states_{key}']:>9,} {factor:>6} {row[f'seconds_{key}']:>6.2f}")
    print(
        f"{row['variant']:52} {verdict:12} {row['states']:>9,} {row['seconds']:>6.2f}  " + "  ".join(cells),
        flush=True,
    )
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="scenario names (default: every bundled one)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--case", help="a benchmark case instead of the bundled scenarios")
    parser.add_argument("--size", default="3x1", help="the case's size, e.g. 3x1 or 2x1x0")
    parser.add_argument("--timeout", type=float, help="CPU seconds per search (a case may be too big)")
    parser.add_argument(
        "--modes", default=",".join(MODES), help="which reduced searches to run (default: por,sym,both)"
    )
    args = parser.parse_args()
    for key in [k for k in MODES if k not in args.modes.split(",")]:
        del MODES[key]
    bad = 0
    if not args.json:
        head = "  ".join(f"{'states':>9} {'factor':>6} {'s':>6}" for _ in MODES)
        titles = {"por": "--por", "sym": "--symmetry", "both": "both"}
        print(f"{'':52} {'':12} {'plain':>16}  " + "  ".join(f"{titles[k]:^23}" for k in MODES))
        print(f"{'variant':52} {'verdict':12} {'states':>9} {'s':>6}  {head}")
    if args.case:
        size = tuple(int(x) for x in args.size.split("x"))
        machine = Machine(_case(args.case)(*size))
        runs = {"plain": _timed(lambda: _search(machine, None, args.timeout))}
        for key, mode in MODES.items():
            runs[key] = _timed(lambda mode=mode: _search(machine, mode, args.timeout))  # type: ignore[misc]
        return 0 if _print(_row(f"{args.case} {args.size}", runs), args.json) else 1
    total = {key: 0 for key in ("plain", *MODES)}
    for name in args.only or list(registry.bundled()):
        sc = load_scenario(name)
        for vname, variant in sc.variants.items():
            runs = {"plain": _timed(lambda: run_variant(sc, variant).verdict)}  # noqa: B023
            for key, mode in MODES.items():
                runs[key] = _timed(lambda mode=mode: run_variant(sc, variant, mode=mode).verdict)  # type: ignore[misc]  # noqa: B023
            for key in total:
                total[key] += runs[key][0].states
            bad += not _print(_row(f"{name}/{vname}", runs), args.json)
    if not args.json:
        factors = "  ".join(
            f"{total[k]:>9,} {total['plain'] / max(1, total[k]):>6.2f} {'':>6}" for k in MODES
        )
        print(f"{'all variants':52} {'':12} {total['plain']:>9,} {'':>6}  {factors}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
