"""One breadth-first search on N worker processes (``stalecheck check -j N``).

Each worker owns the states of one partition, chosen by a hash of the state (of the
model's ``partition_key(state)`` when it has one: the machine engine uses the threads,
so that the spontaneous cache steps, most of the transitions, stay inside a worker
and only program steps cross).  A worker keeps its own visited set and expands only
the states it owns; nothing is shared between processes: successors owned elsewhere
travel, encoded (below), through the coordinator (this process), which also orders them.
The visited set is plain ``check``'s: the split store (``explore.partition_split``) for
a model with ``split_at`` (the machine engine), else whole states (``explore.partition``).

Why the answer is the sequential one (``search.check`` with ``Store.EXACT``): the
search runs level by level and reproduces the plain BFS order inside each level.
Every state gets the id the plain search gives it (its rank in BFS order); a
transition carries the key ``parent id * STRIDE + action index``; a state first met
in a level takes the smallest key among the transitions that reach it, which is the
transition the plain search meets it by, and the level's states are numbered in key
order.  So the visited states, their count, the depth, the transitions counted up to
a stop and the witness (rebuilt from each state's parent key) are exactly those of
the plain search, whatever the number of workers.  Partition hashes only place a
state; a collision there moves no state between verdicts.

A model may offer ``shared_tables()`` and ``adopt_tables(tables)``: side tables that its
states refer to and that grow while exploring (the machine engine's code emitted by
policies), sent along with a batch of states when they grew.

What crossing costs, and why it is cheap enough: on the 3x1 benchmark case about 30% of
the transitions change the threads (an instruction), about half of those land on the
other worker of two (97,000 states sent, a tenth of the transitions, once the sender has
dropped the duplicates within a level), and most states they carry are
duplicates the owner already has (the same state reached by a cache step from a state it
owns: 95% on the 2x2 case).  The owner needs the state itself to say so (a fingerprint
could collide, and ``unreachable`` must stay a proof), so each is sent, as codes
(``explore.transfer``): for the split store, the sender's numbers of its two parts in
NumPy arrays, each part crossing once per channel, which the owner renumbers by
comparing them and maps with arrays, finding the duplicates by sorting (no Python
operation per state); for whole states, each distinct field value once and a row of
small ints per state.  The sender drops the duplicates within a level.

Transport: ``LocalWorkers`` forks N processes joined by pipes (the model is inherited,
never pickled); ``DaskWorkers`` runs the same partition objects as dask actors on
a ``distributed`` cluster, the engine ``stress`` uses, so one search spans machines.
Every round trip goes through the coordinator (a star), which keeps the workers
independent of each other's addresses; it only forwards bytes (1.8 MB in all on the
3x1 benchmark), two round trips per BFS level (three when a worker lends).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from stalecheck.errors import UsageError
from stalecheck.explore.partition import STRIDE, ModelFactory, Partition, Sanity
from stalecheck.explore.partition_split import SplitPartition
from stalecheck.explore.protocol import Model
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.explore.watchdog import Stop

PartitionKind = type[Partition] | type[SplitPartition]


def partition_kind(model: Model[Any, Any]) -> PartitionKind:
    """The workers' store: the split visited set of ``check`` when the model offers it
    (``explore/split.py``), else whole states in one set."""
    return SplitPartition if getattr(model, "split_at", 0) else Partition


# ---- transports ------------------------------------------------------------------------------


class Workers(Protocol):
    """Calls one ``Partition`` method on every worker, each with its own arguments, and
    returns the results in worker order (the workers run the calls concurrently)."""

    count: int

    def call(self, method: str, args: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    def close(self) -> None: ...


def _serve(
    kind: PartitionKind, factory: ModelFactory, index: int, workers: int, sanity: Sanity, conn: Any
) -> None:
    """A local worker's loop: run the methods the coordinator sends until it hangs up."""
    from stalecheck.workers import ignore_sigint

    ignore_sigint()
    # States are acyclic tuples: the cyclic collector finds nothing in them, but its full
    # passes over a worker's millions of tuples cost as much as unpickling them.
    gc.disable()
    part = kind(factory, index, workers, sanity)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        method, args = request
        try:
            conn.send((True, getattr(part, method)(*args)))
        except BaseException:  # reported to the coordinator, which raises it
            conn.send((False, traceback.format_exc()))


