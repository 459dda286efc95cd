"""One worker's share of a parallel search (``explore.parallel``) over the split visited
set of ``explore/split.py``: the plain ``check``'s store, on N processes.

Why: plain ``check`` stores a state as the number of its *outer* part (buffers, threads,
system registers), the key of a bucket, and the number of its *inner* part (memory and
copies) in that bucket, and takes most successors ready numbered from the model's memos
(``Machine.expand_numbered``), so it looks up two ints where the one-set store hashed a
whole state.  The workers did not, and spent that difference again.

Ownership: a state belongs to the worker its threads hash to (``partition_key``), a
function of the outer part, computed once per outer number; so each bucket lives on one
worker, and a cache step's successor, which keeps its parent's outer part, is looked up
in the parent's own bucket, locally.  A successor owned elsewhere crosses as the
sender's two numbers (``transfer.PartsEncoder``), which the receiver renumbers once per
channel by comparing the parts themselves.  Each worker numbers parts its own way (the
model's ``number_outer`` and ``inner_keys``); nothing compares numbers of two workers.
The owner compares its own (outer, inner) numbers: the state itself, so ``unreachable``
stays a proof.

Order: the same level protocol as ``explore.partition.Partition``, so the coordinator
reproduces the plain BFS order (see ``explore.parallel``).  The frontier is expanded in
id order, so the first key a local successor is met by is its smallest; successors met
again in the same level from elsewhere (``merge``) or from borrowed states compare keys
through ``fresh``, the level's new states by their (outer, inner) numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from stalecheck.explore.partition import STRIDE, ModelFactory, Sanity, parent_key_in, partition_of
from stalecheck.explore.transfer import PartsDecoder, PartsEncoder

Keys = np.ndarray[Any, np.dtype[np.int64]]
Bucket = set[int]


class SplitPartition:
    """``partition.Partition``'s level protocol on the split store (module docstring).

    ``seen`` maps the number of each outer part owned here to the numbers of the inner
    parts seen with it; ``candidates`` holds this level's new states, with the numbers of
    their parts (``numbers``) and the smallest key of a transition to each (``keys``)."""

    def __init__(self, factory: ModelFactory, index: int, workers: int, sanity: Sanity = None) -> None:
        # a ``split.SplitModel`` (the machine engine), besides a ``Model``
        self.model: Any = cast(Any, factory())
        self.sanity = getattr(self.model, sanity) if isinstance(sanity, str) else sanity
        self.index = index
        self.workers = workers
        self.cut: int = self.model.split_at
        self.part_key, self.key_hash = partition_of(self.model)
        self.seen: dict[int, Bucket] = {}
        self.count = 0  # states stored here
        self.frontier: list[tuple[Any, int, int, int]] = []  # (state, id, inner, outer number), by id
        self.enabled: list[int] = []  # actions enabled in each frontier state
        self.candidates: list[Any] = []
        self.numbers: list[tuple[int, int]] = []  # (inner, outer) number of each candidate
        self.keys: list[int] = []
        self.fresh: dict[tuple[int, int], int] = {}  # (outer, inner) number: position in candidates
        self.owners: list[int] = []  # the owner of each outer number met here
        self.sorted_keys: Keys = np.zeros(0, dtype=np.int64)
        self.cpu: list[float] = []  # CPU seconds of each call (``call_cpu``)
        init = self.model.initial_state()
        self.init = init
        inner_keys: dict[tuple[Any, ...], int] = self.model.inner_keys

        def number(inner: tuple[Any, ...]) -> int:
            return inner_keys.setdefault(inner, len(inner_keys))

        self.number = number
        self.encoders = [PartsEncoder(init, self.cut) for _ in range(workers)]
        self.decoders = [
            PartsDecoder(init, self.cut, self.model.number_outer, number) for _ in range(workers)
        ]
        # per level: the ids of the states found here, and the key of the transition to each
        self.ids: list[Keys] = []
        self.parents: list[Keys] = []

    def _owners_upto(self, place: int) -> list[int]:
        """``owners``, extended to every outer number up to ``place``."""
        owners, outers = self.owners, self.model.outer_list
        inside = self.init[: self.cut]
        while len(owners) <= place:
            state = self.model.join(inside, outers[len(owners)])
            owners.append(int(self.key_hash(self.part_key(state)) % self.workers))
        return owners

    # ---- the level protocol (called by ``parallel.search``) ----------------------------------

    def start(self) -> tuple[bool, bool]:
        """Take the initial state if this worker owns it: (owned, bad)."""
        init = self.init
        outer = self.model.number_outer(init[self.cut :])
        if self._owners_upto(outer)[outer] != self.index:
            return False, False
        inner = self.number(init[: self.cut])
        self.seen[outer] = {inner}
        self.count = 1
        self.frontier = [(init, 0, inner, outer)]
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
                outers = [encoder.outer_code(o, s[cut:]) for s, _, _, o in lent]
                inners = [encoder.inner_code(n, s[:cut]) for s, _, n, _ in lent]
                batches[w] = encoder.batch(outers, inners, [sid for _, sid, _, _ in lent], shared)
                end = start
        del self.frontier[end:]
        self.cpu.append(time.process_time() - started)
        return batches

    def expand(self, ids: Keys | None = None, borrowed: Sequence[bytes] = ()) -> tuple[list[bytes], int]:
        """Settle the last level with ``ids`` if given, then take every successor of the
        frontier and of the states ``borrowed`` (``lend``): a candidate when owned here,
        else coded for its owner.  Returns one batch per worker (empty for this one) and
        the transitions taken."""
        started = time.process_time()
        if ids is not None:
            self._settle(ids)
        for encoder in self.encoders:
            encoder.begin()
        # per worker: (outer code, inner code) of each successor it owns, with its smallest key
        outgoing: list[dict[tuple[int, int], int]] = [{} for _ in range(self.workers)]
        self.enabled = []
        transitions = self._expand_states(self.frontier, outgoing, -1)
        for lender, batch in enumerate(borrowed):
            if batch:
                transitions += self._expand_borrowed(lender, batch, outgoing)
        model, me = self.model, self.index
        shared = model.shared_tables() if hasattr(model, "shared_tables") else None
        batches = [
            self.encoders[w].batch([c[0] for c in out], [c[1] for c in out], list(out.values()), shared)
            if w != me
            else b""
            for w, out in enumerate(outgoing)
        ]
        self.cpu.append(time.process_time() - started)
        return batches, transitions

    def _expand_states(
        self,
        states: Sequence[tuple[Any, int, int, int]],
        outgoing: list[dict[tuple[int, int], int]],
        lender: int,
    ) -> int:
        """Every successor of ``states`` (each with its id and part numbers): the loop of
        ``split.check_split``, plus the owner.  ``lender`` >= 0: the states were borrowed
        from it, so their keys are compared (they come after the frontier)."""
        model, me, cut = self.model, self.index, self.cut
        expand, next_state, join = model.expand_numbered, model.next_state, model.join
        numbers = model.inner_keys
        number = numbers.setdefault
        number_outer, outers = model.number_outer, model.outer_list
        seen, fresh, owners = self.seen, self.fresh, self.owners
        seen_get = seen.get
        candidates, cand_numbers, keys = self.candidates, self.numbers, self.keys
        encoders = self.encoders
        outers_sent = [encoder.outers for encoder in encoders]
        inners_sent = [encoder.inners for encoder in encoders]
        enabled = self.enabled
        borrowed = lender >= 0
        transitions = 0
        for state, sid, own, oid in states:
            codes = expand(state, own, oid)
            enabled.append(len(codes))
            transitions += len(codes)
            base = sid * STRIDE
            inside = state[:cut]
            index = -1
            for key, place, part in codes:
                index += 1
                succ = None
                if key == -2:  # not memoized: build the successor
                    succ = next_state(state, place)
                    part = succ[:cut]
                    key = own if part == inside else number(part, len(numbers))
                    place = number_outer(succ[cut:])
                else:
                    if key < 0:
                        key = own
                    if place < 0:
                        place = oid
                    if part is None:
                        part = inside
                dest = owners[place] if place < len(owners) else self._owners_upto(place)[place]
                if dest != me:
                    if place not in outers_sent[dest]:
                        encoders[dest].outer_code(place, outers[place])
                    if key not in inners_sent[dest]:
                        encoders[dest].inner_code(key, part)
                    out = outgoing[dest]
                    if borrowed:
                        if out.get((place, key), base + index) >= base + index:
                            out[place, key] = base + index
                    elif (place, key) not in out:
                        out[place, key] = base + index  # the first key is the smallest
                    continue
                bucket = seen_get(place)
                if bucket is None:
                    seen[place] = bucket = {key}
                elif key in bucket:
                    if borrowed:
                        pos = fresh.get((place, key))
                        if pos is not None and keys[pos] > base + index:  # met earlier in this level
                            keys[pos] = base + index
                    continue
                else:
                    bucket.add(key)
                fresh[place, key] = len(candidates)
                candidates.append(join(part, outers[place]) if succ is None else succ)
                cand_numbers.append((key, place))
                keys.append(base + index)
        return transitions

    def _expand_borrowed(self, lender: int, batch: bytes, outgoing: list[dict[tuple[int, int], int]]) -> int:
        """``expand`` for the states worker ``lender`` lent: their successors owned by the
        lender (those keeping the threads, cache steps among them) go back to it.  They
        join the frontier here, for ``transitions_before``."""
        decoder = self.decoders[lender]
        shared, outer_codes, inner_codes, ids = decoder.decode(batch)
        if shared is not None:
            self.model.adopt_tables(shared)
        join, outers_of, inners_of = self.model.join, decoder.outers, decoder.inners
        states = []
        for outer_code, inner_code, sid in zip(outer_codes, inner_codes, ids, strict=True):
            oid, outer = outers_of[outer_code]
            own, inner = inners_of[inner_code]
            states.append((join(inner, outer), sid, own, oid))
        self.frontier.extend(states)
        return self._expand_states(states, outgoing, lender)

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
            shared, outer_codes, inner_codes, their_keys = decoder.decode(batch)
            if shared is not None:
                self.model.adopt_tables(shared)
            outers_of, inners_of = decoder.outers, decoder.inners
            for outer_code, inner_code, key in zip(outer_codes, inner_codes, their_keys, strict=True):
                place, outer = outers_of[outer_code]
                n, inner = inners_of[inner_code]
                bucket = seen.get(place)
                if bucket is None:
                    seen[place] = bucket = {n}
                elif n in bucket:
                    pos = fresh.get((place, n))
                    if pos is not None and keys[pos] > key:  # reached earlier in this level
                        keys[pos] = key
                    continue
                else:
                    bucket.add(n)
                fresh[place, n] = len(candidates)
                candidates.append(join(inner, outer))
                cand_numbers.append((n, place))
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
        self.frontier = [
            (state, sid, inner, outer)
            for state, sid, (inner, outer) in zip(self.candidates, ids.tolist(), self.numbers, strict=True)
        ]
        self.candidates, self.numbers = [], []
        self.ids.append(ids)
        self.parents.append(self.sorted_keys)

    def transitions_before(self, sid: int) -> int:
        """Actions enabled in this worker's frontier states with an id below ``sid``."""
        return sum(n for (_, s, _, _), n in zip(self.frontier, self.enabled, strict=True) if s < sid)

    def parent_key(self, sid: int) -> int | None:
        """The key of the transition that first reached state ``sid``, if found here."""
        return parent_key_in(self.ids, self.parents, sid)

    def stored(self) -> int:
        return self.count

    def call_cpu(self) -> list[float]:
        """CPU seconds of each call of the level protocol (``partition.Partition.call_cpu``)."""
        return self.cpu
