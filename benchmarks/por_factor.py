"""How much partial-order reduction saves on every bundled variant, and that it changes no verdict.

    .venv/bin/python benchmarks/por_factor.py                 # table, every bundled scenario
    .venv/bin/python benchmarks/por_factor.py xen-set-way     # some scenarios
    .venv/bin/python benchmarks/por_factor.py --json          # one JSON object per variant

For each variant: the plain breadth-first search and the reduced one
(``--por``), with their verdicts, distinct states, CPU seconds, and the reduction
factor (plain states / reduced states; reachable variants stop at the first bad
state, so their factor compares searches that stopped at different places).  A
variant whose verdicts differ is printed as MISMATCH and makes the script exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from stalecheck.explore.reduced import SearchMode
from stalecheck.explore.verdict import Verdict
from stalecheck.runner import load_scenario, run_variant
from stalecheck.scenarios import registry


def _timed(fn):  # type: ignore[no-untyped-def]
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="scenario names (default: every bundled one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bad = 0
    total = [0, 0]
    if not args.json:
        head = f"{'states':>9} {'reduced':>9} {'factor':>7} {'s':>6} {'s (por)':>7}"
        print(f"{'variant':58} {'verdict':12} {head}")
    for name in args.only or list(registry.bundled()):
        sc = load_scenario(name)
        for vname, variant in sc.variants.items():
            plain: Verdict
            plain, t_plain = _timed(lambda: run_variant(sc, variant).verdict)  # noqa: B023
            por: Verdict
            por, t_por = _timed(lambda: run_variant(sc, variant, mode=SearchMode(por=True)).verdict)  # noqa: B023
            same = plain.outcome == por.outcome
            bad += not same
            factor = plain.states / max(1, por.states)
            total[0] += plain.states
            total[1] += por.states
            row = {
                "variant": f"{name}/{vname}",
                "verdict": plain.outcome.value,
                "verdict_por": por.outcome.value,
                "states": plain.states,
                "states_por": por.states,
                "factor": round(factor, 2),
                "seconds": round(t_plain, 2),
                "seconds_por": round(t_por, 2),
                "reduction": por.reduction,
            }
            if args.json:
                print(json.dumps(row))
            else:
                verdict = plain.outcome.value if same else f"MISMATCH {plain.outcome}/{por.outcome}"
                note = "" if por.reduction == "partial-order" else f"  ({por.reduction})"
                print(
                    f"{row['variant']:58} {verdict:12} {plain.states:9,} {por.states:9,} {factor:7.2f} "
                    f"{t_plain:6.2f} {t_por:7.2f}{note}",
                    flush=True,
                )
    if not args.json:
        print(f"{'all variants':58} {'':12} {total[0]:9,} {total[1]:9,} {total[0] / max(1, total[1]):7.2f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
