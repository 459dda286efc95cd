"""Searches with a partial-order reduction, depth-first, or with a bitstate visited set.

``search.check`` is the plain breadth-first search; this module holds the other
orders and the reduced search, so that the hot loop there stays as it is.

*Partial-order reduction* (``Reducer``).  In each state the model may name a
subset of the enabled actions (a stubborn set: ``machine/por.py`` says which and
why that is sound), and the search follows only those.  No action may be ignored for ever: the
breadth-first search keeps that itself with a level proviso (``_bfs``, sound by
Valmari's condition S), trying the model's candidate sets in turn; the depth-first
search leaves it to the model, which then never uses a set holding a step of a
kind that every cycle of its state graph contains (``machine/por.py``).  The
reachable valuations of the visible variables, and so whether a bad state is
reachable, are those of the full graph.  The witness is a real run, but with
the reduction breadth-first order no longer guarantees that it is the shortest:
``Verdict.shortest`` says so, and ``shortest`` re-runs without reduction.

*Symmetry* (``Symmetric``: ``machine/symmetry.py`` says which renamings and why
they are sound).  The visited set holds one canonical representative per orbit
of the renamings, but the search expands the real state it reached, so parent
ids and action indices still describe a real run from the initial state.  The
bad-state and sanity predicates are asked of every member of an orbit: neither
needs to be symmetric.  When only a renamed member is bad, the witness is
re-found along the renamed path (``_renamed_witness``: each renamed step is one
of the renamed state's enabled steps, because the renaming maps steps onto
steps); the renaming fixes the initial state and keeps distances from it, so
breadth-first order still finds a shortest witness.

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

import functools
import time
from array import array
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from stalecheck.explore.protocol import Model
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.explore.watchdog import Stop, raise_if_tripped


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


class SymmetryBroken(Exception):
    """The model found that a renaming the symmetry reduction relies on is not one
    (e.g. a hypervisor policy treats two interchangeable threads differently): the
    search runs again without the symmetry."""


class Symmetric(Protocol):
    """What a model offers for symmetry reduction: renamings ``1 .. size-1`` that map
    its state graph onto itself and fix the initial state."""

    size: int  # the group's order, identity included

    def canonical(self, state: Any) -> Any:
        """The representative of ``state``'s orbit (equal for every member)."""
        ...

    def apply(self, state: Any, k: int) -> Any:
        """``state`` renamed by the ``k``-th non-identity renaming (``0 <= k < size - 1``)."""
        ...

    def close(self, observed: frozenset[Any]) -> frozenset[Any]:
        """A partial-order reduction's observed set, closed under the renamings."""
        ...

    def start(self) -> None:
        """A search over orbits starts (the model may check its renamings from now on)."""
        ...

    def done(self) -> None:
        """That search ended (normally or not)."""
        ...


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

    def leave_cycles_to_search(self) -> None:
        """The search keeps the ignoring problem away itself (``_bfs``'s level proviso):
        the model need not keep the cycle condition any more."""
        ...

    def candidates(self, state: Any, enabled: Sequence[Any]) -> Sequence[Sequence[int]]:
        """Every stubborn set the model offers (indices into ``enabled``, each smaller
        than it), best first; ``ample`` is the first."""
        ...


ReducerFactory = Callable[[frozenset[Any]], Reducer]


