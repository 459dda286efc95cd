"""One worker's share of a parallel search (``explore.parallel``) for any model: its
visited states kept whole, in one set.  Models with a split visited set (``split_at``,
the machine engine) use ``explore.partition_split`` instead; this one serves the others
(and the coordinator's tests on small graphs).  The level protocol both follow, and why
its answer is the plain search's, are in ``explore.parallel``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stalecheck.explore.protocol import Model
from stalecheck.explore.transfer import Decoder, Encoder

STRIDE = 1 << 20  # action indices per state in a transition key (a state enables fewer)
ModelFactory = Callable[[], Model[Any, Any]]
# A "sometimes" property (``search.check``'s ``sanity``), or the name of the model's method
# that decides it (what a dask worker can be sent: a bound method would pickle the model).
Sanity = Callable[[Any], bool] | str | None


def owner_function(model: Model[Any, Any], workers: int) -> Callable[[Any], int]:
    """Which worker owns a state: ``hash(model.partition_key(state)) % workers`` when the
    model offers ``partition_key`` (its value must be made of ints and tuples, whose
    hash is the same in every process), else its fingerprint modulo ``workers``."""
    part_key, key_hash = partition_of(model)
    return lambda state: key_hash(part_key(state)) % workers


def partition_of(model: Model[Any, Any]) -> tuple[Callable[[Any], Any], Callable[[Any], int]]:
    """The model's partition key and the hash of it that places a state (see above)."""
    part_key = getattr(model, "partition_key", None)
    if part_key is not None:
        return part_key, hash
    return _itself, model.fingerprint


