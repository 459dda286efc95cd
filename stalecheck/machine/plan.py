"""A state's steps and successors memoized by what they read: its outer part, the
values its loads read, and its inner part only where a step writes it.

Why: the breadth-first search (``explore/split.py``) splits a state into its memory and
copies (the *inner* part, which spontaneous cache steps change) and the rest (buffers,
threads, system registers, TLBs: the *outer* part).  Far fewer outer parts occur than
states (2,530 for the 143,572 states of the benchmark's 3x1, 2,038 for 205,932 of
fcvm-vsock-nv2/ring-nc+all-patches+desc-flush-before-publish, 334 for 224,896 of
xen-set-way/tsw-tvm), yet the thread steps and buffer completions were computed afresh
in every state, and were most of the search's time.  Here they are computed once per
outer part (a *plan*) and every state with that outer part takes its successors from it,
as ``machine/hardware.py`` does for the cache steps by inner part.

Exact by construction, not by a list of which rules read what: the plan is computed by
running the machine's own code (``Machine.expand``'s segments and ``next_state``) on a
*probe*, the outer part with the memory and copies replaced by ``state.UNREAD``, every
use of which raises ``InnerRead``.  A computation that ends on the probe never read the
memory or the copies, so it is the same for every state with this outer part.  Three
reads are not refused but answered, and the plan records them:

- a load's read past its PE's buffer (``Access.read``) is asked of an oracle that answers
  from the real state at hand (``Access.ask``); the segment's plan is then a tree keyed
  by the answers (the k-th question is fixed by the outer part and the earlier answers),
  and a later state walks it, answering each question from its own memory and copies;
- a buffered store, DC or set/way taking effect defers its effect on the memory and copies
  (``Complete.written``): the plan keeps the effect's arguments and the successor's outer
  part, and a state applies the effect to its own inner part (memoized by inner part);
- the cache steps are ``Hardware.codes``, by inner part and two masks of the outer part.

Whatever else reads the inner part (a device access, a walk, a DMA view) raises, and its
segment or step is computed on the real state, as before.  Tests compare, state by state,
the successors from the plans with ``next_state`` over ``actions`` (tests/machine/test_plan.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from stalecheck.machine.access import Access, Query
from stalecheck.machine.complete import Complete
from stalecheck.machine.hardware import Hardware
from stalecheck.machine.state import UNREAD, InnerRead, State, Unread
from stalecheck.machine.steps import Step

# A successor, as the split search takes it: (inner number, outer number, inner part).
# Inner number SAME: the parent's inner part; outer number SAME: the parent's outer part.
# COMPUTE: (COMPUTE, step, None), the search runs ``next_state``.  Inside plans only:
# (EFFECT, outer number, effect id), the inner part after a deferred ``Complete.written``.
Code = tuple[int, Any, Any]
SAME = -1
COMPUTE = -2
EFFECT = -3

Segment = Callable[[State, list[Step]], None]  # appends a part of ``actions`` in order

# Plan nodes: (LEAF, codes, pure) with pure when no code is an EFFECT; (ASK, question id,
# {answer: node}); (DYNAMIC, segment) computed on every state; (CACHE,) the cache steps.
LEAF, ASK, DYNAMIC, CACHE = 0, 1, 2, 3
Node = tuple[Any, ...]

MEMO_LIMIT = 1 << 18  # entries of the answer and effect memos before they start afresh


class PlanModel(Protocol):
    """What the planner needs of the machine (``system.Machine``)."""

    split_at: int
    access: Access
    completion: Complete
    cache_steps: Hardware
    inner_keys: dict[tuple[Any, ...], int]

    def live(self, state: State) -> int: ...

    def next_state(self, state: State, step: Step) -> State: ...


class _Plan:
    """The steps of every state with one outer part: one node per segment, and the two
    masks of the outer part that the cache steps need (None: computed per state)."""

    __slots__ = ("allocatable", "live", "nodes")

    def __init__(self, nodes: list[Node], live: int | None, allocatable: int | None) -> None:
        self.nodes = nodes
        self.live = live
        self.allocatable = allocatable


_ONCE = _Plan([], None, None)  # the outer part was met once: no plan yet


class Planner:
    """The plans of one machine, by outer number (see the module doc)."""

    def __init__(self, machine: PlanModel, segments: Sequence[Segment | None]) -> None:
        self.m = machine
        self.segments = segments  # None: where the cache steps go
        self.cut = machine.split_at
        self.outer_keys: dict[tuple[Any, ...], int] = {}
        self.outer_list: list[tuple[Any, ...]] = []
        self._plans: list[_Plan | None] = []  # None: never met
        self._questions: dict[Query, int] = {}
        self._question_list: list[Query] = []
        self._answers: dict[tuple[int, int], tuple[int, ...]] = {}
        self._effects: dict[tuple[object, ...], int] = {}
        self._effect_list: list[tuple[Any, ...]] = []
        self._applied: dict[tuple[int, int], tuple[int, tuple[Any, ...]]] = {}

    def number_outer(self, outer: tuple[Any, ...]) -> int:
        n = self.outer_keys.setdefault(outer, len(self.outer_keys))
        if n == len(self.outer_list):
            self.outer_list.append(outer)
            self._plans.append(None)
        return n

    # ---- a state's successors ------------------------------------------------------------

    def codes(self, state: State, own: int, oid: int) -> list[Code]:
        """The successors of ``state`` (inner number ``own``, outer number ``oid``), one
        code per step of ``Machine.actions``, in its order."""
        plan = self._plans[oid]
        if plan is None or plan is _ONCE:
            if plan is None:
                # The first state with this outer part: computed as it is.  Some variants meet
                # each outer part once (no cache steps): a plan would cost more than it saves.
                self._plans[oid] = _ONCE
                return self._direct(state, own)
            plan = self._plans[oid] = self._plan(state, oid)
        out: list[Code] = []
        for index, node in enumerate(plan.nodes):
            tag = node[0]
            if tag == ASK:
                node = self._walk(node, plan, index, state, own)
                tag = node[0]
            if tag == LEAF:
                if node[2]:
                    out += node[1]
                else:
                    self._resolve(node[1], state, own, out)
            elif tag == CACHE:
                live = plan.live
                if live is None:
                    live = self.m.live(state)
                allocatable = plan.allocatable
                if allocatable is None:
                    allocatable = self.m.cache_steps.allocatable(state)
                out += self.m.cache_steps.codes(state, own, live, allocatable)
            else:
                steps: list[Step] = []
                node[1](state, steps)
                out += [(COMPUTE, step, None) for step in steps]
        return out

    def _direct(self, state: State, own: int) -> list[Code]:
        """``codes`` without a plan: every step but the cache steps to run."""
        out: list[Code] = []
        for segment in self.segments:
            if segment is None:
                live = self.m.live(state)
                allocatable = self.m.cache_steps.allocatable(state)
                out += self.m.cache_steps.codes(state, own, live, allocatable)
            else:
                steps: list[Step] = []
                segment(state, steps)
                out += [(COMPUTE, step, None) for step in steps]
        return out

    def _walk(self, node: Node, plan: _Plan, index: int, state: State, own: int) -> Node:
        """Down the tree of a segment's plan by the answers ``state`` gives, growing it
        where it has not been yet."""
        while node[0] == ASK:
            answer = self._answer(own, node[1], state)
            child = node[2].get(answer)
            if child is None:
                segment = self.segments[index]
                assert segment is not None
                return self._grow(plan, index, segment, state)
            node = child
        return node

    def _answer(self, own: int, question: int, state: State) -> tuple[int, ...]:
        key = (own, question)
        found = self._answers.get(key)
        if found is None:
            pe, line, offset, mt = self._question_list[question]
            found = self.m.access.read(state.copies, state.mem, pe, line, offset, mt)
            if len(self._answers) >= MEMO_LIMIT:
                self._answers.clear()
            self._answers[key] = found
        return found

    def _resolve(self, codes: tuple[Code, ...], state: State, own: int, out: list[Code]) -> None:
        """Append ``codes`` with every deferred effect applied to ``state``'s inner part."""
        applied = self._applied
        for code in codes:
            if code[0] != EFFECT:
                out.append(code)
                continue
            key = (own, code[2])
            found = applied.get(key)
            if found is None:
                pe, entry, bypass = self._effect_list[code[2]]
                mem, copies = self.m.completion.written(state.mem, state.copies, pe, entry, bypass)
                inner = (mem, copies)
                numbers = self.m.inner_keys
                found = (numbers.setdefault(inner, len(numbers)), inner)
                if len(applied) >= MEMO_LIMIT:
                    applied.clear()
                applied[key] = found
            out.append((found[0], code[1], found[1]))

    # ---- building plans ------------------------------------------------------------------

    def _plan(self, state: State, oid: int) -> _Plan:
        outer = self.outer_list[oid]
        probe: State = tuple.__new__(State, (UNREAD, UNREAD, *outer))
        try:
            live: int | None = self.m.live(probe)
        except InnerRead:
            live = None
        try:
            allocatable: int | None = self.m.cache_steps.allocatable(probe)
        except InnerRead:
            allocatable = None
        plan = _Plan([], live, allocatable)
        for index, segment in enumerate(self.segments):
            if segment is None:
                plan.nodes.append((CACHE,))
                continue
            plan.nodes.append((LEAF, (), True))  # replaced by _grow
            self._grow(plan, index, segment, state)
        return plan

    def _grow(self, plan: _Plan, index: int, segment: Segment, state: State) -> Node:
        """Run ``segment`` and the steps it lists on the probe of ``state``'s outer part,
        loads answered from ``state``; put the result in the segment's tree under the
        answers given, and return it."""
        outer = state[self.cut :]
        probe: State = tuple.__new__(State, (UNREAD, UNREAD, *outer))
        path: list[tuple[int, tuple[int, ...]]] = []
        access = self.m.access

        def ask(query: Query) -> tuple[int, ...]:
            question = self._questions.setdefault(query, len(self._questions))
            if question == len(self._question_list):
                self._question_list.append(query)
            answer = access.read(state.copies, state.mem, *query)
            path.append((question, answer))
            return answer

        access.ask = ask
        try:
            leaf = self._probe(segment, probe)
        finally:
            access.ask = _refuse
        # Put the leaf under the path of answers; the questions along it are the ones
        # asked at those places before (the computation is deterministic).
        if not path:
            plan.nodes[index] = leaf
            return leaf
        root = plan.nodes[index]
        if root[0] != ASK:
            root = plan.nodes[index] = (ASK, path[0][0], {})
        node = root
        for k, (question, answer) in enumerate(path):
            assert node[0] == ASK and node[1] == question, "a probe asked another question"
            children: dict[tuple[int, ...], Node] = node[2]
            if k + 1 == len(path):
                children[answer] = leaf
                break
            child = children.get(answer)
            if child is None:
                child = children[answer] = (ASK, path[k + 1][0], {})
            node = child
        return leaf

    def _probe(self, segment: Segment, probe: State) -> Node:
        """A segment's steps and their successors on the probe (or DYNAMIC)."""
        steps: list[Step] = []
        try:
            segment(probe, steps)
        except (InnerRead, Exception):
            # Reads the inner part, or fails (a scenario error): on every real state, where
            # an error surfaces where the plain search would raise it.
            return (DYNAMIC, segment)
        codes: list[Code] = []
        pure = True
        for step in steps:
            codes.append(self._successor(probe, step))
            pure = pure and codes[-1][0] != EFFECT
        return (LEAF, tuple(codes), pure)

    def _successor(self, probe: State, step: Step) -> Code:
        try:
            succ = self.m.next_state(probe, step)
            outer = self.number_outer(succ[self.cut :])  # raises if the outer part holds UNREAD
        except (InnerRead, Exception):
            return (COMPUTE, step, None)
        mem: object = succ[0]
        copies: object = succ[1]
        if mem is UNREAD and copies is UNREAD:
            return (SAME, outer, None)
        if type(mem) is Unread and mem is copies and mem.effect is not None:
            effect = self._effects.setdefault(mem.effect, len(self._effects))
            if effect == len(self._effect_list):
                self._effect_list.append(mem.effect)
            return (EFFECT, outer, effect)
        return (COMPUTE, step, None)  # wrote the inner part some other way


def _refuse(query: Query) -> tuple[int, ...]:
    raise InnerRead
