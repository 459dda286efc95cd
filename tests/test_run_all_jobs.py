"""``run-all -j N``: variants checked side by side give exactly the results of one process."""

from __future__ import annotations

import subprocess
import sys

from stalecheck.explore.search import Budget
from stalecheck.runner import load_scenario, run_variant
from stalecheck.variant_pool import check_many

EXE = [sys.executable, "-c", "from stalecheck.cli import main; main()"]


def test_pooled_results_equal_one_process() -> None:
    """Same verdicts, counts, witnesses and costs, in the order asked for."""
    sc = load_scenario("kvm-external-l3")
    names = list(sc.variants)[:5]
    pooled = list(check_many([("kvm-external-l3", n) for n in names], jobs=2, budget=Budget()))
    assert [r.variant for r in pooled] == names
    for r in pooled:
        alone = run_variant(sc, sc.variants[r.variant])
        got, want = r.verdict, alone.verdict
        assert (got.outcome, got.states, got.transitions, got.witness) == (
            want.outcome,
            want.states,
            want.transitions,
            want.witness,
        )
        assert r.cost == alone.cost and r.assumptions == alone.assumptions


def test_run_all_table_is_the_same_with_jobs() -> None:
    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [*EXE, "run-all", "kvm-external-l3", *extra]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    one, two = run(), run("-j", "2")
    assert one.returncode == two.returncode == 0, two.stderr
    assert one.stdout == two.stdout
