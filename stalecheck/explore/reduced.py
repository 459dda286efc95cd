"""Searches with a partial-order reduction, depth-first, or with a bitstate visited set.

``search.check`` is the plain breadth-first search; this module holds the other
orders and the reduced search, so that the hot loop there stays as it is.

*Partial-order reduction* (``Reducer``).  In each state the model may name a
subset of the enabled actions (a stubborn set: ``machine/por.py`` says which and
why that is sound), and the search follows only those.  The model also keeps
the cycle condition (every cycle of the reduced graph holds a fully expanded
state, so that no action is ignored for ever): a dynamic proviso ("fully expand
when a chosen successor was already visited") would do it in any search order,
but in these state graphs full of diamonds it fired in 94% of the reduced states
and undid the reduction, so the machine states which steps every cycle contains
instead (``machine/por.py``).  The reachable valuations of the visible
variables, and so whether a bad state is
reachable, are those of the full graph.  The witness is a real run, but with
the reduction breadth-first order no longer guarantees that it is the shortest:
``Verdict.shortest`` says so, and ``shortest`` re-runs without reduction.

*Depth-first* keeps the path on a stack instead of a breadth-first level of full
states, for runs whose frontier, not their visited set, fills memory.  Its
witness is the stack: not the shortest.

*Bitstate* (supertrace, Holzmann 1988) keeps two bits of a bit array per state,
indexed by two halves of its 64-bit digest: a state whose bits are both already
set is taken as visited, even if it is not, so whole parts of the space may be
skipped.  A bad state found is real (its witness replays); an exhausted search
proves nothing and ends ``unknown`` (``StopReason.BITSTATE``), with the expected
coverage printed.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from stalecheck.explore.protocol import Model
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.explore.watchdog import Stop


class Order(StrEnum):
    """The order in which the search visits states."""

    BFS = "bfs"  # breadth-first: shortest witness (without reduction)
    DFS = "dfs"  # depth-first: memory for the path, not for a level
    BITSTATE = "bitstate"  # depth-first over a bit array: incomplete, never a proof


class RestartSearch(Exception):
    """The reduction's assumptions about what the bad-state predicate reads were
    wrong: search again with ``observed`` visible (None: without reduction)."""

    def __init__(self, observed: frozenset[Hashable] | None, why: str) -> None:
        super().__init__(why)
        self.observed = observed
        self.why = why


class Reducer(Protocol):
    """What a model offers for partial-order reduction."""

    def ample(self, state: Any, enabled: Sequence[Any]) -> Sequence[int] | None:
        """Indices into ``enabled`` of a stubborn set smaller than it, or None.  The
        model guarantees the cycle condition itself (every cycle of the reduced graph
        has a fully expanded state), e.g. by never leaving out a step of a kind that
        every cycle of its state graph contains."""
        ...

    def is_bad(self, state: Any) -> bool:
        """The model's bad-state predicate, raising ``RestartSearch`` when it reads
        what the reduction treats as invisible."""
        ...


ReducerFactory = Callable[[frozenset[Any]], Reducer]


@dataclass(frozen=True)
class SearchMode:
    """How to search: order, reduction, bitstate size."""

    order: Order = Order.BFS
    por: bool = False
    bitstate_log2: int = 30  # bits in the bitstate array: 2**30 bits = 128 MiB
    shortest: bool = False  # a witness found with reduction is searched again without it


PLAIN = SearchMode()  # breadth-first, unreduced: what ``search.check`` does by itself


def check_reduced(
    model: Model[Any, Any],
    mode: SearchMode,
    reducer: ReducerFactory | None,
    max_states: int | None,
    timeout: float | None,
    sanity: Callable[[Any], bool] | None,
    exact: bool,
    replay: Callable[[Model[Any, Any], tuple[int, ...]], tuple[Any, ...]],
) -> Verdict:
    """Run the search ``mode`` asks for, restarting when the reduction learns that the
    predicate reads more than it assumed (``RestartSearch``)."""
    start = time.monotonic()
    observed: frozenset[Hashable] | None = frozenset() if mode.por and reducer is not None else None
    notes: list[str] = []
    while True:
        try:
            red = reducer(observed) if observed is not None and reducer is not None else None
        except RestartSearch as off:  # the model cannot reduce this variant
            notes.append(off.why)
            observed, red = None, None
        try:
            verdict = _search(model, mode, red, max_states, timeout, sanity, exact, start)
        except RestartSearch as again:
            notes.append(again.why)
            observed = again.observed
            continue
        witness = verdict.witness
        steps = replay(model, witness) if verdict.outcome == Outcome.REACHABLE else ()
        reduction = "partial-order" if red is not None else ("none" if not notes else "off: " + notes[-1])
        return Verdict(
            verdict.outcome,
            verdict.reason,
            verdict.states,
            verdict.transitions,
            verdict.depth,
            time.monotonic() - start,
            witness,
            steps,
            verdict.sane,
            verdict.store,
            order=mode.order.value,
            reduction=reduction,
            shortest=mode.order == Order.BFS and red is None,
            reduced_states=verdict.reduced_states,
            bitstate_log2=mode.bitstate_log2 if mode.order == Order.BITSTATE else 0,
        )


def _search(
    model: Model[Any, Any],
    mode: SearchMode,
    red: Reducer | None,
    max_states: int | None,
    timeout: float | None,
    sanity: Callable[[Any], bool] | None,
    exact: bool,
    start: float,
) -> Verdict:
    if mode.order == Order.BFS:
        return _bfs(model, red, max_states, timeout, sanity, exact, start)
    return _dfs(model, mode, red, max_states, timeout, sanity, exact, start)


def _bfs(
    model: Model[Any, Any],
    red: Reducer | None,
    max_states: int | None,
    timeout: float | None,
    sanity: Callable[[Any], bool] | None,
    exact: bool,
    start: float,
) -> Verdict:
    deadline = start + timeout if timeout is not None else None
    key: Callable[[Any], Hashable] = (lambda s: s) if exact else model.fingerprint
    is_bad = red.is_bad if red is not None else model.is_bad
    ample = red.ample if red is not None else None
    actions, next_state = model.actions, model.next_state
    init = model.initial_state()
    seen: set[Hashable] = {key(init)}
    parent = array("i", [-1])
    via = array("i", [-1])
    transitions = depth = reduced = 0
    sane = sanity is None or sanity(init)
    store = "exact" if exact else "digest"

    def done(outcome: Outcome, reason: StopReason, found: int = -1) -> Verdict:
        witness = _path(parent, via, found) if found >= 0 else ()
        return Verdict(
            outcome, reason, len(seen), transitions, depth, 0.0, witness, (), sane, store,
            reduced_states=reduced,
        )

    try:
        if is_bad(init):
            return done(Outcome.REACHABLE, StopReason.FOUND, 0)
        frontier: list[tuple[Any, int]] = [(init, 0)]
        while frontier:
            nxt: list[tuple[Any, int]] = []
            for state, sid in frontier:
                enabled = actions(state)
                succs = _expand(state, enabled, ample, next_state, key)
                if len(succs) < len(enabled):
                    reduced += 1
                transitions += len(succs)
                for index, succ, k in succs:
                    before = len(seen)
                    seen.add(k)
                    if len(seen) == before:
                        continue
                    parent.append(sid)
                    via.append(index)
                    new_id = len(parent) - 1
                    if is_bad(succ):
                        depth += 1
                        return done(Outcome.REACHABLE, StopReason.FOUND, new_id)
                    if not sane and sanity is not None and sanity(succ):
                        sane = True
                    nxt.append((succ, new_id))
                    if max_states is not None and len(seen) >= max_states:
                        return done(Outcome.UNKNOWN, StopReason.MAX_STATES)
                if deadline is not None and len(seen) % 4096 == 0 and time.monotonic() > deadline:
                    return done(Outcome.UNKNOWN, StopReason.TIMEOUT)
            frontier = nxt
            if frontier:
                depth += 1
            if deadline is not None and time.monotonic() > deadline and frontier:
                return done(Outcome.UNKNOWN, StopReason.TIMEOUT)
        return done(Outcome.UNREACHABLE, StopReason.EXHAUSTED)
    except Stop as stop:
        return done(Outcome.UNKNOWN, stop.reason)


def _expand(
    state: Any,
    enabled: Sequence[Any],
    ample: Callable[[Any, Sequence[Any]], Sequence[int] | None] | None,
    next_state: Callable[[Any, Any], Any],
    key: Callable[[Any], Hashable],
) -> list[tuple[int, Any, Hashable]]:
    """The successors to follow, as (action index, state, key): the stubborn set's
    if the model names one, else every enabled action's."""
    chosen = ample(state, enabled) if ample is not None else None
    indices = range(len(enabled)) if chosen is None else chosen
    out = []
    for index in indices:
        succ = next_state(state, enabled[index])
        out.append((index, succ, key(succ)))
    return out


