"""Breadth-first search over a visited set of 64-bit fingerprints in one sorted NumPy array.

Why this shape: a Python ``set`` of ints costs about 60 bytes per entry (the int
object plus the table slot), a NumPy ``uint64`` array exactly 8.  Probing a NumPy
table one state at a time would cost a NumPy call per transition, slower than
the successor itself, so the search works in *chunks*: it expands up to
``CHUNK`` frontier states, fingerprints every successor, and asks the array
about the whole chunk with one ``searchsorted``.  Fingerprints first seen in the
current level sit in a small Python set until the level ends, when they are
sorted and merged into the array (``kind="stable"`` is a timsort, which merges
the two sorted runs in linear time).

The successors are then taken *in the order the plain search meets them*, so
the state ids, the parent/action arrays, the state count, the depth and the
shortest witness are those of ``search.check`` with ``Store.DIGEST``.

Per stored state: 8 bytes of fingerprint, 4 of parent id and 1 of action index
(widened to 4 once a state enables 256 actions or more), i.e. 13 bytes, plus the
current and next BFS levels of full states, which no visited set avoids.

Speed: computing a fingerprint (marshal, then BLAKE2b) costs more than a successor.
Most transitions lead back to a known state, and almost always to one of the
previous, the current or the next level (on ``benchmarks/explore_speed.py``'s 2x2
case, 99% of the 4.0M revisits).  Every successor fingerprinted while expanding
the last three levels is kept as a full state in a ``near`` set (most are states of
the previous, current and next levels, held anyway as frontiers), and a successor
found there is known without a fingerprint.  The answer is the same as
fingerprinting all of them: every state in ``near`` has had its fingerprint looked
up, and stored when it was new.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

from stalecheck.explore.protocol import Model
from stalecheck.explore.reduced import witness_path
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.explore.watchdog import Stop, raise_if_tripped

STORED_BYTES = 8 + 4 + 1  # per state: fingerprint, parent id, action index (widened past 255)
CHUNK = 2048  # frontier states expanded between two look-ups in the sorted array
MASK = 2**64 - 1  # a fingerprint the model gives signed is taken modulo 2**64 (injective on 64 bits)


class Fingerprints:
    """A growing set of 64-bit fingerprints: a sorted array plus this level's additions."""

    def __init__(self) -> None:
        self.known = np.empty(0, dtype=np.uint64)
        self.pending: set[int] = set()

    def __len__(self) -> int:
        return len(self.known) + len(self.pending)

    def fresh(self, fps: list[int]) -> list[int]:
        """The positions, in order, of the fingerprints the array (earlier levels) lacks:
        most transitions lead back to known states, so only these need Python's attention."""
        if not len(self.known):
            return list(range(len(fps)))
        keys = np.fromiter(fps, dtype=np.uint64, count=len(fps))
        pos = np.searchsorted(self.known, keys)
        np.minimum(pos, len(self.known) - 1, out=pos)
        positions: list[int] = np.flatnonzero(self.known[pos] != keys).tolist()
        return positions

    def merge(self) -> None:
        """Move this level's fingerprints into the sorted array."""
        if self.pending:
            new = np.fromiter(self.pending, dtype=np.uint64, count=len(self.pending))
            new.sort()
            self.known = np.concatenate((self.known, new))
            self.known.sort(kind="stable")
            self.pending = set()

    @property
    def nbytes(self) -> int:
        return int(self.known.nbytes)


