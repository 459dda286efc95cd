"""One worker's share of a parallel search (``explore.parallel``) over the split visited
set of ``explore/split.py``: the plain ``check``'s store, on N processes.

Why: plain ``check`` stores a state as its *rest* (buffers, threads, system registers),
the key of a bucket, and the number of its *inner* part (memory and copies) in that
bucket, and takes the successors of spontaneous cache steps (most transitions) ready
numbered from the model's memo, so it looks up one int where the one-set store hashed a
whole state.  The workers did not, and spent that difference again.

Ownership: a state belongs to the worker its threads hash to (``partition_key``), a
function of the rest, so each bucket lives on one worker and a cache step's successor,
which keeps its parent's rest, is looked up in the parent's own bucket, locally.  A
successor owned elsewhere crosses as two codes (``transfer.PartsEncoder``): its rest,
numbered per channel, and its inner part, numbered by the sender and renumbered by the
receiver once per channel by comparing the inner part itself.  Each worker numbers inner
parts its own way (the model's ``inner_keys``); nothing compares numbers of two workers.
The owner compares (rest, own number): the state itself, so ``unreachable`` stays a
proof.

Order: the same level protocol as ``explore.partition.Partition``, so the coordinator
reproduces the plain BFS order (see ``explore.parallel``).  The frontier is expanded in
id order, so the first key a local successor is met by is its smallest; successors met
again in the same level from elsewhere (``merge``) or from borrowed states compare keys
through ``fresh``, the level's new states by (bucket, number).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from stalecheck.explore.partition import STRIDE, ModelFactory, Sanity, partition_of
from stalecheck.explore.transfer import PartsDecoder, PartsEncoder

Keys = np.ndarray[Any, np.dtype[np.int64]]
Bucket = set[int]


class SplitPartition:
    """``partition.Partition``'s level protocol on the split store (module docstring).

    ``seen`` maps each rest owned here to the numbers of the inner parts seen with it;
    ``candidates`` holds this level's new states, with the number of each one's inner
    part (``numbers``) and the smallest key of a transition to it (``keys``)."""

    def __init__(self, factory: ModelFactory, index: int, workers: int, sanity: Sanity = None) -> None:
        # a ``split.SplitModel`` (the machine engine), besides a ``Model``
        self.model: Any = cast(Any, factory())
        self.sanity = getattr(self.model, sanity) if isinstance(sanity, str) else sanity
        self.index = index
        self.workers = workers
        self.cut: int = self.model.split_at
        self.part_key, self.key_hash = partition_of(self.model)
        self.seen: dict[tuple[Any, ...], Bucket] = {}
        self.count = 0  # states stored here
        self.frontier: list[tuple[Any, int, int]] = []  # (state, id, inner number), in id order
        self.enabled: list[int] = []  # actions enabled in each frontier state
        self.candidates: list[Any] = []
        self.numbers: list[int] = []
        self.keys: list[int] = []
        self.fresh: dict[tuple[int, int], int] = {}  # (id of bucket, number): position in candidates
        self.sorted_keys: Keys = np.zeros(0, dtype=np.int64)
        self.cpu: list[float] = []  # CPU seconds of each call (``call_cpu``)
        init = self.model.initial_state()
        inner_keys: dict[tuple[Any, ...], int] = self.model.inner_keys

        def number(inner: tuple[Any, ...]) -> int:
            return inner_keys.setdefault(inner, len(inner_keys))

        self.number = number
        self.encoders = [PartsEncoder(init, self.cut) for _ in range(workers)]
        self.decoders = [PartsDecoder(init, self.cut, self.number) for _ in range(workers)]
        # per sender: this worker's bucket for each rest code of the channel (None: not looked up)
        self.buckets: list[list[Bucket | None]] = [[] for _ in range(workers)]
        # per level: the ids of the states found here, and the key of the transition to each
        self.ids: list[Keys] = []
        self.parents: list[Keys] = []

    def _owner(self, state: Any) -> int:
        return int(self.key_hash(self.part_key(state)) % self.workers)

    # ---- the level protocol (called by ``parallel.search``) ----------------------------------

    def start(self) -> tuple[bool, bool]:
        """Take the initial state if this worker owns it: (owned, bad)."""
        init = self.model.initial_state()
        if self._owner(init) != self.index:
            return False, False
        number = self.number(init[: self.cut])
        self.seen[init[self.cut :]] = {number}
        self.count = 1
        self.frontier = [(init, 0, number)]
        self.ids = [np.zeros(1, dtype=np.int64)]
        self.parents = [np.full(1, -1, dtype=np.int64)]
        return True, bool(self.model.is_bad(init))

    def lend(self, ids: Keys, plan: Sequence[int]) -> list[bytes]:
        """Settle the last level with ``ids``, then hand the last ``plan[w]`` states of the
        frontier to worker ``w`` to expand in this level (``parallel._lending_plan``): they
        stay this worker's (ids and parent keys are recorded here), only their successors
        are computed elsewhere, and those keeping the threads come back."""
        started = time.process_time()
        self._settle(ids)
        shared = self.model.shared_tables() if hasattr(self.model, "shared_tables") else None
        batches = [b""] * self.workers
        end = len(self.frontier)
        cut = self.cut
        for w, count in enumerate(plan):
            if count and w != self.index:
                start = max(end - count, 0)
                encoder = self.encoders[w]
                encoder.begin()
                lent = self.frontier[start:end]
                rests = [encoder.rest_code(s[cut:]) for s, _, _ in lent]
                inners = [encoder.inner_code(n, s[:cut]) for s, _, n in lent]
                batches[w] = encoder.batch(rests, inners, [sid for _, sid, _ in lent], shared)
                end = start
        del self.frontier[end:]
        self.cpu.append(time.process_time() - started)
        return batches

    def expand(self, ids: Keys | None = None, borrowed: Sequence[bytes] = ()) -> tuple[list[bytes], int]:
        """Settle the last level with ``ids`` if given, then take every successor of the
        frontier and of the states ``borrowed`` (``lend``): a candidate when owned here,
        else coded for its owner.  Returns one batch per worker (empty for this one) and
        the transitions taken.  The loop is ``split.check_split``'s, plus the owner."""
        started = time.process_time()
        if ids is not None:
            self._settle(ids)
        model, me, workers, cut = self.model, self.index, self.workers, self.cut
        expand, next_state, join = model.expand, model.next_state, model.join
        numbers = model.inner_keys
        number = numbers.setdefault
        part_key, key_hash = self.part_key, self.key_hash
        seen = self.seen
        seen_get = seen.get
        candidates, cand_numbers, keys, fresh = self.candidates, self.numbers, self.keys, self.fresh
        add_candidate, add_number, add_key = candidates.append, cand_numbers.append, keys.append
        encoders = self.encoders
        for encoder in encoders:
            encoder.begin()
        # the encoders' tables, read inline below (``PartsEncoder.rest_code``, ``inner_code``)
        rest_codes = [encoder.rests for encoder in encoders]
        inners_sent = [encoder.inners for encoder in encoders]
        # per worker: (rest code, inner code) of each successor it owns, with its smallest key
        outgoing: list[dict[tuple[int, int], int]] = [{} for _ in range(workers)]
        self.enabled = enabled = []
        transitions = 0
        for state, sid, own in self.frontier:
            acts, first, inners, inner_numbers = expand(state)
            enabled.append(len(acts))
            transitions += len(acts)
            base = sid * STRIDE
            outer = state[cut:]
            inside = state[:cut]
            mine = seen[outer]  # the parent's bucket: a cache step's successor lands in it
            mine_id = id(mine)
            threads = part_key(state)
            end = first + len(inners)
            for index in range(len(acts)):
                if first <= index < end:
                    n = inner_numbers[index - first]
                    if n in mine:
                        continue
                    mine.add(n)
                    fresh[mine_id, n] = len(candidates)
                    add_candidate(join(inners[index - first], outer))
                    add_number(n)
                    add_key(base + index)
                    continue
                succ = next_state(state, acts[index])
                part = succ[:cut]
                # Most thread steps leave memory and copies as they were (the same objects:
                # a cheap comparison), and so keep the number.
                n = own if part == inside else number(part, len(numbers))
                succ_threads = part_key(succ)
                if succ_threads is not threads:
                    dest = key_hash(succ_threads) % workers
                    if dest != me:
                        rest = succ[cut:]
                        rest_code = rest_codes[dest].get(rest)
                        if rest_code is None:
                            rest_code = encoders[dest].rest_code(rest)
                        if n not in inners_sent[dest]:
                            encoders[dest].inner_code(n, part)
                        out = outgoing[dest]
                        if (rest_code, n) not in out:
                            out[rest_code, n] = base + index  # the first key is the smallest
                        continue
                rest = succ[cut:]
                bucket = seen_get(rest)
                if bucket is None:
                    seen[rest] = bucket = {n}
                elif n in bucket:
                    continue
                else:
                    bucket.add(n)
                fresh[id(bucket), n] = len(candidates)
                add_candidate(succ)
                add_number(n)
                add_key(base + index)
        for lender, batch in enumerate(borrowed):
            if batch:
                transitions += self._expand_borrowed(lender, batch, outgoing)
        shared = model.shared_tables() if hasattr(model, "shared_tables") else None
        batches = [
            encoders[w].batch([c[0] for c in out], [c[1] for c in out], list(out.values()), shared)
            if w != me
            else b""
            for w, out in enumerate(outgoing)
        ]
        self.cpu.append(time.process_time() - started)
        return batches, transitions

    def _expand_borrowed(self, lender: int, batch: bytes, outgoing: list[dict[tuple[int, int], int]]) -> int:
        """``expand`` for the states worker ``lender`` lent: successors keeping their threads
        (cache steps among them) go back to it, and every key is compared, since borrowed
        states come after the frontier.  They join the frontier here, for
        ``transitions_before``."""
        decoder = self.decoders[lender]
        reset, shared, rest_codes, inner_codes, ids = decoder.decode(batch)
        if reset:
            self.buckets[lender] = []
        if shared is not None:
            self.model.adopt_tables(shared)
        model, me, workers, cut = self.model, self.index, self.workers, self.cut
        numbers = model.inner_keys
        number = numbers.setdefault
        part_key, key_hash = self.part_key, self.key_hash
        rests, inners_of = decoder.rests, decoder.inners
        transitions = 0
        for rest_code, inner_code, sid in zip(rest_codes, inner_codes, ids, strict=True):
            own, inside = inners_of[inner_code]
            outer = rests[rest_code]
            state = model.join(inside, outer)
            self.frontier.append((state, sid, own))
            acts, first, inners, inner_numbers = model.expand(state)
            self.enabled.append(len(acts))
            transitions += len(acts)
            base = sid * STRIDE
            threads = part_key(state)
            end = first + len(inners)
            for index in range(len(acts)):
                if first <= index < end:
                    succ = model.join(inners[index - first], outer)
                    n = inner_numbers[index - first]
                    part = succ[:cut]
                else:
                    succ = model.next_state(state, acts[index])
                    part = succ[:cut]
                    n = own if part == inside else number(part, len(numbers))
                key = base + index
                succ_threads = part_key(succ)
                dest = lender if succ_threads is threads else key_hash(succ_threads) % workers
                if dest != me:
                    encoder = self.encoders[dest]
                    code = encoder.rest_code(succ[cut:]), encoder.inner_code(n, part)
                    out = outgoing[dest]
                    if out.get(code, key) >= key:
                        out[code] = key
                    continue
                self._meet(succ, n, key)
        return transitions

    def _meet(self, succ: Any, n: int, key: int) -> None:
        """A successor owned here, met by a transition with ``key`` after the frontier: a new
        candidate, or a smaller key for one of this level."""
        rest = succ[self.cut :]
        bucket = self.seen.get(rest)
        if bucket is None:
            bucket = self.seen[rest] = set()
        if n in bucket:
            pos = self.fresh.get((id(bucket), n))
            if pos is not None and self.keys[pos] > key:  # met earlier in this level
                self.keys[pos] = key
            return
        bucket.add(n)
        self.fresh[id(bucket), n] = len(self.candidates)
        self.candidates.append(succ)
        self.numbers.append(n)
        self.keys.append(key)

    def merge(self, batches: Sequence[bytes]) -> tuple[Keys, int, int]:
        """Take the successors other workers found for this one; then, for this level's
        candidates: their keys in order, the smallest key of a bad one and of one that
        meets ``sanity`` (-1 if none)."""
        started = time.process_time()
        join, seen, fresh, keys = self.model.join, self.seen, self.fresh, self.keys
        candidates, cand_numbers = self.candidates, self.numbers
        for source, batch in enumerate(batches):
            if not batch:
                continue
            decoder = self.decoders[source]
            reset, shared, rest_codes, inner_codes, their_keys = decoder.decode(batch)
            if reset:
                self.buckets[source] = []
            if shared is not None:
                self.model.adopt_tables(shared)
            rests, inners_of = decoder.rests, decoder.inners
            buckets = self.buckets[source]
            if len(buckets) < len(rests):
                buckets.extend([None] * (len(rests) - len(buckets)))
            for rest_code, inner_code, key in zip(rest_codes, inner_codes, their_keys, strict=True):
                bucket = buckets[rest_code]
                if bucket is None:
                    rest = rests[rest_code]
                    bucket = seen.get(rest)
                    if bucket is None:
                        bucket = seen[rest] = set()
                    buckets[rest_code] = bucket
                n, inner = inners_of[inner_code]
                if n in bucket:
                    pos = fresh.get((id(bucket), n))
                    if pos is not None and keys[pos] > key:  # reached earlier in this level
                        keys[pos] = key
                    continue
                bucket.add(n)
                fresh[id(bucket), n] = len(candidates)
                candidates.append(join(inner, rests[rest_code]))
                cand_numbers.append(n)
                keys.append(key)
        self.count += len(candidates)
        in_order = np.asarray(keys, dtype=np.int64)
        # The frontier's own successors come in key order; only those met from elsewhere
        # (or from borrowed states) may be out of it.
        if len(in_order) > 1 and not bool(np.all(in_order[1:] > in_order[:-1])):
            order = np.argsort(in_order, kind="stable")
            in_order = in_order[order]
            positions = order.tolist()
            self.candidates = [candidates[i] for i in positions]
            self.numbers = [cand_numbers[i] for i in positions]
        self.keys = []
        self.fresh = {}
        self.sorted_keys = in_order
        found = self._first(self.model.is_bad, in_order), self._first(self.sanity, in_order)
        self.cpu.append(time.process_time() - started)
        return in_order, *found

    def _first(self, test: Callable[[Any], bool] | None, keys: Keys) -> int:
        """The key of the first candidate (in key order) that meets ``test``, else -1."""
        if test is None:
            return -1
        return next((int(k) for s, k in zip(self.candidates, keys.tolist(), strict=True) if test(s)), -1)

    def _settle(self, ids: Keys) -> None:
        """This level's candidates get their ids (in key order) and become the frontier."""
        self.frontier = list(zip(self.candidates, ids.tolist(), self.numbers, strict=True))
        self.candidates, self.numbers = [], []
        self.ids.append(ids)
        self.parents.append(self.sorted_keys)

    def transitions_before(self, sid: int) -> int:
        """Actions enabled in this worker's frontier states with an id below ``sid``."""
        return sum(n for (_, s, _), n in zip(self.frontier, self.enabled, strict=True) if s < sid)

    def parent_key(self, sid: int) -> int | None:
        """The key of the transition that first reached state ``sid``, if found here."""
        for ids, parents in zip(self.ids, self.parents, strict=True):
            if len(ids) and ids[0] <= sid <= ids[-1]:
                pos = int(np.searchsorted(ids, sid))
                if ids[pos] == sid:
                    return int(parents[pos])
        return None

    def stored(self) -> int:
        return self.count

    def call_cpu(self) -> list[float]:
        """CPU seconds of each call of the level protocol (``partition.Partition.call_cpu``)."""
        return self.cpu
