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
from itertools import islice
from operator import itemgetter
from typing import Any, cast

import numpy as np

from stalecheck.explore.partition import STRIDE, ModelFactory, Sanity, parent_key_in, partition_of
from stalecheck.explore.transfer import PartsDecoder, PartsEncoder

Keys = np.ndarray[Any, np.dtype[np.int64]]
Bucket = set[int]
PAIR = 32  # a crossing successor is ``outer number << PAIR | inner number`` while its level runs
LOW = (1 << PAIR) - 1
# Successors owned by one worker, each with the smallest key found for it so far.
Outgoing = dict[int, int]


class SplitPartition:
    """``partition.Partition``'s level protocol on the split store (module docstring).

    ``seen`` maps the number of each outer part owned here to the numbers of the inner
    parts seen with it.  The frontier and this level's new states (``candidates``) are
    kept as parallel lists: the states, their ids (frontier) or the smallest key of a
    transition to them (candidates), and the numbers of their inner and outer parts."""

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
        # the frontier, in id order (then the states borrowed in this level)
        self.states: list[Any] = []
        self.state_ids: list[int] = []
        self.state_inners: list[int] = []
        self.state_outers: list[int] = []
        self.enabled: list[int] = []  # actions enabled in each frontier state
        # this level's new states
        self.candidates: list[Any] = []
        self.cand_inners: list[int] = []
        self.cand_outers: list[int] = []
        self.keys: list[int] = []
        self.arrived: list[tuple[Keys, Keys, Keys]] = []  # successors of borrowed states owned here
        self.owners: list[int] = []  # the owner of each outer number met here
        self.inner_list: list[tuple[Any, ...]] = []  # the inner part of each number (``inner_of``)
        self.sorted_keys: Keys = np.zeros(0, dtype=np.int64)
        self.cpu: list[float] = []  # CPU seconds of each call (``call_cpu``)
        self.counters = dict.fromkeys(("sent", "bytes_sent", "received", "received_new", "lent"), 0)
        # the parts of the states expanded here: how many plans (by outer part) and cache-step
        # memos (by inner part) this worker built, against one process (``traffic``)
        self.expanded_outers: set[int] = set()
        self.expanded_inners: set[int] = set()
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

    def inner_of(self, number: int) -> tuple[Any, ...]:
        """The inner part numbered ``number`` here.  The model numbers inner parts in the
        order it meets them (``setdefault(part, len(inner_keys))``, never removed), so
        the dict's order is the numbers' order."""
        inner_list, inner_keys = self.inner_list, self.model.inner_keys
        if number >= len(inner_list):
            inner_list.extend(islice(inner_keys, len(inner_list), None))
            assert inner_keys[inner_list[-1]] == len(inner_list) - 1, "inner parts numbered out of order"
        return inner_list[number]

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
        self.states, self.state_ids, self.state_inners, self.state_outers = [init], [0], [inner], [outer]
        self.ids = [np.zeros(1, dtype=np.int64)]
        self.parents = [np.full(1, -1, dtype=np.int64)]
        return True, bool(self.model.is_bad(init))

    def _shared(self) -> Any:
        return self.model.shared_tables() if hasattr(self.model, "shared_tables") else None

    def _send(self, w: int, outers: Keys, inners: Keys, keys: Keys, shared: Any) -> bytes:
        batch = self.encoders[w].batch(
            outers, inners, keys, self.model.outer_list.__getitem__, self.inner_of, shared
        )
        self.counters["bytes_sent"] += len(batch)
        return batch

    def lend(self, ids: Keys, plan: Sequence[int]) -> list[bytes]:
        """Settle the last level with ``ids``, then hand the last ``plan[w]`` states of the
        frontier to worker ``w`` to expand in this level (``parallel._lending_plan``): they
        stay this worker's (ids and parent keys are recorded here), only their successors
        are computed elsewhere, and those keeping the threads come back."""
        started = time.process_time()
        self._settle(ids)
        shared = self._shared()
        batches = [b""] * self.workers
        end = len(self.states)
        for w, count in enumerate(plan):
            if count and w != self.index:
                start = max(end - count, 0)
                outers = np.asarray(self.state_outers[start:end], dtype=np.int64)
                inners = np.asarray(self.state_inners[start:end], dtype=np.int64)
                lent_ids = np.asarray(self.state_ids[start:end], dtype=np.int64)
                batches[w] = self._send(w, outers, inners, lent_ids, shared)
                self.counters["lent"] += end - start
                end = start
        del self.states[end:], self.state_ids[end:], self.state_inners[end:], self.state_outers[end:]
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
        # per worker: each successor it owns, with its smallest key
        outgoing: list[Outgoing] = [{} for _ in range(self.workers)]
        self.enabled = []
        self.arrived = []
        transitions = self._expand_frontier(outgoing)
        for lender, batch in enumerate(borrowed):
            if batch:
                transitions += self._expand_borrowed(lender, batch, outgoing)
        self.expanded_outers.update(self.state_outers)
        self.expanded_inners.update(self.state_inners)
        me = self.index
        shared = self._shared()
        batches = [b""] * self.workers
        for w, out in enumerate(outgoing):
            if not out:
                continue
            pairs = np.fromiter(out, dtype=np.int64, count=len(out))
            keys = np.fromiter(out.values(), dtype=np.int64, count=len(out))
            if w == me:  # successors of borrowed states owned here: compared in ``merge``
                self.arrived.append((pairs >> PAIR, pairs & LOW, keys))
            else:
                self.counters["sent"] += len(out)
                batches[w] = self._send(w, pairs >> PAIR, pairs & LOW, keys, shared)
        self.cpu.append(time.process_time() - started)
        return batches, transitions

    def _expand_frontier(self, outgoing: list[Outgoing]) -> int:
        """Every successor of the frontier: the loop of ``split.check_split``, plus the
        owner.  The frontier is in id order, so the first key a successor is met by is the
        smallest (``setdefault``), and a new one owned here is a candidate at once."""
        model, me, cut = self.model, self.index, self.cut
        expand, next_state, join = model.expand_numbered, model.next_state, model.join
        numbers = model.inner_keys
        number = numbers.setdefault
        number_outer, outers = model.number_outer, model.outer_list
        seen, owners = self.seen, self.owners
        seen_get = seen.get
        add_candidate, add_inner = self.candidates.append, self.cand_inners.append
        add_outer, add_key = self.cand_outers.append, self.keys.append
        enabled = self.enabled.append
        transitions = 0
        frontier = zip(self.states, self.state_ids, self.state_inners, self.state_outers, strict=True)
        for state, sid, own, oid in frontier:
            codes = expand(state, own, oid)
            enabled(len(codes))
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
                    if part is None:
                        part = inside
                    if place < 0:  # the parent's outer part: owned here
                        place = oid
                        bucket = seen[place]
                        before = len(bucket)
                        bucket.add(key)
                        if len(bucket) == before:
                            continue
                        add_candidate(join(part, outers[place]))
                        add_inner(key)
                        add_outer(place)
                        add_key(base + index)
                        continue
                try:
                    dest = owners[place]
                except IndexError:
                    dest = self._owners_upto(place)[place]
                if dest != me:
                    outgoing[dest].setdefault(place << PAIR | key, base + index)
                    continue
                found = seen_get(place)
                if found is None:
                    seen[place] = {key}
                else:
                    before = len(found)
                    found.add(key)
                    if len(found) == before:
                        continue
                add_candidate(join(part, outers[place]) if succ is None else succ)
                add_inner(key)
                add_outer(place)
                add_key(base + index)
        return transitions

    def _expand_borrowed(self, lender: int, batch: bytes, outgoing: list[Outgoing]) -> int:
        """``expand`` for the states worker ``lender`` lent: their successors owned by the
        lender (those keeping the threads, cache steps among them) go back to it, those
        owned here wait for ``merge`` (a candidate may have been met by a smaller key),
        every key compared.  They join the frontier here, for ``transitions_before``."""
        shared, outer_numbers, inner_numbers, lent_ids = self.decoders[lender].decode(batch)
        if shared is not None:
            self.model.adopt_tables(shared)
        model, cut = self.model, self.cut
        expand, next_state, join = model.expand_numbered, model.next_state, model.join
        numbers = model.inner_keys
        number = numbers.setdefault
        number_outer, outers, owners = model.number_outer, model.outer_list, self.owners
        inner_of = self.inner_of
        transitions = 0
        lent = zip(inner_numbers.tolist(), outer_numbers.tolist(), lent_ids.tolist(), strict=True)
        for own, oid, sid in lent:
            state = join(inner_of(own), outers[oid])
            codes = expand(state, own, oid)
            self.states.append(state)
            self.state_ids.append(sid)
            self.state_inners.append(own)
            self.state_outers.append(oid)
            self.enabled.append(len(codes))
            transitions += len(codes)
            base = sid * STRIDE
            inside = state[:cut]
            for index, (key, place, part) in enumerate(codes):
                if key == -2:
                    succ = next_state(state, place)
                    part = succ[:cut]
                    key = own if part == inside else number(part, len(numbers))
                    place = number_outer(succ[cut:])
                else:
                    if key < 0:
                        key = own
                    if place < 0:
                        place = oid
                try:
                    dest = owners[place]
                except IndexError:
                    dest = self._owners_upto(place)[place]
                out = outgoing[dest]
                pair, at = place << PAIR | key, base + index
                if out.get(pair, at) >= at:
                    out[pair] = at
        return transitions

    def merge(self, batches: Sequence[bytes]) -> tuple[Keys, int, int]:
        """Take the successors other workers found for this one; then, for this level's
        candidates: their keys in order, the smallest key of a bad one and of one that
        meets ``sanity`` (-1 if none)."""
        started = time.process_time()
        arrived = self.arrived
        for source, batch in enumerate(batches):
            if batch:
                shared, outer_numbers, inner_numbers, their_keys = self.decoders[source].decode(batch)
                if shared is not None:
                    self.model.adopt_tables(shared)
                arrived.append((outer_numbers, inner_numbers, their_keys))
                self.counters["received"] += len(their_keys)
        keys = np.asarray(self.keys, dtype=np.int64)
        if arrived:
            keys = self._take(arrived, keys)
        self.arrived = []
        self.count += len(self.candidates)
        # The frontier's own successors come in key order; only those from elsewhere (or
        # from borrowed states) may be out of it.
        if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            self.candidates = _pick(self.candidates, order)
            self.cand_inners = np.asarray(self.cand_inners, dtype=np.int64)[order].tolist()
            self.cand_outers = np.asarray(self.cand_outers, dtype=np.int64)[order].tolist()
        self.keys = []
        self.sorted_keys = keys
        found = self._first(self.model.is_bad, keys), self._first(self.sanity, keys)
        self.cpu.append(time.process_time() - started)
        return keys, *found

    def _take(self, arrived: list[tuple[Keys, Keys, Keys]], keys: Keys) -> Keys:
        """The candidates with the states that ``arrived`` (this worker's numbers, with
        keys) added: those met again in this level keep the smallest key, the new ones
        join, the ones stored in an earlier level are dropped.  Returns all their keys."""
        outer_numbers = np.concatenate([a[0] for a in arrived])
        pairs = outer_numbers << PAIR | np.concatenate([a[1] for a in arrived])
        their_keys = np.concatenate([a[2] for a in arrived])
        # one per state, with its smallest key (several workers may have sent it)
        order = np.lexsort((their_keys, pairs))
        pairs, their_keys = pairs[order], their_keys[order]
        first = np.ones(len(pairs), dtype=bool)
        first[1:] = pairs[1:] != pairs[:-1]
        pairs, their_keys = pairs[first], their_keys[first]
        # met in this level here already: keep the smaller key
        local = np.asarray(self.cand_outers, dtype=np.int64) << PAIR | np.asarray(
            self.cand_inners, dtype=np.int64
        )
        if len(local):
            by_pair = np.argsort(local)
            at = np.minimum(np.searchsorted(local, pairs, sorter=by_pair), len(local) - 1)
            found = local[by_pair[at]] == pairs
            hits = by_pair[at[found]]
            keys[hits] = np.minimum(keys[hits], their_keys[found])
            pairs, their_keys = pairs[~found], their_keys[~found]
        seen, join, outers, inner_of = self.seen, self.model.join, self.model.outer_list, self.inner_of
        candidates, cand_inners, cand_outers = self.candidates, self.cand_inners, self.cand_outers
        new_keys: list[int] = []
        for pair, key in zip(pairs.tolist(), their_keys.tolist(), strict=True):
            place, n = pair >> PAIR, pair & LOW
            bucket = seen.get(place)
            if bucket is None:
                seen[place] = {n}
            elif n in bucket:
                continue
            else:
                bucket.add(n)
            candidates.append(join(inner_of(n), outers[place]))
            cand_inners.append(n)
            cand_outers.append(place)
            new_keys.append(key)
        self.counters["received_new"] += len(new_keys)
        return np.concatenate([keys, np.asarray(new_keys, dtype=np.int64)])

    def _first(self, test: Callable[[Any], bool] | None, keys: Keys) -> int:
        """The key of the first candidate (in key order) that meets ``test``, else -1."""
        if test is None:
            return -1
        return next((int(k) for s, k in zip(self.candidates, keys.tolist(), strict=True) if test(s)), -1)

    def _settle(self, ids: Keys) -> None:
        """This level's candidates get their ids (in key order) and become the frontier."""
        self.states, self.state_ids = self.candidates, ids.tolist()
        self.state_inners, self.state_outers = self.cand_inners, self.cand_outers
        self.candidates, self.cand_inners, self.cand_outers = [], [], []
        self.ids.append(ids)
        self.parents.append(self.sorted_keys)

    def transitions_before(self, sid: int) -> int:
        """Actions enabled in this worker's frontier states with an id below ``sid``."""
        return sum(n for s, n in zip(self.state_ids, self.enabled, strict=True) if s < sid)

    def parent_key(self, sid: int) -> int | None:
        """The key of the transition that first reached state ``sid``, if found here."""
        return parent_key_in(self.ids, self.parents, sid)

    def stored(self) -> int:
        return self.count

    def call_cpu(self) -> list[float]:
        """CPU seconds of each call of the level protocol (``partition.Partition.call_cpu``)."""
        return self.cpu

    def traffic(self) -> dict[str, int]:
        """What crossed: successors sent, bytes sent (lent states included), successors
        received, the new states among them and among the successors of borrowed states
        owned here, states lent; and the distinct outer
        and inner parts of the states expanded here (each worker builds the plans and
        cache-step memos of its own: ``machine/plan.py``, ``machine/hardware.py``)."""
        outers, inners = len(self.expanded_outers), len(self.expanded_inners)
        return {**self.counters, "outer_parts_expanded": outers, "inner_parts_expanded": inners}


def _pick(items: list[Any], order: Keys) -> list[Any]:
    """``items`` in ``order`` (one C call rather than a Python step per item)."""
    if len(order) == 1:
        return [items[int(order[0])]]
    return list(itemgetter(*order.tolist())(items))
