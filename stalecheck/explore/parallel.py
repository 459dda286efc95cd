"""One breadth-first search on N worker processes (``stalecheck check -j N``).

Each worker owns the states of one partition, chosen by a hash of the state (of the
model's ``partition_key(state)`` when it has one: the machine engine uses the threads,
so that the spontaneous cache steps, most of the transitions, stay inside a worker
and only program steps cross).  A worker keeps its own visited set and expands only
the states it owns; nothing is shared between processes: successors owned elsewhere
travel, pickled, through the coordinator (this process), which also orders them.

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
policies), sent along with every batch of states.  (Packing states as plain tuples for
``marshal`` was tried: rebuilding the NamedTuples in Python cost more than unpickling.)

Transport: ``LocalWorkers`` forks N processes joined by pipes (the model is inherited,
never pickled); ``DaskWorkers`` runs the same ``Partition`` objects as dask actors on
a ``distributed`` cluster, the engine ``stress`` uses, so one search spans machines.
Every round trip goes through the coordinator (a star), which keeps the workers
independent of each other's addresses.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import pickle
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from stalecheck.errors import UsageError
from stalecheck.explore.protocol import Model
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.explore.watchdog import Stop

STRIDE = 1 << 20  # action indices per state in a transition key (a state enables fewer)
SETTLED = -1  # the value of a visited state of an earlier level in ``Partition.seen``
ModelFactory = Callable[[], Model[Any, Any]]
# A "sometimes" property (``search.check``'s ``sanity``), or the name of the model's method
# that decides it (what a dask worker can be sent: a bound method would pickle the model).
Sanity = Callable[[Any], bool] | str | None


def _owner_function(model: Model[Any, Any], workers: int) -> Callable[[Any], int]:
    """Which worker owns a state: ``hash(model.partition_key(state)) % workers`` when the
    model offers ``partition_key`` (its value must be made of ints and tuples, whose
    hash is the same in every process), else its fingerprint modulo ``workers``."""
    key = getattr(model, "partition_key", None)
    if key is not None:
        return lambda state: hash(key(state)) % workers
    fingerprint = model.fingerprint
    return lambda state: fingerprint(state) % workers


class Partition:
    """One worker's share of the search: its visited states, its frontier, and for each
    state it found, the key of the transition that first reached it (for witnesses)."""

    def __init__(self, factory: ModelFactory, index: int, workers: int, sanity: Sanity = None) -> None:
        self.model = factory()
        self.sanity = getattr(self.model, sanity) if isinstance(sanity, str) else sanity
        self.index = index
        self.workers = workers
        self.owner = _owner_function(self.model, workers)
        self.seen: dict[Any, int] = {}  # state -> SETTLED, or its smallest key in this level
        self.frontier: list[tuple[Any, int]] = []  # (state, id), in id order
        self.enabled: list[int] = []  # actions enabled in each frontier state
        self.candidates: list[Any] = []  # states first met in this level
        self.sent: set[Any] = set()  # states sent to other workers in the last two levels
        self.sent_levels: list[list[Any]] = [[], []]  # ... level by level, to forget them
        # per level: the ids of the states found here, and the key of the transition to each
        self.ids: list[np.ndarray[Any, np.dtype[np.int64]]] = []
        self.parents: list[np.ndarray[Any, np.dtype[np.int64]]] = []

    # ---- the level protocol (called by ``search``) ----------------------------------------

    def start(self) -> tuple[bool, bool]:
        """Take the initial state if this worker owns it: (owned, bad)."""
        init = self.model.initial_state()
        if self.owner(init) != self.index:
            return False, False
        self.seen[init] = SETTLED
        self.frontier = [(init, 0)]
        self.ids = [np.zeros(1, dtype=np.int64)]
        self.parents = [np.full(1, -1, dtype=np.int64)]
        return True, self.model.is_bad(init)

    def expand(self) -> tuple[list[bytes], int]:
        """Every successor of the frontier: kept as a candidate when owned here, else
        queued (the first, smallest key per state) for its owner, pickled per worker.
        Returns the outgoing batches and the transitions taken.

        Two shortcuts, neither changing the answer: a successor whose partition key is
        the parent's own object (the step left it alone) is owned here, without hashing;
        and a successor this worker sent in one of the two previous levels is not sent
        again (its owner has it: accepted then, or known before)."""
        actions, next_state, owner, me = self.model.actions, self.model.next_state, self.owner, self.index
        part_key = getattr(self.model, "partition_key", None)
        seen, sent = self.seen, self.sent
        setdefault = seen.setdefault
        candidates = self.candidates = []
        outgoing: list[dict[Any, int]] = [{} for _ in range(self.workers)]
        self.enabled = enabled = []
        transitions = 0
        for state, sid in self.frontier:
            acts = actions(state)
            enabled.append(len(acts))
            transitions += len(acts)
            base = sid * STRIDE
            mine = part_key(state) if part_key is not None else None
            for index, action in enumerate(acts):
                succ = next_state(state, action)
                key = base + index
                dest = me if part_key is not None and part_key(succ) is mine else owner(succ)
                if dest == me:
                    if setdefault(succ, key) == key:
                        candidates.append(succ)
                elif succ not in sent:
                    outgoing[dest].setdefault(succ, key)
        # what was sent two levels ago is forgotten; this level's sends are remembered
        for state in self.sent_levels.pop(0):
            sent.discard(state)
        now = [state for out in outgoing for state in out]
        sent.update(now)
        self.sent_levels.append(now)
        tables = self.model.shared_tables() if hasattr(self.model, "shared_tables") else None
        batches = [
            pickle.dumps((tables, list(out.items())), pickle.HIGHEST_PROTOCOL) if w != me else b""
            for w, out in enumerate(outgoing)
        ]
        return batches, transitions

    def _decode(self, batch: bytes) -> list[tuple[Any, int]]:
        """The (state, key) pairs of a batch ``expand`` encoded, after learning the
        sender's side tables (``shared_tables``)."""
        tables, items = pickle.loads(batch)
        if tables is not None:
            self.model.adopt_tables(tables)  # type: ignore[attr-defined]
        decoded: list[tuple[Any, int]] = items
        return decoded

    def merge(self, batches: Sequence[bytes]) -> tuple[Any, int, int]:
        """Take the successors other workers found for this one; then, for this level's
        candidates: their keys in order, the smallest key of a bad one and of one that
        meets ``sanity`` (-1 if none)."""
        seen = self.seen
        candidates = self.candidates
        for batch in batches:
            if not batch:
                continue
            for succ, key in self._decode(batch):
                old = seen.get(succ)
                if old is None:
                    seen[succ] = key
                    candidates.append(succ)
                elif old > key:  # a candidate of this level reached by an earlier transition
                    seen[succ] = key
        keys = np.fromiter((seen[s] for s in candidates), dtype=np.int64, count=len(candidates))
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        self.candidates = [candidates[i] for i in order.tolist()]
        return keys, self._first(self.model.is_bad, keys), self._first(self.sanity, keys)

    def _first(self, test: Callable[[Any], bool] | None, keys: np.ndarray[Any, Any]) -> int:
        """The key of the first candidate (in key order) that meets ``test``, else -1."""
        if test is None:
            return -1
        return next((int(k) for s, k in zip(self.candidates, keys.tolist(), strict=True) if test(s)), -1)

    def settle(self, ids: np.ndarray[Any, np.dtype[np.int64]]) -> None:
        """This level's candidates get their ids (in key order) and become the frontier."""
        seen = self.seen
        keys = np.fromiter((seen[s] for s in self.candidates), dtype=np.int64, count=len(self.candidates))
        for state in self.candidates:
            seen[state] = SETTLED
        self.frontier = list(zip(self.candidates, ids.tolist(), strict=True))
        self.candidates = []
        self.ids.append(ids)
        self.parents.append(keys)

    def transitions_before(self, sid: int) -> int:
        """Actions enabled in this worker's frontier states with an id below ``sid``."""
        return sum(n for (_, s), n in zip(self.frontier, self.enabled, strict=True) if s < sid)

    def parent_key(self, sid: int) -> int | None:
        """The key of the transition that first reached state ``sid``, if found here."""
        for ids, parents in zip(self.ids, self.parents, strict=True):
            if len(ids) and ids[0] <= sid <= ids[-1]:
                pos = int(np.searchsorted(ids, sid))
                if ids[pos] == sid:
                    return int(parents[pos])
        return None

    def stored(self) -> int:
        return len(self.seen)