class Partition:
    """One worker's share of the search: its visited states, its frontier, and for each
    state it found, the key of the transition that first reached it (for witnesses).

    ``seen`` maps each state to its serial number here (the count of states before it);
    those numbered from ``level_start`` on are this level's candidates, at the same
    positions in ``candidates`` and ``keys``.  So settling a level is moving one number,
    not a write per state."""

    def __init__(self, factory: ModelFactory, index: int, workers: int, sanity: Sanity = None) -> None:
        self.model = factory()
        self.sanity = getattr(self.model, sanity) if isinstance(sanity, str) else sanity
        self.index = index
        self.workers = workers
        self.owner = owner_function(self.model, workers)
        self.seen: dict[Any, int] = {}
        self.level_start = 0
        self.frontier: list[Any] = []  # in id order
        self.frontier_ids: list[int] = []
        self.enabled: list[int] = []  # actions enabled in each frontier state
        self.candidates: list[Any] = []  # states first met in this level (in key order after ``merge``)
        self.keys: list[int] = []  # the smallest key of a transition to each candidate
        self.sorted_keys: np.ndarray[Any, np.dtype[np.int64]] = np.zeros(0, dtype=np.int64)
        self.cpu: list[float] = []  # CPU seconds this worker spent on each call (``call_cpu``)
        init = self.model.initial_state()
        self.encoders = [Encoder(init) for _ in range(workers)]
        self.decoders = [Decoder(init) for _ in range(workers)]
        # per level: the ids of the states found here, and the key of the transition to each
        self.ids: list[np.ndarray[Any, np.dtype[np.int64]]] = []
        self.parents: list[np.ndarray[Any, np.dtype[np.int64]]] = []

    # ---- the level protocol (called by ``search``) ----------------------------------------

    def start(self) -> tuple[bool, bool]:
        """Take the initial state if this worker owns it: (owned, bad)."""
        init = self.model.initial_state()
        if self.owner(init) != self.index:
            return False, False
        self.seen[init] = 0
        self.level_start = 1
        self.frontier, self.frontier_ids = [init], [0]
        self.ids = [np.zeros(1, dtype=np.int64)]
        self.parents = [np.full(1, -1, dtype=np.int64)]
        return True, self.model.is_bad(init)

    def lend(self, ids: np.ndarray[Any, np.dtype[np.int64]], plan: Sequence[int]) -> list[bytes]:
        """Settle the last level with ``ids``, then hand the last ``plan[w]`` states of the
        frontier to worker ``w`` to expand in this level (``_lending_plan``): encoded with
        their ids, one batch per worker.  They stay this worker's states (their ids and
        parent keys are recorded here); only their successors are computed elsewhere."""
        started = time.process_time()
        self._settle(ids)
        shared = self.model.shared_tables() if hasattr(self.model, "shared_tables") else None
        batches = [b""] * self.workers
        end = len(self.frontier)
        for w, count in enumerate(plan):
            if count and w != self.index:
                start = max(end - count, 0)
                lent = self.frontier[start:end], self.frontier_ids[start:end]
                batches[w] = self.encoders[w].encode(*lent, shared)
                end = start
        del self.frontier[end:], self.frontier_ids[end:]
        self.cpu.append(time.process_time() - started)
        return batches

    def expand(
        self, ids: np.ndarray[Any, np.dtype[np.int64]] | None = None, borrowed: Sequence[bytes] = ()
    ) -> tuple[list[bytes], int]:
        """Settle the last level with ``ids`` (from ``search``) if given, then take every
        successor of the frontier and of the states ``borrowed`` from other workers
        (``lend``): a candidate when owned here, else queued (with its smallest key) for
        its owner.  Returns one encoded batch per worker (empty for this one) and the
        transitions taken.

        A successor whose partition key is the parent's own object (the step left it
        alone) has the parent's owner, without hashing.  The frontier is taken in id
        order, so the first key met for a successor is its smallest; borrowed states
        come after it, so for their successors the keys are compared."""
        started = time.process_time()
        if ids is not None:
            self._settle(ids)
        model, me, workers = self.model, self.index, self.workers
        actions, next_state = model.actions, model.next_state
        part_key, key_hash = partition_of(model)
        setdefault = self.seen.setdefault
        serial = len(self.seen)
        candidates, keys = self.candidates, self.keys
        add_candidate, add_key = candidates.append, keys.append
        outgoing: list[dict[Any, int]] = [{} for _ in range(self.workers)]
        self.enabled = enabled = []
        transitions = 0
        for state, sid in zip(self.frontier, self.frontier_ids, strict=True):
            acts = actions(state)
            enabled.append(len(acts))
            transitions += len(acts)
            base = sid * STRIDE
            mine = part_key(state)
            for index, action in enumerate(acts):
                succ = next_state(state, action)
                succ_key = part_key(succ)
                if succ_key is not mine:
                    dest = key_hash(succ_key) % workers
                    if dest != me:
                        outgoing[dest].setdefault(succ, base + index)  # the first key is the smallest
                        continue
                if setdefault(succ, serial) == serial:
                    add_candidate(succ)
                    add_key(base + index)
                    serial += 1
        for lender, batch in enumerate(borrowed):
            if batch:
                transitions += self._expand_borrowed(lender, batch, outgoing)
        shared = model.shared_tables() if hasattr(model, "shared_tables") else None
        batches = [
            self.encoders[w].encode(list(out), list(out.values()), shared) if w != me else b""
            for w, out in enumerate(outgoing)
        ]
        self.cpu.append(time.process_time() - started)
        return batches, transitions

    def _expand_borrowed(self, lender: int, batch: bytes, outgoing: list[dict[Any, int]]) -> int:
        """``expand`` for the states worker ``lender`` lent: their successors whose
        partition key they keep go back to it, and every key is compared (see ``expand``).
        The states join this level's frontier here, for ``transitions_before``."""
        states, ids, shared = self.decoders[lender].decode(batch)
        if shared is not None:
            self.model.adopt_tables(shared)  # type: ignore[attr-defined]
        model, me, workers, start = self.model, self.index, self.workers, self.level_start
        part_key, key_hash = partition_of(model)
        seen, candidates, keys = self.seen, self.candidates, self.keys
        transitions = 0
        for state, sid in zip(states, ids, strict=True):
            acts = model.actions(state)
            self.enabled.append(len(acts))
            transitions += len(acts)
            base = sid * STRIDE
            theirs = part_key(state)
            for index, action in enumerate(acts):
                succ = model.next_state(state, action)
                key = base + index
                succ_key = part_key(succ)
                dest = lender if succ_key is theirs else key_hash(succ_key) % workers
                if dest != me:
                    out = outgoing[dest]
                    if out.get(succ, key) >= key:
                        out[succ] = key
                    continue
                pos = seen.setdefault(succ, len(seen))
                if pos == len(candidates) + start:
                    candidates.append(succ)
                    keys.append(key)
                elif pos >= start and keys[pos - start] > key:
                    keys[pos - start] = key
        self.frontier.extend(states)
        self.frontier_ids.extend(ids)
        return transitions

    def merge(self, batches: Sequence[bytes]) -> tuple[Any, int, int]:
        """Take the successors other workers found for this one; then, for this level's
        candidates: their keys in order, the smallest key of a bad one and of one that
        meets ``sanity`` (-1 if none)."""
        started = time.process_time()
        seen, start = self.seen, self.level_start
        setdefault = seen.setdefault
        serial = len(seen)
        candidates, keys = self.candidates, self.keys
        for source, batch in enumerate(batches):
            if not batch:
                continue
            states, their_keys, shared = self.decoders[source].decode(batch)
            if shared is not None:
                self.model.adopt_tables(shared)  # type: ignore[attr-defined]
            for succ, key in zip(states, their_keys, strict=True):
                pos = setdefault(succ, serial)
                if pos == serial:
                    candidates.append(succ)
                    keys.append(key)
                    serial += 1
                elif pos >= start and keys[pos - start] > key:  # reached earlier in this level
                    keys[pos - start] = key
        in_order = np.asarray(keys, dtype=np.int64)
        order = np.argsort(in_order)
        in_order = in_order[order]
        self.candidates = [candidates[i] for i in order.tolist()]
        self.keys = []
        self.sorted_keys = in_order
        found = self._first(self.model.is_bad, in_order), self._first(self.sanity, in_order)
        self.cpu.append(time.process_time() - started)
        return in_order, *found

    def _first(self, test: Callable[[Any], bool] | None, keys: np.ndarray[Any, Any]) -> int:
        """The key of the first candidate (in key order) that meets ``test``, else -1."""
        if test is None:
            return -1
        return next((int(k) for s, k in zip(self.candidates, keys.tolist(), strict=True) if test(s)), -1)

    def _settle(self, ids: np.ndarray[Any, np.dtype[np.int64]]) -> None:
        """This level's candidates get their ids (in key order) and become the frontier."""
        self.frontier, self.frontier_ids = self.candidates, ids.tolist()
        self.candidates = []
        self.level_start = len(self.seen)
        self.ids.append(ids)
        self.parents.append(self.sorted_keys)

    def transitions_before(self, sid: int) -> int:
        """Actions enabled in this worker's frontier states with an id below ``sid``."""
        return sum(n for s, n in zip(self.frontier_ids, self.enabled, strict=True) if s < sid)

    def parent_key(self, sid: int) -> int | None:
        """The key of the transition that first reached state ``sid``, if found here."""
        return parent_key_in(self.ids, self.parents, sid)

    def stored(self) -> int:
        return len(self.seen)

    def call_cpu(self) -> list[float]:
        """CPU seconds spent on each call of the level protocol: every worker gets the
        same calls and a call ends when its slowest worker is done, so the sum over calls
        of the largest share is the search's critical path on free cores
        (``benchmarks/explore_speed.py`` measures it on a busy machine)."""
        return self.cpu


def _itself(state: Any) -> Any:
    """The partition key of a model without one: the state (so every step may move it)."""
    return state


def parent_key_in(ids_per_level: Sequence[Any], parents_per_level: Sequence[Any], sid: int) -> int | None:
    """The parent key stored beside state id ``sid``: each level keeps its ids sorted (a
    NumPy array) with the parents' keys in the same order, so a witness is rebuilt by
    looking a state up by binary search rather than keeping a dict of every state."""
    for ids, parents in zip(ids_per_level, parents_per_level, strict=True):
        if len(ids) and ids[0] <= sid <= ids[-1]:
            pos = int(np.searchsorted(ids, sid))
            if ids[pos] == sid:
                return int(parents[pos])
    return None
