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
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from stalecheck.explore.reduced import witness_path
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.explore.watchdog import Stop, raise_if_tripped


class SplitModel(Protocol):
    """What a model offers for the split search (``system.Machine`` does)."""

    split_at: int  # states are tuples; their first ``split_at`` fields are the inner part
    # Inner parts numbered: the buckets hold numbers, whose hashes cost nothing.  The model
    # numbers the inner parts it hands out in ``expand``; the search numbers the others,
    # the same way (``setdefault(inner, len(inner_keys))``).
    inner_keys: dict[tuple[Any, ...], int]

    def initial_state(self) -> Any: ...

    def expand(self, state: Any) -> tuple[Sequence[Any], int, Sequence[tuple[Any, ...]], Sequence[int]]:
        """``actions(state)``, the index of the first cache step among them, the inner part
        of the successor of each cache step (they follow each other) and its number."""
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
    init_key = number(init[:cut], len(numbers))
    seen: dict[Hashable, set[int]] = {init[cut:]: {init_key}}
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
        # Each state with its id and its inner part's number.
        frontier: list[tuple[Any, int, int]] = [(init, 0, init_key)]
        next_tick = progress_every
        slow_at = next_tick if max_states is None else min(next_tick, max_states)
        expand, next_state, join, is_bad = model.expand, model.next_state, model.join, model.is_bad
        parent_append, via_append = parent.append, via.append
        seen_get = seen.get
        while frontier:
            nxt: list[tuple[Any, int, int]] = []
            nxt_append = nxt.append
            for state, sid, own in frontier:
                enabled, first, inners, keys = expand(state)
                outer = state[cut:]
                inside = state[:cut]
                mine = seen[outer]  # the parent's bucket: a cache step's successor lands in it
                end = first + len(inners)
                for index in range(len(enabled)):
                    if first <= index < end:
                        key = keys[index - first]
                        before = len(mine)
                        mine.add(key)  # add, then see whether the set grew
                        if len(mine) == before:
                            continue
                        succ = join(inners[index - first], outer)
                    else:
                        succ = next_state(state, enabled[index])
                        part = succ[:cut]
                        # Most thread steps leave memory and copies as they were (the
                        # same objects: a cheap comparison), and so keep the number.
                        key = own if part == inside else number(part, len(numbers))
                        rest = succ[cut:]
                        bucket = seen_get(rest)
                        if bucket is None:
                            seen[rest] = {key}
                        else:
                            before = len(bucket)
                            bucket.add(key)
                            if len(bucket) == before:
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
                    nxt_append((succ, new_id, key))
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
                transitions += len(enabled)
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
