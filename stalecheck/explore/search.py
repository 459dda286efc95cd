"""Breadth-first search with a compact visited set and witnesses rebuilt by replay.

BFS gives the *shortest* witness, which is what a reader checks line by line
against the Arm ARM.  Besides the visited set the search keeps two flat arrays
of parent ids and action indices; witnesses are rebuilt by replay.

The visited set (``Store``) holds either the states themselves, compared by
equality, so that no state can ever be skipped by a collision ("unreachable"
stays a proof), or 64-bit digests of a canonical encoding (``model.fingerprint``)
for searches that would not fit in memory otherwise; a digest collision could
then hide a state, and the verdict states the birthday bound for the number of
states explored.  Measured with ``benchmarks/explore_speed.py --sizes 2x2``
(500k states, 4.3M transitions): exact storage runs at the speed the old
``hash()`` fingerprints did and takes about 2x their memory (340 against 170
bytes a state: states share most of their tuples with their parents); digests
keep the memory but cost BLAKE2b over a marshal encoding on every transition,
about a third of the speed.  The built-in ``hash()`` is no fingerprint:
``hash(-1) == hash(-2)``.

``Store.COMPACT`` (``explore/compact.py``) keeps the same digests in a sorted
NumPy array: the visited set costs 13 bytes a state (8 of digest, 4 of parent
id, 1 of action index) against about 60 for a set of ints, with the same
birthday bound printed.  Measured on the same 2x2 case (load average 5 on the
2 shared cores, so only the ratios mean much): exact 24k states/s, digest 16k,
compact 9k to 20k, and the *peak* resident set per state hardly moves from
digest to compact (172 against 175 bytes), because it is the two BFS levels of
full states, not the visited set, that fill memory on these sizes.  The
default therefore stays ``EXACT``: it is the fastest, its "unreachable" needs
no probabilistic assumption, and the seeds fit easily; ``COMPACT`` is for runs
whose visited set, not their frontier, outgrows RAM.
"""

from __future__ import annotations

import gc
import time
from array import array
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from stalecheck.errors import UsageError
from stalecheck.explore.protocol import Model
from stalecheck.explore.reduced import (
    PLAIN,
    ReducerFactory,
    SearchMode,
    Symmetric,
    check_reduced,
    witness_path,
)
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.explore.watchdog import Stop, raise_if_tripped


class Store(StrEnum):
    """How the search remembers visited states."""

    EXACT = "exact"  # the states themselves: no collision possible
    DIGEST = "digest"  # 64-bit digests from ``model.fingerprint``: about half the memory
    COMPACT = "compact"  # the same digests in a sorted NumPy array: 13 bytes a state (``compact``)


@dataclass(frozen=True)
class Budget:
    """Limits after which the search stops with ``unknown`` and says what it covered."""

    max_states: int | None = None
    timeout: float | None = None
    max_memory: int | None = None  # bytes of resident memory (enforced by explore.watchdog)


@dataclass(frozen=True)
class Progress:
    """A snapshot handed to the progress callback (the CLI draws it with rich)."""

    states: int
    transitions: int
    depth: int
    frontier: int
    seconds: float


ProgressFn = Callable[[Progress], None]


@contextmanager
def _young_collections_only() -> Iterator[None]:
    """No full cyclic collections while a search runs: the visited set and the memos hold
    millions of acyclic tuples, and each full pass walks them all (14% of the CPU of the
    two-vCPU guest benchmark).  The young generations are still collected, so a cycle
    made and dropped along the way is freed as before; the thresholds come back after."""
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], 1 << 30)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def check(
    model: Model[Any, Any],
    budget: Budget = Budget(),
    progress: ProgressFn | None = None,
    progress_every: int = 20000,
    sanity: Callable[[Any], bool] | None = None,
    store: Store = Store.EXACT,
    mode: SearchMode | None = None,
    reducer: ReducerFactory | None = None,
    symmetry: Callable[[], Symmetric | None] | None = None,
) -> Verdict:
    """Explore every reachable state of ``model`` until a bad state or the budget.

    ``sanity`` is a *sometimes* property (e.g. "every program ran to its end"):
    the verdict records whether any explored state met it, so that a scenario
    whose programs can never finish is not reported as a proof.  ``mode`` asks
    for partial-order reduction (with ``reducer``), depth-first or bitstate
    search, and for symmetry reduction (with ``symmetry``: ``explore/reduced.py``).
    """
    with _young_collections_only():
        return _check(model, budget, progress, progress_every, sanity, store, mode, reducer, symmetry)