@dataclass(frozen=True)
class SearchMode:
    """How to search: order, reduction, bitstate size."""

    order: Order = Order.BFS
    por: bool = False
    bitstate_log2: int = 30  # bits in the bitstate array: 2**30 bits = 128 MiB
    shortest: bool = False  # a witness found with reduction is searched again without it
    symmetry: bool = False  # one state per orbit of the model's renamings (``Symmetric``)


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
    symmetry: Callable[[], Symmetric | None] | None = None,
) -> Verdict:
    """Run the search ``mode`` asks for, restarting when the reduction learns that the
    predicate reads more than it assumed (``RestartSearch``), or that the symmetry
    does not hold (``SymmetryBroken``)."""
    start = time.monotonic()
    observed: frozenset[Hashable] | None = frozenset() if mode.por and reducer is not None else None
    notes: list[str] = []
    sym = symmetry() if mode.symmetry and symmetry is not None else None
    sym_note = "" if sym is not None or not mode.symmetry else "symmetry: none found"
    while True:
        try:
            seen = sym.close(observed) if sym is not None and observed is not None else observed
            red = reducer(seen) if seen is not None and reducer is not None else None
        except RestartSearch as off:  # the model cannot reduce this variant
            notes.append(off.why)
            observed, red = None, None
        bitstate = mode.order == Order.BITSTATE
        store = "bitstate" if bitstate else ("exact" if exact else "digest")
        if red is not None and mode.order == Order.BFS:
            red.leave_cycles_to_search()  # _bfs's level proviso keeps the cycle condition
        run = _Run(model, red, max_states, timeout, sanity, exact and not bitstate, start, store, sym)
        if sym is not None:
            sym.start()
        try:
            if mode.order == Order.BFS:
                verdict = _bfs(model, run)
            else:
                verdict = _dfs(model, run, _Bits(mode.bitstate_log2) if bitstate else None)
        except RestartSearch as again:
            notes.append(again.why)
            observed = again.observed
            continue
        except SymmetryBroken as broken:
            if sym is not None:
                sym.done()
            sym, sym_note = None, f"symmetry off: {broken}"
            continue
        finally:
            if sym is not None:
                sym.done()
        witness = verdict.witness
        if sym is not None and run.image > 0:  # a renamed member of the orbit was the bad one
            witness = _renamed_witness(model, witness, functools.partial(sym.apply, k=run.image - 1))
        steps = replay(model, witness) if verdict.outcome == Outcome.REACHABLE else ()
        reduction = "partial-order" if red is not None else ("none" if not notes else "off: " + notes[-1])
        if sym is not None:
            reduction = ("symmetry" if reduction == "none" else reduction + " + symmetry") + f" ({sym.size})"
        elif sym_note:
            reduction = sym_note if reduction == "none" else reduction + "; " + sym_note
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


class _Run:
    """What both search orders share: the limits, the predicates, the expansion of a
    state (reduced when a reducer is given) and the counters."""

    def __init__(
        self,
        model: Model[Any, Any],
        red: Reducer | None,
        max_states: int | None,
        timeout: float | None,
        sanity: Callable[[Any], bool] | None,
        exact: bool,
        start: float,
        store: str,
        sym: Symmetric | None = None,
    ) -> None:
        self.deadline = start + timeout if timeout is not None else None
        self.max_states = max_states
        self.key: Callable[[Any], Hashable] = (lambda s: s) if exact else model.fingerprint
        self._bad = red.is_bad if red is not None else model.is_bad
        self.is_bad: Callable[[Any], bool] = self._bad
        self.image = 0  # which member of the orbit was bad: 0 the state itself, k+1 renaming k
        self._sym = sym
        if sym is not None:
            canonical, fingerprint = sym.canonical, model.fingerprint
            self.key = canonical if exact else (lambda s: fingerprint(canonical(s)))
            self.is_bad = self._orbit_bad
        self._ample = red.ample if red is not None else None
        self._candidates = red.candidates if red is not None else None
        self._actions, self._next_state = model.actions, model.next_state
        self._sanity = sanity
        self.store = store
        self.transitions = 0
        self.reduced = 0
        self.proviso = 0  # reduced expansions made full by the level proviso (``_bfs``)
        self.sane = True

    def _orbit(self, state: Any) -> list[Any]:
        sym = self._sym
        if sym is None:
            return [state]
        return [state, *(sym.apply(state, k) for k in range(sym.size - 1))]

    def _orbit_bad(self, state: Any) -> bool:
        """Whether some member of ``state``'s orbit is bad (``image`` says which)."""
        for k, member in enumerate(self._orbit(state)):
            if self._bad(member):
                self.image = k
                return True
        return False

    def start(self, init: Any) -> None:
        self.sane = self._sanity is None or any(self._sanity(s) for s in self._orbit(init))

    def meet(self, state: Any) -> None:
        """A new state: note whether it (or a member of its orbit) meets the sanity property."""
        if not self.sane and self._sanity is not None and any(self._sanity(s) for s in self._orbit(state)):
            self.sane = True

    def successors(
        self, state: Any, old: Callable[[Hashable], bool] | None = None
    ) -> list[tuple[int, Any, Hashable]]:
        """The successors to follow.  ``old`` (breadth-first search) says whether a key
        was reached at the expanded state's depth or before: a reduced expansion with
        such a successor is made full (the level proviso, ``_bfs``)."""
        enabled = self._actions(state)
        if old is not None and self._candidates is not None:
            succs = self._first_candidate(state, enabled, self._candidates(state, enabled), old)
        else:
            chosen = self._ample(state, enabled) if self._ample is not None else None
            succs = _follow(state, enabled, chosen, self._next_state, self.key)
        if len(succs) < len(enabled):
            self.reduced += 1
        self.transitions += len(succs)
        return succs

    def _first_candidate(
        self,
        state: Any,
        enabled: Sequence[Any],
        candidates: Sequence[Sequence[int]],
        old: Callable[[Hashable], bool],
    ) -> list[tuple[int, Any, Hashable]]:
        """The successors by the first candidate set with a successor that is not old
        (the level proviso, ``_bfs``), else by every enabled action."""
        made: dict[int, tuple[int, Any, Hashable]] = {}
        next_state, key = self._next_state, self.key
        for chosen in candidates:
            succs = []
            for index in chosen:
                got = made.get(index)
                if got is None:
                    succ = next_state(state, enabled[index])
                    got = made[index] = (index, succ, key(succ))
                succs.append(got)
            if not all(old(k) for _, _, k in succs):
                return succs
        if candidates:
            self.proviso += 1
        out = []
        for index in range(len(enabled)):
            got = made.get(index)
            if got is None:
                succ = next_state(state, enabled[index])
                got = (index, succ, key(succ))
            out.append(got)
        return out

    def over(self, states: int) -> StopReason | None:
        """Why the search must stop after ``states`` states, if it must."""
        if self.max_states is not None and states >= self.max_states:
            return StopReason.MAX_STATES
        if states % 4096 == 0:
            if self.deadline is not None and time.monotonic() > self.deadline:
                return StopReason.TIMEOUT
            raise_if_tripped()  # a Stop the watchdog raised may have been lost
        return None

    def verdict(
        self, outcome: Outcome, reason: StopReason, states: int, depth: int, witness: tuple[int, ...] = ()
    ) -> Verdict:
        return Verdict(
            outcome,
            reason,
            states,
            self.transitions,
            depth,
            0.0,
            witness,
            (),
            self.sane,
            self.store,
            reduced_states=self.reduced,
        )


