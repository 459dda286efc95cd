"""Stress mode: seeded random schedules over any ``Model``, failure rate per size.

For configurations too large to explore, run many random schedules and report,
for each value of a swept parameter (transfer size, number of messages), how
many runs reached a bad state, with a 95% Wilson score interval.  Knows nothing
about caches: a model may offer ``stress_weight(state, action) -> float`` to make
some actions rarer (the machine makes spontaneous cache steps rare, as they are
on hardware); otherwise every enabled action is equally likely.

Each run has one of three outcomes (``Run``): it reached a bad state; it finished
cleanly (every program at its end, by the model's optional ``is_complete(state)``;
without it, no step left); or it is incomplete: a deadlock (no step left while
some program has not finished, e.g. a WAIT never signalled) or the step limit.  An
incomplete run proved nothing either way, so it is never counted as a pass: the
pass rate is clean runs over all runs, and incomplete runs are reported beside it.

Determinism: run ``r`` of parameter ``i`` draws from ``random.Random`` seeded with
the string ``"{seed}:{i}:{r}"`` (string seeds are hashed with SHA-512, not with the
salted ``hash``), so the same seed gives the same numbers with any number of
workers and in any process.  The curve shows a *trend*; its rates depend on the
weights and are not calibrated against hardware.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from stalecheck.errors import UsageError
from stalecheck.explore.protocol import Model
from stalecheck.workers import ignore_sigint, stop_pool, worker_count

ModelFactory = Callable[[Any], Model[Any, Any]]


class Run(IntEnum):
    """The outcome of one random schedule."""

    BAD = 1  # reached a bad state
    CLEAN = 0  # no step left and every program finished
    DEADLOCK = -2  # no step left, but some program has not finished
    STEP_LIMIT = -1  # still running after ``max_steps`` steps


@dataclass(frozen=True)
class Point:
    """One swept value: how many runs ended in each outcome."""

    size: Any
    runs: int
    failures: int  # reached a bad state
    deadlocks: int = 0  # stopped with a program unfinished (incomplete)
    step_limits: int = 0  # hit the step limit (incomplete)

    @property
    def incomplete(self) -> int:
        return self.deadlocks + self.step_limits

    @property
    def clean(self) -> int:
        return self.runs - self.failures - self.incomplete

    @property
    def pass_rate(self) -> float:
        """Clean runs over all runs: an incomplete run is not a pass."""
        return self.clean / self.runs if self.runs else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson interval of the pass rate."""
        return wilson(self.clean, self.runs)

    def as_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {
            "size": self.size,
            "runs": self.runs,
            "failures": self.failures,
            "clean": self.clean,
            "incomplete": self.incomplete,
            "deadlocks": self.deadlocks,
            "step_limits": self.step_limits,
            "pass_rate": self.pass_rate,
            "ci_low": low,
            "ci_high": high,
        }


@dataclass(frozen=True)
class StressResult:
    seed: int
    points: tuple[Point, ...]
    max_steps: int = 100_000

    @property
    def incomplete(self) -> int:
        return sum(p.incomplete for p in self.points)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "max_steps": self.max_steps,
            "sizes": [p.size for p in self.points],
            "results": [p.as_dict() for p in self.points],
        }


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% by default): unlike
    the normal approximation it stays inside [0, 1] and is sensible at 0 or n."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # The interval contains p exactly; rounding can put a bound a hair on the wrong side
    # (0.0 successes gave a lower bound of 5.6e-17), so clamp to p as well as to [0, 1].
    return (min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def run_once(model: Model[Any, Any], rng: random.Random, max_steps: int) -> Run:
    """One random schedule of at most ``max_steps`` steps, and how it ended.

    A run finishes when the model says every program is at its end
    (``is_complete``), checked after the bad state: spontaneous steps (a cache
    filling and dropping a line) may stay enabled forever after the programs end,
    and they cannot change what the programs read.  A model without
    ``is_complete`` finishes when no step is left."""
    weight = getattr(model, "stress_weight", None)
    complete = getattr(model, "is_complete", None)
    state = model.initial_state()
    for step in range(max_steps + 1):
        if model.is_bad(state):
            return Run.BAD
        if complete is not None and complete(state):
            return Run.CLEAN
        actions = model.actions(state)
        if not actions:
            return Run.CLEAN if complete is None else Run.DEADLOCK
        if step == max_steps:
            break
        if weight is None:
            action = actions[rng.randrange(len(actions))]
        else:
            action = rng.choices(actions, weights=[weight(state, a) for a in actions])[0]
        state = model.next_state(state, action)
    return Run.STEP_LIMIT


def _batch(
    factory: ModelFactory, size: Any, index: int, seed: int, first: int, count: int, max_steps: int
) -> list[Run]:
    model = factory(size)
    return [
        run_once(model, random.Random(f"{seed}:{index}:{r}"), max_steps) for r in range(first, first + count)
    ]


def stress(
    factory: ModelFactory,
    sizes: Sequence[Any],
    runs: int = 100,
    seed: int = 0,
    max_steps: int = 100_000,
    jobs: int = 1,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 25,
) -> StressResult:
    """Failure counts per swept size.  ``factory(size)`` builds the model (it must be
    picklable for ``jobs > 1``: a module-level function or a ``functools.partial``).
    ``executor`` may be any ``concurrent.futures.Executor`` (e.g. a
    ``dask.distributed.Client``'s ``get_executor()``); otherwise ``jobs`` local
    processes, or this process when ``jobs == 1``.  ``progress(done, total)`` is
    called as batches finish."""
    if runs < 1:
        raise UsageError(f"runs={runs}: need at least one run per size")
    if not sizes:
        raise UsageError("no sizes to sweep")
    if jobs < 1:
        raise UsageError(f"jobs={jobs}: need at least one worker")
    tasks = [
        (i, first, min(chunk, runs - first)) for i in range(len(sizes)) for first in range(0, runs, chunk)
    ]
    total = len(sizes) * runs
    if max_steps < 1:
        raise UsageError(f"max_steps={max_steps}: a run needs at least one step")
    outcomes: dict[int, list[Run]] = {i: [] for i in range(len(sizes))}
    done = 0
    own = None
    if executor is None and jobs > 1:
        # At most the CPUs available; workers ignore Ctrl-C (the parent stops them).
        executor = own = ProcessPoolExecutor(
            max_workers=worker_count(jobs, len(tasks)), initializer=ignore_sigint
        )
    try:
        if executor is None:
            for i, first, count in tasks:
                outcomes[i] += _batch(factory, sizes[i], i, seed, first, count, max_steps)
                done += count
                if progress is not None:
                    progress(done, total)
        else:
            futures = [
                (i, executor.submit(_batch, factory, sizes[i], i, seed, first, count, max_steps))
                for i, first, count in tasks
            ]
            for i, future in futures:  # in submission order: the result does not depend on timing
                batch = future.result()
                outcomes[i] += batch
                done += len(batch)
                if progress is not None:
                    progress(done, total)
    except BaseException:  # Ctrl-C or an error: cancel the queue, end the workers now
        if own is not None:
            stop_pool(own)
            own = None
        raise
    finally:
        if own is not None:
            own.shutdown()
    points = tuple(
        Point(
            size,
            runs,
            outcomes[i].count(Run.BAD),
            outcomes[i].count(Run.DEADLOCK),
            outcomes[i].count(Run.STEP_LIMIT),
        )
        for i, size in enumerate(sizes)
    )
    return StressResult(seed, points, max_steps)
