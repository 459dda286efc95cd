"""Stress mode: seeded random schedules over any ``Model``, failure rate per size.

For configurations too large to explore, run many random schedules and report,
for each value of a swept parameter (transfer size, number of messages), how
many runs reached a bad state, with a 95% Wilson score interval.  Knows nothing
about caches: a model may offer ``stress_weight(state, action) -> float`` to make
some actions rarer (the machine makes spontaneous cache steps rare, as they are
on hardware); otherwise every enabled action is equally likely.

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
from typing import Any

from stalecheck.errors import UsageError
from stalecheck.explore.protocol import Model
from stalecheck.workers import ignore_sigint, stop_pool, worker_count

ModelFactory = Callable[[Any], Model[Any, Any]]


@dataclass(frozen=True)
class Point:
    """One swept value: how many runs, how many reached a bad state."""

    size: Any
    runs: int
    failures: int
    stuck: int  # runs that hit the step limit without finishing (counted as passes)

    @property
    def pass_rate(self) -> float:
        return (self.runs - self.failures) / self.runs if self.runs else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.runs - self.failures, self.runs)

    def as_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {
            "size": self.size,
            "runs": self.runs,
            "failures": self.failures,
            "pass_rate": self.pass_rate,
            "ci_low": low,
            "ci_high": high,
        }


@dataclass(frozen=True)
class StressResult:
    seed: int
    points: tuple[Point, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
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
    return (max(0.0, centre - half), min(1.0, centre + half))


def run_once(model: Model[Any, Any], rng: random.Random, max_steps: int) -> int:
    """One random schedule: 1 if it reaches a bad state, 0 if it ends cleanly, -1 if
    it hits ``max_steps`` first."""
    weight = getattr(model, "stress_weight", None)
    state = model.initial_state()
    for _ in range(max_steps):
        if model.is_bad(state):
            return 1
        actions = model.actions(state)
        if not actions:
            return 0
        if weight is None:
            action = actions[rng.randrange(len(actions))]
        else:
            action = rng.choices(actions, weights=[weight(state, a) for a in actions])[0]
        state = model.next_state(state, action)
    return 1 if model.is_bad(state) else -1


def _batch(
    factory: ModelFactory, size: Any, index: int, seed: int, first: int, count: int, max_steps: int
) -> list[int]:
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
    outcomes: dict[int, list[int]] = {i: [] for i in range(len(sizes))}
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
        Point(size, runs, sum(1 for o in outcomes[i] if o == 1), sum(1 for o in outcomes[i] if o == -1))
        for i, size in enumerate(sizes)
    )
    return StressResult(seed, points)