# ---- transports ------------------------------------------------------------------------------


class Workers(Protocol):
    """Calls one ``Partition`` method on every worker, each with its own arguments, and
    returns the results in worker order (the workers run the calls concurrently)."""

    count: int

    def call(self, method: str, args: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    def close(self) -> None: ...


def _serve(factory: ModelFactory, index: int, workers: int, sanity: Sanity, conn: Any) -> None:
    """A local worker's loop: run the methods the coordinator sends until it hangs up."""
    from stalecheck.workers import ignore_sigint

    ignore_sigint()
    # States are acyclic tuples: the cyclic collector finds nothing in them, but its full
    # passes over a worker's millions of tuples cost as much as unpickling them.
    gc.disable()
    part = Partition(factory, index, workers, sanity)
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

    def __init__(self, factory: ModelFactory, count: int, sanity: Sanity = None) -> None:
        ctx = multiprocessing.get_context("fork")
        self.count = count
        self.conns = []
        self.procs = []
        for index in range(count):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(factory, index, count, sanity, theirs), daemon=True)
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

    def __init__(self, factory: ModelFactory, count: int, client: Any, sanity: Sanity = None) -> None:
        self.count = count
        addresses = sorted(client.scheduler_info()["workers"])
        futures = [
            client.submit(
                Partition,
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
        while level_size:
            expanded = workers.call("expand", none)
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
            workers.call("settle", [(r,) for r in ranks])
            states += level_size
            if level_size:
                depth += 1
            if deadline is not None and time.monotonic() > deadline and level_size:
                return verdict(Outcome.UNKNOWN, StopReason.TIMEOUT)
        return verdict(Outcome.UNREACHABLE, StopReason.EXHAUSTED)
    except Stop as stop:
        return verdict(Outcome.UNKNOWN, stop.reason)


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
        workers: Workers = DaskWorkers(factory, jobs, client, sanity)
    else:
        workers = LocalWorkers(factory or (lambda: model), jobs, sanity)
    try:
        return search(model, workers, max_states, timeout, sanity, replay)
    finally:
        workers.close()