def _check(
    model: Model[Any, Any],
    budget: Budget,
    progress: ProgressFn | None,
    progress_every: int,
    sanity: Callable[[Any], bool] | None,
    store: Store,
    mode: SearchMode | None,
    reducer: ReducerFactory | None,
    symmetry: Callable[[], Symmetric | None] | None,
) -> Verdict:
    if mode is not None and mode != PLAIN:
        if store == Store.COMPACT:
            raise UsageError("--store compact works only with the plain breadth-first search")
        return check_reduced(
            model, mode, reducer, budget.max_states, budget.timeout, sanity, store == Store.EXACT, replay,
            symmetry,
        )
    if store == Store.COMPACT:
        from stalecheck.explore.compact import check_compact  # NumPy only when asked for

        return check_compact(
            model, budget.max_states, budget.timeout, progress, progress_every, sanity, replay, Progress
        )
    if store == Store.EXACT and getattr(model, "split_at", None):
        # The same search on the visited set split in two parts (explore/split.py).
        from stalecheck.explore.split import check_split

        return check_split(
            model,  # type: ignore[arg-type]
            budget.max_states,
            budget.timeout,
            progress,
            progress_every,
            sanity,
            replay,
            Progress,
        )
    start = time.monotonic()
    deadline = start + budget.timeout if budget.timeout is not None else None
    init = model.initial_state()
    exact = store == Store.EXACT
    seen: set[Hashable] = {init if exact else model.fingerprint(init)}
    # 4 bytes each per state: state ids stay below 2**31 (days of exploring) and
    # a state never enables more than 2**31 actions.
    parent = array("i", [-1])
    via = array("i", [-1])
    transitions = 0
    depth = 0
    sane = sanity is None or sanity(init)

    def done(outcome: Outcome, reason: StopReason, found: int = -1) -> Verdict:
        witness = witness_path(parent, via, found) if found >= 0 else ()
        steps = replay(model, witness) if found >= 0 else ()
        return Verdict(
            outcome,
            reason,
            len(seen),
            transitions,
            depth,
            time.monotonic() - start,
            witness,
            steps,
            sane,
            store.value,
        )

    # explore.watchdog may raise Stop anywhere below (deadline, memory, Ctrl-C):
    # the answer is then 'unknown' with what was covered so far.
    try:
        if model.is_bad(init):
            return done(Outcome.REACHABLE, StopReason.FOUND, 0)
        frontier: list[tuple[Hashable, int]] = [(init, 0)]
        next_tick = progress_every
        max_states = budget.max_states
        # The loop below runs once per transition: bound methods and the next
        # "slow path" threshold live in locals, and ``transitions`` is counted per
        # state (the counts, the order and therefore the witnesses are unchanged).
        actions, next_state = model.actions, model.next_state
        fingerprint, is_bad = model.fingerprint, model.is_bad
        seen_add, parent_append, via_append = seen.add, parent.append, via.append
        seen_len = seen.__len__
        slow_at = next_tick if max_states is None else min(next_tick, max_states)
        while frontier:
            nxt: list[tuple[Hashable, int]] = []
            nxt_append = nxt.append
            for state, sid in frontier:
                enabled = actions(state)
                for index, action in enumerate(enabled):
                    succ = next_state(state, action)
                    # Add, then see whether the set grew: one hash of ``succ``, not two.
                    before = seen_len()
                    seen_add(succ if exact else fingerprint(succ))
                    if seen_len() == before:
                        continue
                    parent_append(sid)
                    via_append(index)
                    new_id = len(parent) - 1
                    if is_bad(succ):
                        depth += 1
                        transitions += index + 1
                        return done(Outcome.REACHABLE, StopReason.FOUND, new_id)
                    if not sane and sanity is not None and sanity(succ):
                        sane = True
                    nxt_append((succ, new_id))
                    if len(seen) >= slow_at:
                        if len(seen) >= next_tick:
                            next_tick += progress_every
                            now = time.monotonic()
                            raise_if_tripped()  # a Stop the watchdog raised may have been lost
                            if progress is not None:
                                progress(
                                    Progress(len(seen), transitions + index + 1, depth, len(nxt), now - start)
                                )
                            if deadline is not None and now > deadline:
                                transitions += index + 1
                                return done(Outcome.UNKNOWN, StopReason.TIMEOUT)
                        if max_states is not None and len(seen) >= max_states:
                            transitions += index + 1
                            return done(Outcome.UNKNOWN, StopReason.MAX_STATES)
                        slow_at = next_tick if max_states is None else min(next_tick, max_states)
                transitions += len(enabled)
            frontier = nxt
            if frontier:
                depth += 1
            if deadline is not None and time.monotonic() > deadline and frontier:
                return done(Outcome.UNKNOWN, StopReason.TIMEOUT)
        if progress is not None:
            progress(Progress(len(seen), transitions, depth, 0, time.monotonic() - start))
        return done(Outcome.UNREACHABLE, StopReason.EXHAUSTED)

    except Stop as stop:
        return done(Outcome.UNKNOWN, stop.reason)


