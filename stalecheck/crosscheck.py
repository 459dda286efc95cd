"""The two engines check each other (docs/design.md section 2).

A litmus test that both engines can express is run on the machine engine
(``litmus_machine.py``: one PE per thread, each location its own Normal
write-back line, coherent caches, out-of-order execution inside each PE) and
on the axiomatic engine.  The machine engine's final states must *equal* the
axiomatic engine's allowed states: a state on one side only is a bug in one of
the two engines, found without a hardware reference.  The number of executions
ending in each state must be equal too (herd's counts, so that the Observation
line is the same: the machine counts the distinct paths, read-from and
coherence orders of its final states, machine/rfco.py).  What the machine
notation cannot express is refused with the reason, never approximated.

``python -m stalecheck.crosscheck PATH...`` prints, per test, whether the
machine accepts it and whether the two engines agree, and the counts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from stalecheck import litmus_machine
from stalecheck.axiomatic.check import check_test
from stalecheck.errors import StalecheckError
from stalecheck.explore.search import Budget
from stalecheck.litmus import ast
from stalecheck.litmus.parser import parse_file


@dataclass(frozen=True)
class Comparison:
    """The outcome of running one test on both engines."""

    status: str  # "equal", "different", "refused" (machine), "out-of-scope" (axiomatic refuses)
    reason: str = ""
    machine_only: frozenset[tuple[str, ...]] = frozenset()
    axiomatic_only: frozenset[tuple[str, ...]] = frozenset()
    states: int = 0
    # (state, machine's executions, axiomatic engine's executions) where they differ
    count_mismatch: tuple[tuple[tuple[str, ...], int, int], ...] = ()
    executions: int = 0  # the machine's, when the states are equal


# The machine's search stops here: a test it cannot finish within this many states is
# refused (deterministic, unlike a time limit).  Every accepted test takes fewer than
# 60,000; herd's A242/A244-A246 (two CASPs per thread, reordered freely) over 500,000.
STATES = 100_000


def compare(test: ast.LitmusTest, budget: Budget = Budget(max_states=STATES)) -> Comparison:
    """Run ``test`` on both engines and compare their final-state sets."""
    try:
        axiomatic = check_test(test)
    except StalecheckError as exc:
        return Comparison("out-of-scope", exc.render())
    try:
        translated = litmus_machine.translate(test)
        states, counts, complete = litmus_machine.outcomes(translated, budget)
    except StalecheckError as exc:
        return Comparison("refused", exc.render())
    if not complete:
        return Comparison(
            "refused", f"the machine's search did not finish within its budget ({budget.max_states} states)"
        )
    machine = frozenset(states)
    expected = frozenset(axiomatic.states)
    if machine != expected:
        return Comparison("different", "", machine - expected, expected - machine, len(machine))
    mismatch = tuple(
        (k, counts[k], axiomatic.state_counts.get(k, 0))
        for k in sorted(machine) if counts[k] != axiomatic.state_counts.get(k, 0)
    )
    status = "different" if mismatch else "equal"
    return Comparison(status, states=len(machine), count_mismatch=mismatch, executions=sum(counts.values()))


def compare_file(path: Path, budget: Budget = Budget(max_states=STATES)) -> Comparison:
    try:
        test = parse_file(path)
    except StalecheckError as exc:
        return Comparison("out-of-scope", exc.render())
    return compare(test, budget)


def main(argv: list[str]) -> int:
    files: list[Path] = []
    for arg in argv or ["tests/data/herdtools7/herd-catalogue/aarch64/tests"]:
        p = Path(arg)
        files.extend(sorted(p.rglob("*.litmus")) if p.is_dir() else [p])
    counts: dict[str, int] = {}
    for path in files:
        c = compare_file(path)
        counts[c.status] = counts.get(c.status, 0) + 1
        detail = c.reason.splitlines()[0] if c.reason else ""
        if c.status == "different" and c.count_mismatch:
            detail = "executions per state (machine, axiomatic): " + "; ".join(
                f"{' '.join(k)} {m} {a}" for k, m, a in c.count_mismatch
            )
        elif c.status == "different":
            detail = f"machine only {sorted(c.machine_only)}; axiomatic only {sorted(c.axiomatic_only)}"
        print(f"{c.status:12} {path}" + (f"  {detail}" if detail else ""))
    accepted = counts.get("equal", 0) + counts.get("different", 0)
    print(
        f"{len(files)} tests: the machine engine accepts {accepted} "
        f"({counts.get('equal', 0)} equal to the axiomatic engine in states and executions, "
        f"{counts.get('different', 0)} different), "
        f"refuses {counts.get('refused', 0)}; {counts.get('out-of-scope', 0)} outside the axiomatic engine"
    )
    return 1 if counts.get("different") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