def _bfs(model: Model[Any, Any], run: _Run) -> Verdict:
    """Breadth-first search; witnesses rebuilt from parent ids.

    With a reduction, the ignoring problem (a step left out for ever along a cycle of
    reduced states) is kept away by a *level proviso*: a state of depth ``d`` follows
    the first candidate set (``Reducer.candidates``, fewest steps first) that has a
    successor not reached yet or reached only at depth ``d + 1`` (not in ``seen``, or
    in ``fresh``); when every candidate's successors are all *old* (reached at depth
    ``d`` or less), the state is expanded fully.  So every state expanded in part has
    a successor one level deeper, and following those edges ends, depths being
    bounded, at a fully expanded state: from every state of the reduced graph a fully
    expanded one is reachable.  That is what reachability needs in place of the cycle
    condition C3 (Valmari's condition S, "The state explosion problem", Lectures on
    Petri Nets I, LNCS 1491, 1998; its breadth-first implementations are compared by
    Evangelista and Pajault, "Solving the ignoring problem for partial order
    reduction", STTT 12, 2010).  The argument: take a path ``a1 .. am`` to a bad state
    from a reduced state ``s``.  If some ``ai`` is in ``s``'s set, the first such one
    commutes with those before it (D1) and the path from ``ai(s)`` is one step
    shorter.  If none is, take the step ``b`` of ``s``'s set towards the fully
    expanded state: ``a1 .. am`` still runs from ``b(s)`` (D1) and ends in a state
    with the same visible values (V: ``b`` is invisible, since a set holding a
    visible step is all of them and holds ``a1``), one step nearer the fully expanded
    state, whose set holds ``a1`` (it stays enabled: D1).  Each case lowers (path
    length, steps to a fully expanded state), so a bad state is found.

    "Fully expand when a chosen successor was already seen" (the usual dynamic C3)
    fired in 94% of the states of these diamond-rich graphs; requiring only that one
    successor go deeper, and trying every candidate set before expanding fully, lets
    most reduced states keep their set (``benchmarks/por_factor.py``)."""
    init = model.initial_state()
    seen: set[Hashable] = {run.key(init)}
    fresh: set[Hashable] = set()  # the keys first reached at depth + 1

    def old(k: Hashable) -> bool:
        return k in seen and k not in fresh
    parent = array("i", [-1])
    via = array("i", [-1])
    depth = 0
    run.start(init)
    try:
        if run.is_bad(init):
            return run.verdict(Outcome.REACHABLE, StopReason.FOUND, 1, 0)
        frontier: list[tuple[Any, int]] = [(init, 0)]
        while frontier:
            nxt: list[tuple[Any, int]] = []
            fresh.clear()
            for state, sid in frontier:
                for index, succ, k in run.successors(state, old):
                    before = len(seen)
                    seen.add(k)
                    if len(seen) == before:
                        continue
                    fresh.add(k)
                    parent.append(sid)
                    via.append(index)
                    if run.is_bad(succ):
                        witness = witness_path(parent, via, len(parent) - 1)
                        return run.verdict(Outcome.REACHABLE, StopReason.FOUND, len(seen), depth + 1, witness)
                    run.meet(succ)
                    nxt.append((succ, len(parent) - 1))
                    stop = run.over(len(seen))
                    if stop is not None:
                        return run.verdict(Outcome.UNKNOWN, stop, len(seen), depth)
            frontier = nxt
            if frontier:
                depth += 1
            if run.deadline is not None and time.monotonic() > run.deadline and frontier:
                return run.verdict(Outcome.UNKNOWN, StopReason.TIMEOUT, len(seen), depth)
        return run.verdict(Outcome.UNREACHABLE, StopReason.EXHAUSTED, len(seen), depth)
    except Stop as stop:
        return run.verdict(Outcome.UNKNOWN, stop.reason, len(seen), depth)


