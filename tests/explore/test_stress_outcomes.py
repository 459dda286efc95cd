"""Stress runs end in one of three ways; an incomplete run is never a pass.

A toy model whose first step chooses how the run ends: reach the bad state,
finish cleanly, stop with a program unfinished (deadlock), or loop until the step
limit.  Before, deadlocks ended as "finished cleanly" and step-limit runs were
counted as passes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from stalecheck.explore.stress import Point, Run, run_once, stress
from stalecheck.report.stress import render_stress
from stalecheck.report.stress_plot import write_plot

ENDINGS = ("bad", "done", "stuck", "loop")


class Endings:
    """From ``start`` one step goes to each ending; ``loop`` steps to itself forever."""

    def __init__(self, size: int = 0) -> None:
        self.size = size

    def initial_state(self) -> str:
        return "start"

    def actions(self, state: str) -> Sequence[str]:
        return list(ENDINGS) if state == "start" else ["loop"] if state == "loop" else []

    def next_state(self, state: str, action: str) -> str:
        return action

    def is_bad(self, state: str) -> bool:
        return state == "bad"

    def is_complete(self, state: str) -> bool:
        return state == "done"

    def fingerprint(self, state: str) -> int:
        return ENDINGS.index(state) if state in ENDINGS else -1

    def describe(self, before: str, action: str, after: str) -> str:
        return after


def test_each_ending_is_classified() -> None:
    import random

    class Forced(Endings):
        def __init__(self, ending: str) -> None:
            super().__init__()
            self.ending = ending

        def actions(self, state: str) -> Sequence[str]:
            return [self.ending] if state == "start" else super().actions(state)

    outcome = {e: run_once(Forced(e), random.Random(0), max_steps=50) for e in ENDINGS}
    assert outcome == {"bad": Run.BAD, "done": Run.CLEAN, "stuck": Run.DEADLOCK, "loop": Run.STEP_LIMIT}

    class Spinning(Forced):
        """Every program finished, yet a spontaneous step stays enabled forever (a
        cache filling and dropping a line): the run is finished, not at a limit."""

        def is_complete(self, state: str) -> bool:
            return state == "loop"

    assert run_once(Spinning("loop"), random.Random(0), max_steps=50) == Run.CLEAN


def test_incomplete_runs_are_counted_and_never_passes(tmp_path: Path) -> None:
    result = stress(Endings, [1, 2], runs=200, seed=3, max_steps=20)
    for p in result.points:
        assert p.runs == p.failures + p.clean + p.deadlocks + p.step_limits == 200
        assert p.failures and p.clean and p.deadlocks and p.step_limits, "every ending was drawn"
        assert p.pass_rate == p.clean / p.runs < (p.runs - p.failures) / p.runs
        low, high = p.interval
        assert low <= p.pass_rate <= high < 0.5  # about a quarter of the runs are clean
    text = render_stress(result)
    assert "incompl" in text and "deadlocked" in text and "hit the limit of 20 steps" in text
    row = json.loads(json.dumps(result.as_dict()))["results"][0]
    assert row["incomplete"] == row["deadlocks"] + row["step_limits"] > 0
    assert row["clean"] + row["failures"] + row["incomplete"] == row["runs"]
    svg = tmp_path / "curve.svg"
    write_plot(result, svg, "endings")
    drawn = svg.read_text()
    assert "incomplete runs" in drawn and "incomplete run(s)" in drawn


def test_a_result_without_incomplete_runs_says_nothing_about_them() -> None:
    assert "incomplete" not in render_stress(stress(lambda _: _Clean(), [1], runs=5))
    assert Point("x", 10, 2).clean == 8


class _Clean(Endings):
    def actions(self, state: str) -> Sequence[str]:
        return ["done"] if state == "start" else []


def test_max_steps_must_be_positive() -> None:
    from stalecheck.errors import UsageError

    with pytest.raises(UsageError):
        stress(Endings, [1], runs=1, max_steps=0)


def test_wilson_interval_contains_the_observed_rate_exactly() -> None:
    """At 0 of n the lower bound is 0 exactly, at n of n the upper bound 1 (rounding once
    gave 5.6e-17 > 0.0, which broke the JSON check and the plot's error bars)."""
    from stalecheck.explore.stress import wilson

    for n in range(1, 60):
        for k in range(n + 1):
            low, high = wilson(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0
    assert wilson(0, 3)[0] == 0.0 and wilson(3, 3)[1] == 1.0