def check_compact(
    model: Model[Any, Any],
    max_states: int | None,
    timeout: float | None,
    progress: Callable[[Any], None] | None,
    progress_every: int,
    sanity: Callable[[Any], bool] | None,
    replay: Callable[[Model[Any, Any], tuple[int, ...]], tuple[str, ...]],
    progress_type: Callable[..., Any],
) -> Verdict:
    """``search.check`` with ``Store.COMPACT`` (its arguments, the budget unpacked, and
    ``replay`` and ``Progress`` passed in so that this module does not import ``search``)."""
    start = time.monotonic()
    deadline = start + timeout if timeout is not None else None
    init = model.initial_state()
    fingerprint, actions, next_state, is_bad = (
        model.fingerprint,
        model.actions,
        model.next_state,
        model.is_bad,
    )
    seen = Fingerprints()
    seen.pending.add(fingerprint(init) & MASK)
    seen.merge()
    parent = array("i", [-1])
    via = array("B", [0])
    transitions = 0
    depth = 0
    sane = sanity is None or sanity(init)
    next_tick = progress_every

    def done(outcome: Outcome, reason: StopReason, found: int = -1) -> Verdict:
        witness = witness_path(parent, via, found) if found >= 0 else ()
        return Verdict(
            outcome,
            reason,
            len(seen),
            transitions,
            depth,
            time.monotonic() - start,
            witness,
            replay(model, witness) if found >= 0 else (),
            sane,
            "compact",
        )

    # explore.watchdog may raise Stop anywhere below (deadline, memory, Ctrl-C):
    # the answer is then 'unknown' with what was covered, as in the other searches.
    try:
        if is_bad(init):
            return done(Outcome.REACHABLE, StopReason.FOUND, 0)
        frontier: list[tuple[Any, int]] = [(init, 0)]
        near: set[Any] = {init}  # successors fingerprinted while expanding the last three levels
        added: list[list[Any]] = [[], []]  # what each of the two previous expansions put into ``near``
        while frontier:
            nxt: list[tuple[Any, int]] = []
            pending = seen.pending
            added_now: list[Any] = []
            near_add, added_append = near.add, added_now.append
            for lo in range(0, len(frontier), CHUNK):
                # Expand a chunk: every successor outside ``near``, in the plain search's
                # order.  ``ends[k]`` counts the chunk's transitions up to and including
                # entry k: the count the plain search reports when it stops there.
                succs: list[Any] = []
                fps: list[int] = []
                sids: list[int] = []
                indices: list[int] = []
                ends: list[int] = []
                count = 0
                for state, sid in frontier[lo : lo + CHUNK]:
                    for index, action in enumerate(actions(state)):
                        count += 1
                        succ = next_state(state, action)
                        if succ in near:
                            continue  # fingerprinted before: no need to compute it again
                        near_add(succ)
                        added_append(succ)
                        succs.append(succ)
                        fps.append(fingerprint(succ) & MASK)
                        sids.append(sid)
                        indices.append(index)
                        ends.append(count)
                for k in seen.fresh(fps):
                    fp = fps[k]
                    if fp in pending:
                        continue
                    pending.add(fp)
                    succ = succs[k]
                    index = indices[k]
                    if index > 255 and via.typecode == "B":
                        via = array("i", via)
                    parent.append(sids[k])
                    via.append(index)
                    new_id = len(parent) - 1
                    if is_bad(succ):
                        depth += 1
                        transitions += ends[k]
                        return done(Outcome.REACHABLE, StopReason.FOUND, new_id)
                    if not sane and sanity is not None and sanity(succ):
                        sane = True
                    nxt.append((succ, new_id))
                    stored = len(seen)
                    if stored >= next_tick:
                        next_tick += progress_every
                        now = time.monotonic()
                        raise_if_tripped()  # a Stop the watchdog raised may have been lost
                        if progress is not None:
                            made = transitions + ends[k]
                            progress(progress_type(stored, made, depth, len(nxt), now - start))
                        if deadline is not None and now > deadline:
                            transitions += ends[k]
                            return done(Outcome.UNKNOWN, StopReason.TIMEOUT)
                    if max_states is not None and stored >= max_states:
                        transitions += ends[k]
                        return done(Outcome.UNKNOWN, StopReason.MAX_STATES)
                transitions += count
            seen.merge()
            for state in added.pop(0):  # what the expansion three levels back added leaves ``near``
                near.discard(state)
            added.append(added_now)
            frontier = nxt
            if frontier:
                depth += 1
            if deadline is not None and time.monotonic() > deadline and frontier:
                return done(Outcome.UNKNOWN, StopReason.TIMEOUT)
        if progress is not None:
            progress(progress_type(len(seen), transitions, depth, 0, time.monotonic() - start))
        return done(Outcome.UNREACHABLE, StopReason.EXHAUSTED)
    except Stop as stop:
        return done(Outcome.UNKNOWN, stop.reason)
