"""Throughput of the axiomatic engine on herd's suites and on generated n-thread tests.

Prints, for the AArch64 catalogue and the per-instruction suite: tests per
second, median and worst time per test, in one process and with ``-j 2``;
then how the time per test grows with the number of threads for generated
message-passing chains (ISA2-like) and IRIW-like tests.  ``--json`` prints
the same figures as one JSON object.  Reference point: herd7 checks the 73
catalogue tests in well under a second.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from stalecheck.axiomatic.check import check_test
from stalecheck.litmus import parse_litmus
from stalecheck.litmus.generate import iriw, mp_chain
from stalecheck.litmus_batch import check_path, run_batch

HERD = Path(__file__).resolve().parents[1] / "tests" / "data" / "herdtools7"  # vendored herd7 data


def _suite_files(suite: str) -> list[Path]:
    with (HERD / "manifest.tsv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["suite"] == suite]
    return [HERD / r["relative_path"] for r in rows]


def _measure_suite(files: list[Path]) -> dict[str, Any]:
    times: list[float] = []
    statuses: dict[str, int] = {}
    cpu_start = time.process_time()
    start = time.perf_counter()
    for f in files:
        t0 = time.perf_counter()
        outcome = check_path(str(f))
        times.append(time.perf_counter() - t0)
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    single = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    start = time.perf_counter()
    run_batch(files, jobs=2)
    parallel = time.perf_counter() - start
    return {
        "tests": len(files),
        "statuses": statuses,
        "single_seconds": round(single, 4),
        "single_cpu_seconds": round(cpu, 4),
        "single_tests_per_second": round(len(files) / single, 1),
        "median_ms": round(statistics.median(times) * 1000, 3),
        "worst_ms": round(max(times) * 1000, 3),
        "j2_seconds": round(parallel, 4),
        "j2_tests_per_second": round(len(files) / parallel, 1),
    }


def _growth(make: Any, sizes: range) -> list[dict[str, Any]]:
    out = []
    for n in sizes:
        test = parse_litmus(make(n), f"<{make.__name__}{n}>")
        t0 = time.perf_counter()
        result = check_test(test, keep_witness=False)
        out.append({
            "threads": n,
            "seconds": round(time.perf_counter() - t0, 4),
            "executions": result.executions,
            "verdict": result.verdict,
        })
    return out


def main(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    max_threads: Annotated[int, typer.Option(help="Largest generated test.")] = 6,
) -> None:
    """Run the benchmark and print the figures."""
    figures: dict[str, Any] = {
        "catalogue": _measure_suite(_suite_files("herd-catalogue/aarch64")),
        "instructions": _measure_suite(_suite_files("herd-instructions/AArch64")),
        "growth": {
            "mp_chain": _growth(mp_chain, range(2, max_threads + 1)),
            "iriw": _growth(iriw, range(3, max_threads + 1)),
        },
    }
    if as_json:
        typer.echo(json.dumps(figures))
        return
    for name in ("catalogue", "instructions"):
        f = figures[name]
        typer.echo(
            f"{name}: {f['tests']} tests {f['statuses']}\n"
            f"  1 process: {f['single_seconds']:.3f} s ({f['single_cpu_seconds']:.3f} s CPU), "
            f"{f['single_tests_per_second']} tests/s, "
            f"median {f['median_ms']} ms, worst {f['worst_ms']} ms\n"
            f"  -j 2:      {f['j2_seconds']:.3f} s, {f['j2_tests_per_second']} tests/s"
        )
    for shape, rows in figures["growth"].items():
        typer.echo(f"{shape}: " + ", ".join(
            f"{r['threads']} threads {r['seconds'] * 1000:.1f} ms ({r['executions']} execs)"
            for r in rows
        ))


if __name__ == "__main__":
    typer.run(main)