class _Bits:
    """A bit array of ``2**log2`` bits; a state sets two of them (``add`` says
    whether either was clear, i.e. whether the state counts as new)."""

    def __init__(self, log2: int) -> None:
        self.log2 = log2
        self.mask = (1 << log2) - 1
        self.bits = bytearray(1 << max(0, log2 - 3))
        self.n = 0

    def _where(self, fp: int) -> tuple[int, int]:
        return fp & self.mask, (fp >> 32 ^ fp >> 7) & self.mask

    def __contains__(self, fp: object) -> bool:
        assert isinstance(fp, int)
        a, b = self._where(fp)
        bits = self.bits
        return bool(bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1)

    def add(self, fp: int) -> bool:
        a, b = self._where(fp)
        bits = self.bits
        new = not (bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1)
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
        if new:
            self.n += 1
        return new

    def __len__(self) -> int:
        return self.n


def _dfs(
    model: Model[Any, Any],
    mode: SearchMode,
    red: Reducer | None,
    max_states: int | None,
    timeout: float | None,
    sanity: Callable[[Any], bool] | None,
    exact: bool,
    start: float,
) -> Verdict:
    """Depth-first search; the witness is the stack."""
    deadline = start + timeout if timeout is not None else None
    bitstate = mode.order == Order.BITSTATE
    key: Callable[[Any], Hashable] = model.fingerprint if bitstate or not exact else (lambda s: s)
    seen: Any = _Bits(mode.bitstate_log2) if bitstate else set()
    is_bad = red.is_bad if red is not None else model.is_bad
    ample = red.ample if red is not None else None
    actions, next_state = model.actions, model.next_state
    init = model.initial_state()
    seen.add(key(init))
    transitions = depth = reduced = 0
    sane = sanity is None or sanity(init)
    store = "bitstate" if bitstate else ("exact" if exact else "digest")
    path: list[int] = []  # action index taken at each level of the stack

    def done(outcome: Outcome, reason: StopReason) -> Verdict:
        witness = tuple(path) if outcome == Outcome.REACHABLE else ()
        return Verdict(
            outcome, reason, len(seen), transitions, depth, 0.0, witness, (), sane, store,
            reduced_states=reduced,
        )

    try:
        if is_bad(init):
            return done(Outcome.REACHABLE, StopReason.FOUND)
        # Each frame: the successors still to visit (reversed, popped from the end).
        stack: list[list[tuple[int, Any, Hashable]]] = []

        def push(state: Any) -> None:
            nonlocal transitions, reduced
            enabled = actions(state)
            succs = _expand(state, enabled, ample, next_state, key)
            if len(succs) < len(enabled):
                reduced += 1
            transitions += len(succs)
            succs.reverse()
            stack.append(succs)

        push(init)
        while stack:
            frame = stack[-1]
            if not frame:
                stack.pop()
                if path:
                    path.pop()
                continue
            index, succ, k = frame.pop()
            if bitstate:
                if not seen.add(k):
                    continue
            else:
                before = len(seen)
                seen.add(k)
                if len(seen) == before:
                    continue
            path.append(index)
            depth = max(depth, len(path))
            if is_bad(succ):
                return done(Outcome.REACHABLE, StopReason.FOUND)
            if not sane and sanity is not None and sanity(succ):
                sane = True
            if max_states is not None and len(seen) >= max_states:
                return done(Outcome.UNKNOWN, StopReason.MAX_STATES)
            if deadline is not None and len(seen) % 4096 == 0 and time.monotonic() > deadline:
                return done(Outcome.UNKNOWN, StopReason.TIMEOUT)
            push(succ)
        if bitstate:
            return done(Outcome.UNKNOWN, StopReason.BITSTATE)
        return done(Outcome.UNREACHABLE, StopReason.EXHAUSTED)
    except Stop as stop:
        return done(Outcome.UNKNOWN, stop.reason)


def _path(parent: array[int], via: array[int], node: int) -> tuple[int, ...]:
    steps: list[int] = []
    while parent[node] >= 0:
        steps.append(via[node])
        node = parent[node]
    return tuple(reversed(steps))
