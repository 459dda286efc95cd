"""Check many litmus files, in this process or in a pool of worker processes.

Each file gives one :class:`Outcome`, a small picklable record (the herd text
and JSON are rendered in the worker), so a bad file is counted and the batch
goes on, the way herd's top loop moves on after a user error.  A per-test
timeout uses ``SIGALRM`` inside whichever process runs the test.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from stalecheck.axiomatic.check import CheckResult, check_test
from stalecheck.errors import InputError, StalecheckError, UnsupportedError
from stalecheck.litmus.parser import parse_file, warm_up
from stalecheck.report.herd import herd_text
from stalecheck.report.litmus_witness import result_json, witness_dot, witness_text
from stalecheck.workers import process_pool, worker_count

STATUSES = ("allowed", "forbidden", "required", "unsupported", "error", "timeout")


@dataclass
class Outcome:
    """What happened to one file: a verdict with its renderings, or why there is none."""

    path: str
    status: str  # one of STATUSES
    name: str = ""
    verdict: str = ""
    herd: str = ""
    json: dict[str, Any] = field(default_factory=dict)
    dot: str = ""
    witness: str = ""
    message: str = ""
    seconds: float = 0.0
    result: CheckResult | None = None
    internal: bool = False  # an error of ours, not the file's: the run exits 3


class _Timeout(BaseException):
    """Raised by the alarm; not an ``Exception``, so no ``except Exception`` on the
    way (ours or a library's) can swallow it and run on past the deadline."""


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _Timeout()


def check_path(
    path: str,
    timeout: float | None = None,
    dot: bool = False,
    keep_result: bool = False,
    raise_errors: bool = False,
    variants: tuple[str, ...] = (),
    cat: str | None = None,
    engine: str = "axiomatic",
) -> Outcome:
    """Parse and check one file.

    User errors become the outcome (status ``unsupported``/``error``) so a batch goes
    on; with ``raise_errors`` they propagate instead, for a single-file run.
    ``variants`` are herd ``-variant`` tags added to each test's own.
    """
    start = time.perf_counter()
    use_alarm = timeout is not None and timeout > 0 and hasattr(signal, "setitimer")
    old: Any = None
    try:
        if use_alarm:
            old = signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, float(timeout or 0))
        try:
            out = _check(path, dot, keep_result, raise_errors, variants, cat, engine)
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except _Timeout:  # wherever the alarm struck, even while disarming it
        out = Outcome(path, "timeout", message=f"{path}: timed out after {timeout} s")
    finally:
        if use_alarm:
            signal.signal(signal.SIGALRM, old)
    out.seconds = time.perf_counter() - start
    return out


def _check(
    path: str, dot: bool, keep_result: bool, raise_errors: bool, variants: tuple[str, ...],
    cat: str | None,
    engine: str = "axiomatic",
) -> Outcome:
    try:
        test = parse_file(path)
        model_for = None
        if cat is not None:  # a user's cat file instead of the built-in model (loaded once per process)
            from stalecheck.cat.engine_model import model_for_test

            model_for = model_for_test(cat)
        if engine == "machine":  # the machine engine (litmus_machine.py); no witness to draw
            from stalecheck import litmus_machine  # here: the axiomatic path never loads it

            result = litmus_machine.check(test)
        else:
            result = check_test(test, keep_witness=dot, variants=variants, model_for=model_for)
        status = result.verdict.lower()
        out = Outcome(
            path, status, test.name, result.verdict, herd_text(result, test.source),
            result_json(result), witness_dot(result) if dot else "",
            witness_text(result) if dot else "",
        )
        if keep_result:
            out.result = result
    except UnsupportedError as exc:
        if raise_errors:
            raise
        out = Outcome(path, "unsupported", message=exc.render())
    except StalecheckError as exc:
        if raise_errors:
            raise
        out = Outcome(path, "error", message=exc.render())
    except RecursionError:
        out = Outcome(path, "error", message=f"{path}: input nested too deeply")
    except Exception as exc:  # our bug, not the user's: count it and keep the batch going
        if raise_errors:
            raise
        out = Outcome(
            path, "error",
            message=f"{path}: internal error (please report): {type(exc).__name__}: {exc}",
            internal=True,
        )
    return out


def run_batch(
    paths: list[Path],
    jobs: int = 1,
    timeout: float | None = None,
    dot: bool = False,
    on_done: Callable[[Outcome], None] | None = None,
    variants: tuple[str, ...] = (),
    cat: str | None = None,
    engine: str = "axiomatic",
) -> list[Outcome]:
    """Check every file; results come back in input order, ``on_done`` sees completion order."""
    names = [str(p) for p in paths]
    results: dict[str, Outcome] = {}
    for outcome in _iterate(names, jobs, timeout, dot, variants, cat, engine):
        results[outcome.path] = outcome
        if on_done is not None:
            on_done(outcome)
    return [results[n] for n in names]


def _iterate(
    names: list[str], jobs: int, timeout: float | None, dot: bool, variants: tuple[str, ...],
    cat: str | None = None,
    engine: str = "axiomatic",
) -> Iterator[Outcome]:
    if jobs <= 1 or len(names) <= 1:
        for n in names:
            yield check_path(n, timeout, dot, variants=variants, cat=cat, engine=engine)
        return
    warm_up()  # forked workers inherit the compiled grammar instead of each building it
    # Imported here: a single-file run must not pay for multiprocessing at start-up.
    from concurrent.futures import as_completed


    with process_pool(worker_count(jobs, len(names))) as pool:  # stopped at once on Ctrl-C
        futures = {
            pool.submit(check_path, n, timeout, dot, False, False, variants, cat, engine): n for n in names
        }
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # a worker died: count it, keep going
                name = futures[fut]
                yield Outcome(name, "error", message=f"{name}: worker failed: {exc}", internal=True)


def summary_counts(outcomes: list[Outcome]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts


__all__ = ["STATUSES", "InputError", "Outcome", "check_path", "run_batch", "summary_counts"]
