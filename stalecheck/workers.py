"""Worker processes: never more than the CPUs we may use, and stopped at once on Ctrl-C.

``ProcessPoolExecutor`` (with ``fork``) starts all its workers at the first
submit, so ``-j 100000`` meant 100,000 processes; the count is capped here at
the CPUs this process may run on and at the number of tasks.  On Ctrl-C the
queued tasks are cancelled and the running workers terminated instead of
drained (a pool's ``shutdown`` would wait for every queued test).  Workers
ignore SIGINT themselves: the terminal sends it to the whole process group,
and only the parent decides what to print and when to stop.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which a container or
    ``taskset`` narrows), not the machine's total."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(requested: int, tasks: int) -> int:
    """How many workers to start: never more than requested, than CPUs or than tasks."""
    return max(1, min(requested, available_cpus(), tasks))


def capped_note(requested: int) -> str | None:
    """What to tell the user when ``-j requested`` exceeds the CPUs, else None."""
    cpus = available_cpus()
    if requested <= cpus:
        return None
    return f"-j {requested}: using {cpus} worker{'s' if cpus > 1 else ''}, the CPUs available"


def ignore_sigint() -> None:
    """A worker's initializer: Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and terminate what runs; returns within about a second."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.terminate()
    for p in processes:
        p.join(timeout=1)


@contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` processes: shut down normally after the body, or
    stopped at once if the body raises (Ctrl-C, an error)."""
    pool = ProcessPoolExecutor(max_workers=workers, initializer=ignore_sigint)
    try:
        yield pool
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)
