"""Throughput of the axiomatic engine on herd's suites and on generated n-thread tests.

Prints, for the AArch64 catalogue and the per-instruction suite: tests per
second, median and worst time per test, in one process and with ``-j 2``;
then how the time per test grows with the number of threads for generated
message-passing chains (ISA2-like) and IRIW-like tests; the time of each
shared catalogue (with herd7's CI variants); and the start-up time of one
``stalecheck litmus ONE.litmus`` process.  ``--json`` prints
the same figures as one JSON object.  Reference point: herd7 checks the 73
catalogue tests in well under a second.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from stalecheck.axiomatic.check import check_test
from stalecheck.litmus import parse_litmus
from stalecheck.litmus.generate import iriw, mp_chain
from stalecheck.litmus_agreement import CATALOGUES, run_catalogue
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


def _cat_vs_builtin(files: list[Path]) -> dict[str, Any]:
    """Per-test time of ``--cat aarch64.cat`` (herd's model, interpreted) over the built-in model's,
    on the tests the built-in model decides (the same engine enumerates candidates for both)."""
    from stalecheck.cat.engine_model import model_for_test
    from stalecheck.cat.program import vendored_dir
    from stalecheck.errors import StalecheckError
    from stalecheck.litmus import parse_file

    cat = model_for_test(str(vendored_dir() / "aarch64.cat"))
    ratios: list[float] = []
    builtin = interpreted = 0.0
    for f in files:
        test = parse_file(f)
        t0 = time.perf_counter()
        try:
            check_test(test, keep_witness=False)
        except StalecheckError:
            continue
        t1 = time.perf_counter()
        check_test(test, keep_witness=False, model_for=cat)
        t2 = time.perf_counter()
        builtin, interpreted = builtin + t1 - t0, interpreted + t2 - t1
        ratios.append((t2 - t1) / max(t1 - t0, 1e-9))
    return {
        "tests": len(ratios),
        "builtin_seconds": round(builtin, 3),
        "cat_seconds": round(interpreted, 3),
        "median_ratio": round(statistics.median(ratios), 1),
        "worst_ratio": round(max(ratios), 1),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _startup(runs: int) -> dict[str, Any]:
    """Wall time of whole ``stalecheck litmus ONE.litmus`` processes, as a script running
    one process per test sees it (hyperfine-style: repeated, min and median), next to
    a bare interpreter start, for the fast path and for the full CLI (``--json``)."""
    one = str(HERD / "herd-catalogue" / "aarch64" / "tests" / "MP+dmb.sys.litmus")
    commands = {
        "python_bare": [sys.executable, "-c", "pass"],
        "litmus_one_file": [sys.executable, "-m", "stalecheck", "litmus", one],
        "litmus_one_file_full_cli": [sys.executable, "-m", "stalecheck", "litmus", "--json", one],
    }
    # As installed by pip: with byte-code caches (the dev shell may set
    # PYTHONDONTWRITEBYTECODE, which makes every start compile every module).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    package = Path(__file__).resolve().parents[1] / "stalecheck"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], env=env,
                   stdout=subprocess.DEVNULL, check=True)
    out: dict[str, Any] = {"file": "MP+dmb.sys.litmus", "runs": runs}
    for name, cmd in commands.items():
        subprocess.run(cmd, stdout=subprocess.DEVNULL, env=env, check=True)  # warm caches
        times, cpus = [], []
        for _ in range(runs):
            c0, t0 = _children_cpu(), time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, env=env, check=True)
            times.append(time.perf_counter() - t0)
            cpus.append(_children_cpu() - c0)
        out[name] = {
            "min_s": round(min(times), 4), "median_s": round(statistics.median(times), 4),
            "cpu_min_s": round(min(cpus), 4),  # less sensitive to a busy machine than wall time
        }
    return out


def _catalogues() -> dict[str, Any]:
    """Each shared catalogue in one process, with herd7's CI variants (sum of per-test times)."""
    out = {}
    for cat in CATALOGUES:
        tally = run_catalogue(HERD, cat)
        out[cat.name] = {
            "tests": len(tally.rows),
            "decided": len(tally.rows) - tally.count("unsupported"),
            "seconds": round(tally.seconds, 3),
            "worst_test_s": round(tally.worst[0], 3),
            "worst_test": tally.worst[1].rsplit("/", 1)[-1],
        }
    return out


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
    startup_runs: Annotated[int, typer.Option(help="Processes per start-up figure.")] = 20,
    catalogues_only: Annotated[bool, typer.Option(
        "--catalogues-only", help="Only the start-up time and each catalogue's time.")] = False,
) -> None:
    """Run the benchmark and print the figures."""
    figures: dict[str, Any] = {
        "startup": _startup(startup_runs),
        "catalogues": _catalogues(),
    }
    if catalogues_only:
        typer.echo(json.dumps(figures) if as_json else _startup_text(figures) + "\n"
                   + _catalogues_text(figures))
        return
    figures |= {
        "catalogue": _measure_suite(_suite_files("herd-catalogue/aarch64")),
        "instructions": _measure_suite(_suite_files("herd-instructions/AArch64")),
        "cat_vs_builtin": {
            "catalogue": _cat_vs_builtin(_suite_files("herd-catalogue/aarch64")),
            "instructions": _cat_vs_builtin(_suite_files("herd-instructions/AArch64")),
        },
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
    for name, f in figures["cat_vs_builtin"].items():
        typer.echo(
            f"--cat aarch64.cat on {name}: {f['tests']} tests, {f['cat_seconds']} s vs built-in "
            f"{f['builtin_seconds']} s, per test {f['median_ratio']}x (median), {f['worst_ratio']}x (worst)"
        )
    typer.echo(_startup_text(figures))
    typer.echo(_catalogues_text(figures))
    for shape, rows in figures["growth"].items():
        typer.echo(f"{shape}: " + ", ".join(
            f"{r['threads']} threads {r['seconds'] * 1000:.1f} ms ({r['executions']} execs)"
            for r in rows
        ))


def _startup_text(figures: dict[str, Any]) -> str:
    s = figures["startup"]
    return (
        f"start-up ({s['runs']} runs, min/median): bare python "
        f"{s['python_bare']['min_s']:.3f}/{s['python_bare']['median_s']:.3f} s, "
        f"litmus {s['file']} {s['litmus_one_file']['min_s']:.3f}/"
        f"{s['litmus_one_file']['median_s']:.3f} s (CPU {s['litmus_one_file']['cpu_min_s']:.3f} s), "
        f"full CLI (--json) "
        f"{s['litmus_one_file_full_cli']['min_s']:.3f}/"
        f"{s['litmus_one_file_full_cli']['median_s']:.3f} s"
    )


def _catalogues_text(figures: dict[str, Any]) -> str:
    return "catalogues (1 process): " + ", ".join(
        f"{name} {c['seconds']:.2f} s ({c['decided']}/{c['tests']} decided, slowest "
        f"{c['worst_test']} {c['worst_test_s']:.2f} s)"
        for name, c in figures["catalogues"].items()
    )


if __name__ == "__main__":
    typer.run(main)
