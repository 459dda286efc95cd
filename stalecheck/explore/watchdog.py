"""Stop a long computation on time, on memory or on Ctrl-C, wherever it is.

A search polls its budget between states, but one state of a large system (or
building that system) can take seconds, so polling alone overshoots
``--timeout`` by as much.  Here a timer signal fires every ``TICK`` seconds of
wall-clock time and, once the deadline or the memory limit is passed, raises
``Stop`` in whatever Python code is running; Ctrl-C raises ``Stop`` the same
way.  The search catches it and answers ``unknown`` with what it covered.

``Stop`` derives from ``BaseException`` so that no ``except Exception`` on the
way (a model's, a library's) swallows it.  Signals exist only in the main
thread: elsewhere (a dask worker thread) the watchdog does nothing and the
search's own polling is the only bound.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

from stalecheck.explore.verdict import StopReason

TICK = 0.05  # seconds between checks: the bound is 0.1 s

# The reason the running watchdog fired, until its body ends.  A signal handler's
# exception can be lost: CPython drops one raised inside a finaliser, a weakref
# callback or the garbage collector ("Exception ignored in ...").  The searches
# therefore also poll ``tripped()`` between states, so a lost ``Stop`` still stops them.
_tripped: StopReason | None = None


def tripped() -> StopReason | None:
    """Why the watchdog around the running search fired, or None: polled by the
    searches so that a ``Stop`` lost on its way still ends them."""
    return _tripped


def raise_if_tripped() -> None:
    """Raise ``Stop`` again if the watchdog fired and its exception was lost."""
    if _tripped is not None:
        raise Stop(_tripped)


class Stop(BaseException):
    """The budget ran out (or Ctrl-C): carries why, for the ``unknown`` verdict."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def resident_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``), else its peak."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def watchdog(
    timeout: float | None = None, max_memory: int | None = None, interrupt: bool = True
) -> Iterator[None]:
    """Raise ``Stop`` inside the ``with`` body when ``timeout`` seconds have passed,
    when resident memory exceeds ``max_memory`` bytes, or (if ``interrupt``) on Ctrl-C.
    Nothing is raised once the body has ended."""
    global _tripped
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    armed = True

    def fire(reason: StopReason) -> NoReturn:
        global _tripped
        nonlocal armed
        armed = False
        _tripped = reason
        raise Stop(reason)

    def tick(_signum: int, _frame: FrameType | None) -> None:
        if not armed:
            return
        if deadline is not None and time.monotonic() >= deadline:
            fire(StopReason.TIMEOUT)
        if max_memory is not None and resident_bytes() > max_memory:
            fire(StopReason.MAX_MEMORY)

    def ctrl_c(_signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C is plain
        if armed:
            fire(StopReason.INTERRUPTED)
        raise KeyboardInterrupt

    timed = deadline is not None or max_memory is not None
    old_alarm = signal.signal(signal.SIGALRM, tick) if timed else None
    old_int = signal.signal(signal.SIGINT, ctrl_c) if interrupt else None
    if timed:
        signal.setitimer(signal.ITIMER_REAL, TICK, TICK)
    try:
        yield
    finally:
        armed = False
        _tripped = None
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_alarm)
        if interrupt:
            signal.signal(signal.SIGINT, old_int)