def replay(model: Model[Any, Any], witness: tuple[int, ...]) -> tuple[Any, ...]:
    """Rebuild the described steps of a witness by re-running the model.

    A mismatch (an index past the enabled actions) means the model's action
    order is not deterministic, which would make every stored witness wrong.
    """
    state = model.initial_state()
    lines: list[Any] = []
    for number, index in enumerate(witness, 1):
        actions = model.actions(state)
        if index >= len(actions):
            raise ValueError(
                f"step {number} asks for action {index}, but only {len(actions)} are enabled "
                "(a token from another variant or version, or a model whose action order "
                "is not deterministic)"
            )
        after = model.next_state(state, actions[index])
        lines.append(model.describe(state, actions[index], after))
        state = after
    return tuple(lines)


@dataclass(frozen=True)
class Outcomes:
    """Every distinct projection of the states that met ``select``, and whether the
    search covered the whole state space (only then is the set complete)."""

    values: frozenset[Hashable]
    states: int
    complete: bool


def collect(
    model: Model[Any, Any],
    select: Callable[[Any], bool],
    project: Callable[[Any], Hashable],
    budget: Budget = Budget(),
    store: Store = Store.EXACT,
) -> Outcomes:
    """Explore every reachable state and gather ``project(state)`` where ``select``
    holds: the set of final outcomes a litmus-style comparison needs."""
    start = time.monotonic()
    init = model.initial_state()
    key = (lambda state: state) if store == Store.EXACT else model.fingerprint
    seen: set[Hashable] = {key(init)}
    found: set[Hashable] = set()
    frontier = [init]
    while frontier:
        nxt = []
        for state in frontier:
            if select(state):
                found.add(project(state))
            for action in model.actions(state):
                succ = model.next_state(state, action)
                fp = key(succ)
                if fp not in seen:
                    seen.add(fp)
                    nxt.append(succ)
            if budget.max_states is not None and len(seen) >= budget.max_states:
                return Outcomes(frozenset(found), len(seen), False)  # unexplored states remain
        frontier = nxt
        over_states = budget.max_states is not None and len(seen) >= budget.max_states
        over_time = budget.timeout is not None and time.monotonic() - start > budget.timeout
        if frontier and (over_states or over_time):
            return Outcomes(frozenset(found), len(seen), False)
    return Outcomes(frozenset(found), len(seen), True)