def _follow(
    state: Any,
    enabled: Sequence[Any],
    chosen: Sequence[int] | None,
    next_state: Callable[[Any, Any], Any],
    key: Callable[[Any], Hashable],
) -> list[tuple[int, Any, Hashable]]:
    """The successors by the ``chosen`` actions (None: every enabled one), as
    (action index, state, key)."""
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

    def add(self, fp: Hashable) -> bool:
        assert isinstance(fp, int)  # a 64-bit digest (``Model.fingerprint``)
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


def _dfs(model: Model[Any, Any], run: _Run, bits: _Bits | None) -> Verdict:
    """Depth-first search, over a bitstate array when ``bits`` is given; the witness
    is the stack."""
    seen: Any = bits if bits is not None else set()
    init = model.initial_state()
    seen.add(run.key(init))
    depth = 0
    run.start(init)
    path: list[int] = []  # action index taken at each level of the stack
    try:
        if run.is_bad(init):
            return run.verdict(Outcome.REACHABLE, StopReason.FOUND, len(seen), 0)
        # Each frame: the successors still to visit (reversed, popped from the end).
        stack = [run.successors(init)[::-1]]
        while stack:
            frame = stack[-1]
            if not frame:
                stack.pop()
                if path:
                    path.pop()
                continue
            index, succ, k = frame.pop()
            if bits is not None:
                if not bits.add(k):
                    continue
            else:
                before = len(seen)
                seen.add(k)
                if len(seen) == before:
                    continue
            path.append(index)
            depth = max(depth, len(path))
            if run.is_bad(succ):
                return run.verdict(Outcome.REACHABLE, StopReason.FOUND, len(seen), depth, tuple(path))
            run.meet(succ)
            stop = run.over(len(seen))
            if stop is not None:
                return run.verdict(Outcome.UNKNOWN, stop, len(seen), depth)
            stack.append(run.successors(succ)[::-1])
        if bits is not None:
            return run.verdict(Outcome.UNKNOWN, StopReason.BITSTATE, len(seen), depth)
        return run.verdict(Outcome.UNREACHABLE, StopReason.EXHAUSTED, len(seen), depth)
    except Stop as stop:
        return run.verdict(Outcome.UNKNOWN, stop.reason, len(seen), depth)


def witness_path(parent: array[int], via: array[int], node: int) -> tuple[int, ...]:
    """The action indices from the initial state to ``node`` (parent ids and the
    action that reached each state, as the breadth-first searches keep them)."""
    steps: list[int] = []
    while parent[node] >= 0:
        steps.append(via[node])
        node = parent[node]
    return tuple(reversed(steps))


def _renamed_witness(
    model: Model[Any, Any], witness: tuple[int, ...], rename: Callable[[Any], Any]
) -> tuple[int, ...]:
    """The run to the renamed image of the state ``witness`` reaches: from the initial
    state (which the renaming fixes), at each step the enabled step whose successor is the
    renamed successor.  One exists because the renaming maps steps onto steps; a missing
    one is a bug of the symmetry, never a verdict."""
    state = model.initial_state()
    image = state
    if rename(state) != state:
        raise AssertionError("the symmetry does not fix the initial state")
    out: list[int] = []
    for number, index in enumerate(witness, 1):
        state = model.next_state(state, model.actions(state)[index])
        target = rename(state)
        for j, action in enumerate(model.actions(image)):
            succ = model.next_state(image, action)
            if succ == target:
                out.append(j)
                image = succ
                break
        else:
            raise AssertionError(f"step {number} of the renamed witness is not a step of the model")
    return tuple(out)
