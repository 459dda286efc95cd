"""The plain breadth-first search over states stored exactly, split in two parts.

Why: most transitions of the machine engine are spontaneous cache steps (84% on
xen-set-way/tsw-tvm), and nine in ten of all successors are states the search has
already seen.  A cache step changes only a state's memory and copies, its first
``model.split_at`` fields (the *inner* part); the rest (buffers, threads, system
registers: the *outer* part) stays the parent's.  So the visited set is a dict from
outer part to the set of inner parts seen with it, and for a cache step the search
looks up only the new inner part, taken ready-made from the model's memo
(``Machine.expand``), in the parent's own bucket: no successor state is built and
no outer part hashed unless the state is new.  Other steps build their successor
as usual and look up both parts.

Exact like ``Store.EXACT`` (pairs of parts are compared by equality, no digests),
and the same search: successors are taken in the order of ``actions``, so the
state ids, counts, depth and witnesses are those of ``search.check`` step for step
(tested on every bundled variant).  Measured with ``benchmarks/explore_speed.py``:
see the README's Scale section.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from stalecheck.explore.reduced import witness_path
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.explore.watchdog import Stop, raise_if_tripped


class SplitModel(Protocol):
    """What a model offers for the split search (``system.Machine`` does)."""

    split_at: int  # states are tuples; their first ``split_at`` fields are the inner part
    # Inner parts numbered: the buckets hold numbers, whose hashes cost nothing.  The model
    # numbers the inner parts it hands out; the search numbers the others, the same way
    # (``setdefault(inner, len(inner_keys))``).
    inner_keys: dict[tuple[Any, ...], int]
    # Outer parts numbered (``number_outer``), and the outer part of each number.
    outer_list: list[tuple[Any, ...]]

    def number_outer(self, outer: tuple[Any, ...]) -> int: ...

    def initial_state(self) -> Any: ...

    def expand_numbered(self, state: Any, own: int, oid: int) -> Sequence[tuple[int, Any, Any]]:
        """One code per action of ``state`` (inner number ``own``, outer number ``oid``),
        in order: (inner number or -1 for ``own``, outer number or -1 for ``oid``, the inner
        part or None for ``own``'s), or (-2, action, None) to run ``next_state``."""
        ...

    def join(self, inner: tuple[Any, ...], outer: tuple[Any, ...]) -> Any:
        """The state made of ``inner`` and ``outer`` (``inner + outer`` as the model's type)."""
        ...

    def next_state(self, state: Any, action: Any) -> Any: ...

    def is_bad(self, state: Any) -> bool: ...


def check_split(
    model: SplitModel,
    max_states: int | None,
    timeout: float | None,
    progress: Callable[[Any], None] | None,
    progress_every: int,
    sanity: Callable[[Any], bool] | None,
    replay: Callable[[Any, tuple[int, ...]], tuple[Any, ...]],
    snapshot: Callable[..., Any],
) -> Verdict:
    """``search.check`` for ``Store.EXACT`` and the plain order, on a ``SplitModel``.
    ``snapshot`` builds the progress record (``search.Progress``)."""
    start = time.monotonic()
    deadline = start + timeout if timeout is not None else None
    cut = model.split_at
    init = model.initial_state()
    numbers = model.inner_keys
    number = numbers.setdefault
    number_outer = model.number_outer
    outers = model.outer_list
    init_key = number(init[:cut], len(numbers))
    init_outer = number_outer(init[cut:])
    # Outer number -> the inner numbers seen with it: a state is the pair.
    seen: dict[int, set[int]] = {init_outer: {init_key}}
    # One entry per stored state: the parent's id and the action's index (4 bytes each).
    parent = array("i", [-1])
    via = array("i", [-1])
    transitions = 0
    depth = 0
    sane = sanity is None or sanity(init)

    def done(outcome: Outcome, reason: StopReason, found: int = -1) -> Verdict:
        witness = witness_path(parent, via, found) if found >= 0 else ()
        steps = replay(model, witness) if found >= 0 else ()
        spent = time.monotonic() - start
        return Verdict(outcome, reason, len(parent), transitions, depth, spent, witness, steps, sane, "exact")

    try:
        if model.is_bad(init):
            return done(Outcome.REACHABLE, StopReason.FOUND, 0)
        # Each state with its id and the numbers of its two parts.
        frontier: list[tuple[Any, int, int, int]] = [(init, 0, init_key, init_outer)]
        next_tick = progress_every
        slow_at = next_tick if max_states is None else min(next_tick, max_states)
        expand, next_state, join, is_bad = model.expand_numbered, model.next_state, model.join, model.is_bad
        parent_append, via_append = parent.append, via.append
        seen_get = seen.get
        while frontier:
            nxt: list[tuple[Any, int, int, int]] = []
            nxt_append = nxt.append
            for state, sid, own, oid in frontier:
                codes = expand(state, own, oid)
                inside = state[:cut]
                index = -1
                for key, place, part in codes:
                    index += 1
                    if key == -2:  # not memoized: build the successor
                        succ = next_state(state, place)
                        inner = succ[:cut]
                        # Most such steps leave memory and copies as they were (the same
                        # objects: a cheap comparison), and so keep the number.
                        key = own if inner == inside else number(inner, len(numbers))
                        place = number_outer(succ[cut:])
                    else:
                        succ = None
                        if key < 0:
                            key = own
                        if place < 0:
                            place = oid
                    bucket = seen_get(place)
                    if bucket is None:
                        seen[place] = {key}
                    else:
                        before = len(bucket)
                        bucket.add(key)  # add, then see whether the set grew
                        if len(bucket) == before:
                            continue
                    if succ is None:
                        succ = join(inside if part is None else part, outers[place])
                    parent_append(sid)
                    via_append(index)
                    new_id = len(parent) - 1
                    if is_bad(succ):
                        depth += 1
                        transitions += index + 1
                        return done(Outcome.REACHABLE, StopReason.FOUND, new_id)
                    if not sane and sanity is not None and sanity(succ):
                        sane = True
                    nxt_append((succ, new_id, key, place))
                    if len(parent) >= slow_at:
                        stored = len(parent)
                        if stored >= next_tick:
                            next_tick += progress_every
                            now = time.monotonic()
                            raise_if_tripped()  # a Stop the watchdog raised may have been lost
                            if progress is not None:
                                made = transitions + index + 1
                                progress(snapshot(stored, made, depth, len(nxt), now - start))
                            if deadline is not None and now > deadline:
                                transitions += index + 1
                                return done(Outcome.UNKNOWN, StopReason.TIMEOUT)
                        if max_states is not None and stored >= max_states:
                            transitions += index + 1
                            return done(Outcome.UNKNOWN, StopReason.MAX_STATES)
                        slow_at = next_tick if max_states is None else min(next_tick, max_states)
                transitions += len(codes)
            frontier = nxt
            if frontier:
                depth += 1
            if deadline is not None and time.monotonic() > deadline and frontier:
                return done(Outcome.UNKNOWN, StopReason.TIMEOUT)
        if progress is not None:
            progress(snapshot(len(parent), transitions, depth, 0, time.monotonic() - start))
        return done(Outcome.UNREACHABLE, StopReason.EXHAUSTED)
    except Stop as stop:
        return done(Outcome.UNKNOWN, stop.reason)