class LocalWorkers:
    """N forked processes on this machine (the model is inherited, not pickled)."""

    def __init__(
        self, factory: ModelFactory, count: int, sanity: Sanity = None, kind: PartitionKind | None = None
    ) -> None:
        kind = kind or partition_kind(factory())
        ctx = multiprocessing.get_context("fork")
        self.count = count
        self.conns = []
        self.procs = []
        for index in range(count):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(kind, factory, index, count, sanity, theirs), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(ours)
            self.procs.append(proc)

    def call(self, method: str, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        for conn, a in zip(self.conns, args, strict=True):
            conn.send((method, a))
        results = []
        for conn in self.conns:
            ok, value = conn.recv()
            if not ok:
                raise RuntimeError(f"a search worker failed: {value}")
            results.append(value)
        return results

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc in self.procs:
            proc.join(timeout=1)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=1)


class DaskWorkers:
    """The partitions as actors on a ``dask.distributed`` cluster (one per worker
    process of the cluster, round robin).  ``factory`` must be picklable."""

    def __init__(
        self,
        factory: ModelFactory,
        count: int,
        client: Any,
        sanity: Sanity = None,
        kind: PartitionKind | None = None,
    ) -> None:
        kind = kind or partition_kind(factory())
        self.count = count
        addresses = sorted(client.scheduler_info()["workers"])
        futures = [
            client.submit(
                kind,
                factory,
                index,
                count,
                sanity,
                actor=True,
                workers=[addresses[index % len(addresses)]],
            )
            for index in range(count)
        ]
        self.actors = [f.result() for f in futures]

    def call(self, method: str, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        pending = [getattr(actor, method)(*a) for actor, a in zip(self.actors, args, strict=True)]
        return [p.result() for p in pending]

    def close(self) -> None:
        self.actors = []


# ---- the coordinator ---------------------------------------------------------------------------


def search(
    model: Model[Any, Any],
    workers: Workers,
    max_states: int | None = None,
    timeout: float | None = None,
    sanity: Sanity = None,
    replay: Callable[[Model[Any, Any], tuple[int, ...]], tuple[Any, ...]] | None = None,
) -> Verdict:
    """The plain search's verdict, computed by ``workers`` (see the module docstring).
    ``model`` is this process's copy, used only to replay the witness."""
    start = time.monotonic()
    deadline = start + timeout if timeout is not None else None
    n = workers.count
    none: list[tuple[Any, ...]] = [()] * n
    states = 1
    transitions = 0
    depth = 0
    sane = sanity is None

    def verdict(outcome: Outcome, reason: StopReason, witness: tuple[int, ...] = ()) -> Verdict:
        steps = replay(model, witness) if outcome == Outcome.REACHABLE and replay is not None else ()
        seconds = time.monotonic() - start
        return Verdict(outcome, reason, states, transitions, depth, seconds, witness, steps, sane, "exact")

    try:
        if sanity is not None:
            test = getattr(model, sanity) if isinstance(sanity, str) else sanity
            sane = bool(test(model.initial_state()))
        started = workers.call("start", none)
        if any(bad for _, bad in started):
            return verdict(Outcome.REACHABLE, StopReason.FOUND)
        level_size = 1
        settle = none  # the ids of the last level's states, sent with the next ``expand``
        while level_size:
            expanded = workers.call("expand", settle)
            routed = [tuple(expanded[src][0][dst] for src in range(n)) for dst in range(n)]
            merged = workers.call("merge", [(routed[dst],) for dst in range(n)])
            keys = [m[0] for m in merged]
            everything = np.sort(np.concatenate(keys))
            level_size = len(everything)
            # Where the plain search stops in this level: at a bad state, or at the budget
            # (checked after the bad state, for the same state).
            stop_rank = level_size  # how many of the level's states it counts
            reason = None
            bads = [m[1] for m in merged if m[1] >= 0]
            if bads:
                stop_rank = int(np.searchsorted(everything, min(bads))) + 1
                reason = StopReason.FOUND
            if max_states is not None and stop_rank and states + stop_rank >= max_states:
                cut = max(max_states - states, 1)
                if cut < stop_rank or reason is None:
                    stop_rank, reason = cut, StopReason.MAX_STATES
            sanes = [m[2] for m in merged if m[2] >= 0]
            checked = stop_rank - 1 if reason == StopReason.FOUND else stop_rank  # sanity after is_bad
            if sanes and int(np.searchsorted(everything, min(sanes))) < checked:
                sane = True
            if reason is not None:
                stop_key = int(everything[stop_rank - 1])
                parent = stop_key // STRIDE
                earlier = sum(workers.call("transitions_before", [(parent,)] * n))
                transitions += earlier + stop_key % STRIDE + 1
                states += stop_rank
                if reason == StopReason.MAX_STATES:
                    return verdict(Outcome.UNKNOWN, reason)
                depth += 1
                return verdict(Outcome.REACHABLE, reason, (*_witness(workers, parent), stop_key % STRIDE))
            transitions += sum(e[1] for e in expanded)
            ranks = [np.searchsorted(everything, k).astype(np.int64) + states for k in keys]
            plan = _lending_plan([len(k) for k in keys])
            if plan is None:
                settle = [(r,) for r in ranks]
            else:
                lent = workers.call("lend", list(zip(ranks, plan, strict=True)))
                settle = [(None, tuple(lent[src][dst] for src in range(n))) for dst in range(n)]
            states += level_size
            if level_size:
                depth += 1
            if deadline is not None and time.monotonic() > deadline and level_size:
                return verdict(Outcome.UNKNOWN, StopReason.TIMEOUT)
        return verdict(Outcome.UNREACHABLE, StopReason.EXHAUSTED)
    except Stop as stop:
        return verdict(Outcome.UNKNOWN, stop.reason)


LEND_MIN = 32  # states: a smaller surplus is not worth a round trip
LEND_SLACK = 0.03  # a worker lends when it holds this much more than the mean share
LEND_SHARE = 0.8  # of its surplus (a lent state costs the borrower more than it saves the lender)


def _lending_plan(counts: Sequence[int]) -> list[list[int]] | None:
    """``plan[i][w]``: how many states of its next frontier worker ``i`` lends to ``w``
    (``Partition.lend``), or None when the workers' shares are even enough.

    Why: a level ends when its slowest worker does, and partitioning by threads puts
    every state of one thread tuple on one worker; on the 2x2 benchmark case a level
    holds about 100 thread tuples and the largest up to a fifth of the level, so hashing
    leaves one worker up to 1.3 times the mean share.  Owners cannot change (a state
    met again must reach the worker that stored it), but expanding a state does not
    need its owner: the heavy worker lends part of its surplus, in proportion to the
    others' deficits, and gets most successors back (they keep the parent's threads)."""
    n = len(counts)
    mean = sum(counts) / n
    surplus = [max(c - mean, 0.0) for c in counts]
    deficit = [max(mean - c, 0.0) for c in counts]
    if n < 2 or max(surplus) < max(LEND_MIN, LEND_SLACK * mean):
        return None
    total_deficit = sum(deficit)
    plan = [[int(s * LEND_SHARE * d / total_deficit) for d in deficit] for s in surplus]
    return plan if any(map(any, plan)) else None


def _witness(workers: Workers, sid: int) -> tuple[int, ...]:
    """The action indices from the initial state to state ``sid``, by its parent keys."""
    steps: list[int] = []
    while sid > 0:
        keys = [k for k in workers.call("parent_key", [(sid,)] * workers.count) if k is not None]
        if not keys:
            raise RuntimeError(f"state {sid} has no parent record")
        steps.append(keys[0] % STRIDE)
        sid = keys[0] // STRIDE
    return tuple(reversed(steps))


def check_parallel(
    model: Model[Any, Any],
    jobs: int,
    max_states: int | None = None,
    timeout: float | None = None,
    sanity: Sanity = None,
    replay: Callable[[Model[Any, Any], tuple[int, ...]], tuple[Any, ...]] | None = None,
    client: Any = None,
    factory: ModelFactory | None = None,
) -> Verdict:
    """``search`` on ``jobs`` local processes, or on a dask cluster when ``client`` (a
    ``distributed.Client``) is given; dask needs a picklable ``factory`` that builds the
    model in each worker (locally the model is inherited by ``fork``)."""
    if jobs < 1:
        raise UsageError(f"-j {jobs}: need at least one worker")
    if client is not None:
        if factory is None:
            raise UsageError("a search on a dask cluster needs a picklable model factory")
        workers: Workers = DaskWorkers(factory, jobs, client, sanity, partition_kind(model))
    else:
        workers = LocalWorkers(factory or (lambda: model), jobs, sanity, partition_kind(model))
    try:
        return search(model, workers, max_states, timeout, sanity, replay)
    finally:
        workers.close()
