"""The same searches pure and compiled (`make compiled`): states, verdicts and speed of each.

Each build runs in its own subprocess of this script (`--worker pure|compiled`); the pure one
imports the hot modules from their sources (`stalecheck.compiled.force_pure`) even where the
extension modules sit beside them. Exits 1 if any outcome, state or transition count, depth or
witness length differs, or if the compiled worker did not run compiled (no `make compiled`).
States per second are over the CPU time of the searches (time.process_time), as explore_speed.

    .venv/bin/python benchmarks/compiled_speed.py                # the explore cases
    .venv/bin/python benchmarks/compiled_speed.py --variants     # and every bundled variant
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

# (case of explore_speed.py, size, state budget): a budget, not a timeout, so that an
# undecided search covers the same states in both builds.
CASES: list[tuple[str, str, int | None]] = [
    ("pes-x-lines", "2x2", None),
    ("translation", "2x2x1", None),
    ("two-vcpu-guest", "1x1x1", None),
    ("two-vcpu-guest", "2x1x0", 400_000),  # decided (unreachable) since the dead-TLB work
]


def _row(name: str, verdict: Any, seconds: float) -> dict[str, Any]:
    return {
        "name": name,
        "outcome": verdict.outcome.value,
        "states": verdict.states,
        "transitions": verdict.transitions,
        "depth": verdict.depth,
        "witness": len(verdict.witness),
        "seconds": seconds,
    }


def worker(build: str, variants: bool, cases: bool) -> None:
    """Run the searches in this process and print one JSON row per search."""
    if build == "pure":
        from stalecheck.compiled import force_pure

        force_pure()
    from stalecheck.compiled import build_name

    print(json.dumps({"build": build_name()}), flush=True)
    if cases:
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        from explore_speed import CASES as BUILDERS

        from stalecheck.explore.search import Budget, check
        from stalecheck.machine.system import Machine

        for case, size, budget in CASES:
            machine = Machine(BUILDERS[case][0](*(int(n) for n in size.split("x"))))
            start = time.process_time()
            verdict = check(machine, Budget(max_states=budget))
            print(json.dumps(_row(f"{case} {size}", verdict, time.process_time() - start)), flush=True)
    if variants:
        from stalecheck.runner import load_scenario, run_variant, select
        from stalecheck.scenarios import registry

        for name in registry.names():
            scenario = load_scenario(name)
            for variant in select(scenario, []):
                start = time.process_time()
                result = run_variant(scenario, variant)
                seconds = time.process_time() - start
                print(json.dumps(_row(f"{name}/{variant.name}", result.verdict, seconds)), flush=True)


def _run(build: str, extra: list[str]) -> tuple[str, list[dict[str, Any]]]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", build, *extra], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"the {build} worker failed:\n{out.stderr}")
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return lines[0]["build"], lines[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["pure", "compiled"], help=argparse.SUPPRESS)
    parser.add_argument("--variants", action="store_true", help="also every bundled variant (minutes)")
    parser.add_argument("--no-cases", action="store_true", help="not the explore cases")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.variants, not args.no_cases)
        return
    extra = [*(["--variants"] if args.variants else []), *(["--no-cases"] if args.no_cases else [])]
    pure_build, pure = _run("pure", extra)
    compiled_build, compiled = _run("compiled", extra)
    failures: list[str] = []
    if not compiled_build.startswith("mypyc"):
        failures.append(f"the compiled worker ran {compiled_build!r}: run `make compiled` first")
    rows = []
    keys = ("outcome", "states", "transitions", "depth", "witness")
    for p, c in zip(pure, compiled, strict=True):
        same = all(p[k] == c[k] for k in keys)
        if not same:
            failures.append(f"{p['name']}: pure {[p[k] for k in keys]} compiled {[c[k] for k in keys]}")
        rows.append(
            {
                "name": p["name"],
                "outcome": p["outcome"],
                "states": p["states"],
                "same": same,
                "pure_states_per_second": round(p["states"] / max(p["seconds"], 1e-9)),
                "compiled_states_per_second": round(c["states"] / max(c["seconds"], 1e-9)),
                "ratio": round(p["seconds"] / max(c["seconds"], 1e-9), 2),
            }
        )
    pure_total = sum(p["seconds"] for p in pure)
    compiled_total = sum(c["seconds"] for c in compiled)
    summary = {
        "pure": pure_build,
        "compiled": compiled_build,
        "searches": len(rows),
        "identical": not failures,
        "pure_seconds": round(pure_total, 2),
        "compiled_seconds": round(compiled_total, 2),
        "ratio": round(pure_total / max(compiled_total, 1e-9), 2),
    }
    if args.json:
        print(json.dumps({**summary, "rows": rows}))
    else:
        for r in rows:
            print(
                f"{r['name']:<48} {r['outcome']:<12} {r['states']:>9} {'=' if r['same'] else 'DIFFERS'}"
                f"  pure {r['pure_states_per_second']:>7}/s  compiled {r['compiled_states_per_second']:>7}/s"
                f"  x{r['ratio']}"
            )
        print(json.dumps(summary))
    for failure in failures:
        print(failure, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
