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

from stalecheck.machine.access import Access
from stalecheck.machine.complete import Complete
from stalecheck.machine.hardware import Hardware
from stalecheck.machine.state import UNREAD, InnerRead, Query, Slot, State, Unread, unanswered
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


class Asker(Protocol):
    """An object whose reads of memory and copies ask ``ask`` on a probe."""

    ask: Callable[[Query], tuple[int, ...]]


class _Plan:
    """The steps of every state with one outer part: one node per segment, and the two
    masks of the outer part that the cache steps need (None: computed per state)."""

    __slots__ = ("allocatable", "live", "nodes")

    def __init__(self, nodes: list[Node], live: int | None, allocatable: int | None) -> None:
        self.nodes = nodes
        self.live = live
        self.allocatable = allocatable


_ONCE = _Plan([], None, None)  # the outer part was met once: no plan yet
_TWICE = _Plan([], None, None)  # twice (with translation): a plan from the third state on


BUFS = State._fields.index("bufs")
THREADS = State._fields.index("threads")
assert (BUFS, THREADS) == (2, 3)  # the outer part starts with them (Planner._materialize)
TLBS = State._fields.index("tlbs")
_REST_TLBS = TLBS - 4  # its place in a template's ``rest`` (``state[4:]``)
TLB_SLOT = Slot(TLBS, 0)  # the TLBs in a fine probe keyed without them (``Planner._direct``)

# What a fine plan keys a segment by: one thread (with its PE's buffer), or one PE's buffer.
FineSpec = tuple[int, int]
FINE_THREAD, FINE_BUFFER = 0, 1


class Planner:
    """The plans of one machine, by outer number (see the module doc)."""

    def __init__(
        self,
        machine: PlanModel,
        segments: Sequence[Segment | None],
        fine: Sequence[FineSpec | None],
        askers: Sequence[Asker],
        light: bool = False,
        outer_after: tuple[int, Callable[[State, Step, int], tuple[Any, ...] | None]] | None = None,
    ) -> None:
        self.m = machine
        self.askers = askers  # where the machine's reads of memory and copies ask a probe's oracle
        self.segments = segments  # None: where the cache steps go
        self.fine = fine  # per segment: what a fine plan keys it by (None: no fine plan)
        self.cut = machine.split_at
        self.outer_keys: dict[tuple[Any, ...], int] = {}
        self.outer_list: list[tuple[Any, ...]] = []
        self._plans: list[_Plan | None] = []  # None: never met
        self._fine: dict[tuple[Any, ...], Node] = {}
        # Fine plans keyed without the TLBs first (``_direct``): a translated search meets
        # few threads, buffers and registers but many TLB contents, and most steps never
        # look at a TLB.  Only for machines with translation (``tlbs`` is () otherwise).
        self.light = light
        # (segment index, function): the outer part a step of that segment leads to when it
        # leaves memory and copies alone and the function knows it (TLB fills and drops,
        # mmu.py): ``_direct`` numbers it, so the search builds no State to compare.
        self.outer_after = outer_after
        self._slots: tuple[tuple[Slot, ...], tuple[Slot, ...]] | None = None
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
        if plan is None or plan is _ONCE or plan is _TWICE:
            if plan is None or (plan is _ONCE and self.light):
                # The first state with this outer part.  Some variants meet each outer part
                # once (no cache steps): a plan of it would cost more than it saves.  With
                # translation, the second too: a translated search with quiet lines meets
                # most outer parts about twice (TLB contents vary far more than memory and
                # copies), and a plan costs several direct expansions.
                self._plans[oid] = _ONCE if plan is None else _TWICE
                return self._direct(state, own)
            plan = self._plans[oid] = self._plan(state, oid)
        out: list[Code] = []
        for index, node in enumerate(plan.nodes):
            tag = node[0]
            if tag == ASK:
                leaf = self._walk(node, state, own)
                if leaf is None:
                    segment = self.segments[index]
                    assert segment is not None
                    plan.nodes[index], leaf = self._grow(node, segment, self._probe_of(state), state, False)
                node = leaf
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
        """``codes`` without a plan of the outer part: each thread's steps from its *fine*
        plan, keyed by that thread, its PE's buffer and the system registers (the other
        threads and buffers are ``Slot``s in its probe), each PE's completions likewise by
        its buffer; the cache steps by inner part; the rest computed."""
        out: list[Code] = []
        for index, segment in enumerate(self.segments):
            if segment is None:
                live = self.m.live(state)
                allocatable = self.m.cache_steps.allocatable(state)
                out += self.m.cache_steps.codes(state, own, live, allocatable)
                continue
            spec = self.fine[index]
            leaf: Node | None = None
            if spec is not None:
                kind, which = spec
                if kind == FINE_THREAD:
                    th = state.threads[which]
                    base: tuple[Any, ...] = (index, th, state.bufs[th.pe] if th.pe >= 0 else None)
                else:
                    base = (index, state.bufs[which])
                if self.light:  # first without the TLBs: a leaf that read them is DYNAMIC
                    light = (*base, state[4:TLBS], state[TLBS + 1 :])
                    leaf = self._fine_leaf(light, segment, spec, state, own, True)
                if leaf is None or leaf[0] == DYNAMIC:
                    leaf = self._fine_leaf((*base, state[4:]), segment, spec, state, own, False)
            if leaf is None or leaf[0] == DYNAMIC:
                steps: list[Step] = []
                segment(state, steps)
                if self.outer_after is not None and index == self.outer_after[0]:
                    self._outer_codes(state, steps, self.outer_after[1], out)
                else:
                    out += [(COMPUTE, step, None) for step in steps]
            else:
                self._materialize(leaf[1], state, own, out)
        return out

    def _outer_codes(
        self,
        state: State,
        steps: list[Step],
        outer_after: Callable[[State, Step, int], tuple[Any, ...] | None],
        out: list[Code],
    ) -> None:
        """The codes of ``steps``: SAME with the outer number where ``outer_after`` knows
        the outer part, else COMPUTE."""
        number, cut = self.number_outer, self.cut
        for step in steps:
            outer = outer_after(state, step, cut)
            out.append((COMPUTE, step, None) if outer is None else (SAME, number(outer), None))

    def _fine_leaf(
        self, key: tuple[Any, ...], segment: Segment, spec: FineSpec, state: State, own: int, light: bool
    ) -> Node:
        """The leaf of ``state`` in the fine tree of ``key`` (grown if need be); ``light``:
        the tree is keyed without the TLBs, and its probe's TLBs refuse every use."""
        fine = self._fine
        root = fine.get(key)
        leaf = None if root is None else self._walk(root, state, own)
        if leaf is None:
            probe = self._fine_probe(spec, state)
            if light:
                fields: tuple[Any, ...] = probe  # untyped: a compiled build checks a State slice's types
                probe = tuple.__new__(State, (*fields[:TLBS], TLB_SLOT, *fields[TLBS + 1 :]))
            root, leaf = self._grow(root, segment, probe, state, True)
            if len(fine) >= MEMO_LIMIT:
                fine.clear()
            fine[key] = root
        return leaf

    def _materialize(self, templates: tuple[Code, ...], state: State, own: int, out: list[Code]) -> None:
        """Append the codes of a fine leaf's successors of ``state``: its threads and
        buffers where the templates hold ``Slot``s, and the outer parts numbered."""
        number = self.number_outer
        for kind, recipe, effect in templates:
            if kind == COMPUTE:
                out.append((COMPUTE, recipe, None))
                continue
            buf_recipe, thread_recipe, rest = recipe
            bufs = state.bufs if buf_recipe is None else _fill(buf_recipe, state.bufs)
            threads = state.threads if thread_recipe is None else _fill(thread_recipe, state.threads)
            if rest[_REST_TLBS] is TLB_SLOT:  # left as they were: the state's own
                rest = (*rest[:_REST_TLBS], state.tlbs, *rest[_REST_TLBS + 1 :])
            oid = number((bufs, threads, *rest))
            if kind == SAME:
                out.append((SAME, oid, None))
            else:
                found = self._apply(own, effect, state)
                out.append((found[0], oid, found[1]))

    def _walk(self, node: Node, state: State, own: int) -> Node | None:
        """Down a segment's tree by the answers ``state`` gives: its leaf, or None where
        the tree has not grown yet."""
        while node[0] == ASK:
            child = node[2].get(self._answer(own, node[1], state))
            if child is None:
                return None
            node = child
        return node

    def _answer(self, own: int, question: int, state: State) -> tuple[int, ...]:
        key = (own, question)
        found = self._answers.get(key)
        if found is None:
            query = self._question_list[question]
            found = query[0](state.copies, state.mem, *query[1:])
            if len(self._answers) >= MEMO_LIMIT:
                self._answers.clear()
            self._answers[key] = found
        return found

    def _resolve(self, codes: tuple[Code, ...], state: State, own: int, out: list[Code]) -> None:
        """Append ``codes`` with every deferred effect applied to ``state``'s inner part."""
        for code in codes:
            if code[0] != EFFECT:
                out.append(code)
                continue
            found = self._apply(own, code[2], state)
            out.append((found[0], code[1], found[1]))

    def _apply(self, own: int, effect: int, state: State) -> tuple[int, tuple[Any, ...]]:
        """The number and value of ``state``'s inner part after deferred effect ``effect``."""
        key = (own, effect)
        applied = self._applied
        found = applied.get(key)
        if found is None:
            pe, entry, bypass = self._effect_list[effect]
            mem, copies = self.m.completion.written(state.mem, state.copies, pe, entry, bypass)
            inner = (mem, copies)
            numbers = self.m.inner_keys
            found = (numbers.setdefault(inner, len(numbers)), inner)
            if len(applied) >= MEMO_LIMIT:
                applied.clear()
            applied[key] = found
        return found

    # ---- building plans ------------------------------------------------------------------

    def _probe_of(self, state: State) -> State:
        """``state``'s outer part with memory and copies that refuse every read."""
        return tuple.__new__(State, (UNREAD, UNREAD, *state[self.cut :]))

    def _fine_probe(self, spec: FineSpec, state: State) -> State:
        """The probe of a fine plan: besides memory and copies, every thread and buffer
        but the ones its key holds is a ``Slot``."""
        if self._slots is None:
            self._slots = (
                tuple(Slot(BUFS, j) for j in range(len(state.bufs))),
                tuple(Slot(THREADS, i) for i in range(len(state.threads))),
            )
        buf_slots, thread_slots = self._slots
        kind, which = spec
        if kind == FINE_THREAD:
            pe = state.threads[which].pe
            threads = tuple(th if i == which else thread_slots[i] for i, th in enumerate(state.threads))
        else:
            pe = which
            threads = thread_slots
        bufs = tuple(buf if j == pe else buf_slots[j] for j, buf in enumerate(state.bufs))
        return tuple.__new__(State, (UNREAD, UNREAD, bufs, threads, *state[4:]))

    def _plan(self, state: State, oid: int) -> _Plan:
        probe = self._probe_of(state)
        try:
            live: int | None = self.m.live(probe)
        except InnerRead:
            live = None
        try:
            allocatable: int | None = self.m.cache_steps.allocatable(probe)
        except InnerRead:
            allocatable = None
        plan = _Plan([], live, allocatable)
        for segment in self.segments:
            if segment is None:
                plan.nodes.append((CACHE,))
            else:
                plan.nodes.append(self._grow(None, segment, probe, state, False)[0])
        return plan

    def _grow(
        self, root: Node | None, segment: Segment, probe: State, state: State, fine: bool
    ) -> tuple[Node, Node]:
        """Run ``segment`` and the steps it lists on ``probe``, loads answered from
        ``state``; put the leaf in the tree ``root`` under the answers given.  Return the
        tree (a new root if it was none or a leaf) and the leaf."""
        path: list[tuple[int, tuple[int, ...]]] = []

        def ask(query: Query) -> tuple[int, ...]:
            question = self._questions.setdefault(query, len(self._questions))
            if question == len(self._question_list):
                self._question_list.append(query)
            answer: tuple[int, ...] = query[0](state.copies, state.mem, *query[1:])
            path.append((question, answer))
            return answer

        for asker in self.askers:
            asker.ask = ask
        try:
            leaf = self._probe(segment, probe, fine)
        finally:
            for asker in self.askers:
                asker.ask = unanswered
        if not path:
            return leaf, leaf
        # The questions along the path are the ones asked at those places before: the
        # computation is deterministic, the k-th question fixed by the earlier answers.
        if root is None or root[0] != ASK:
            root = (ASK, path[0][0], {})
        node = root
        for k, (question, answer) in enumerate(path):
            assert node[0] == ASK and node[1] == question, "a probe asked another question"
            children: dict[tuple[int, ...], Node] = node[2]
            if k + 1 == len(path):
                children[answer] = leaf
                break
            child = children.get(answer)
            if child is None or child[0] != ASK:
                child = children[answer] = (ASK, path[k + 1][0], {})
            node = child
        return root, leaf

    def _probe(self, segment: Segment, probe: State, fine: bool) -> Node:
        """A segment's steps and their successors on the probe (or DYNAMIC)."""
        steps: list[Step] = []
        try:
            segment(probe, steps)
        except (InnerRead, Exception):
            # Reads the inner part, or fails (a scenario error): on every real state, where
            # an error surfaces where the plain search would raise it.
            return (DYNAMIC, segment)
        successor = self._template if fine else self._successor
        codes = tuple(successor(probe, step) for step in steps)
        return (LEAF, codes, all(code[0] != EFFECT for code in codes))

    def _inner(self, probe: State, step: Step) -> tuple[State | None, int, int]:
        """``next_state`` on the probe, and what it did to the inner part: SAME, EFFECT
        with the effect's id, or COMPUTE (read it, failed, or wrote it another way)."""
        try:
            succ = self.m.next_state(probe, step)
        except (InnerRead, Exception):
            return None, COMPUTE, -1
        parts: tuple[Any, ...] = succ  # untyped fields: a compiled build checks a State's field types
        mem: object = parts[0]
        copies: object = parts[1]
        if mem is UNREAD and copies is UNREAD:
            return succ, SAME, -1
        if type(mem) is Unread and mem is copies and mem.effect is not None:
            effect = self._effects.setdefault(mem.effect, len(self._effects))
            if effect == len(self._effect_list):
                self._effect_list.append(mem.effect)
            return succ, EFFECT, effect
        return None, COMPUTE, -1

    def _successor(self, probe: State, step: Step) -> Code:
        succ, kind, effect = self._inner(probe, step)
        if succ is None:
            return (COMPUTE, step, None)
        try:
            parts: tuple[Any, ...] = succ  # untyped, as in _inner
            outer = self.number_outer(parts[self.cut :])  # raises if the outer part holds UNREAD
        except (InnerRead, Exception):
            return (COMPUTE, step, None)
        return (kind, outer, None) if kind == SAME else (kind, outer, effect)

    def _template(self, probe: State, step: Step) -> Code:
        """``_successor`` for a fine probe: the successor's outer part as a recipe, its
        threads and buffers with the places where the state's own go (``_fill``)."""
        succ, kind, effect = self._inner(probe, step)
        if succ is None:
            return (COMPUTE, step, None)
        parts: tuple[Any, ...] = succ  # untyped fields: they may hold Slots (see _inner)
        own: tuple[Any, ...] = probe
        buf_recipe = _recipe(parts[BUFS], own[BUFS], BUFS)
        thread_recipe = _recipe(parts[THREADS], own[THREADS], THREADS)
        rest = parts[4:]
        if buf_recipe is False or thread_recipe is False:
            return (COMPUTE, step, None)
        if any(isinstance(x, Unread) and x is not TLB_SLOT for x in rest):
            return (COMPUTE, step, None)
        if any(x is TLB_SLOT for i, x in enumerate(rest) if i != _REST_TLBS):
            return (COMPUTE, step, None)
        return (kind, (buf_recipe, thread_recipe, rest), effect)


Recipe = tuple[tuple[Any, ...], tuple[tuple[int, int], ...]]


def _recipe(new: object, old: tuple[Any, ...], field: int) -> Recipe | bool | None:
    """How a fine probe's successor built its threads or buffers: None, the probe's own
    (the state's, whatever they are); or the tuple with its ``Slot``s' places; False when
    it is something else (computed then)."""
    if new is old:
        return None
    if type(new) is not tuple:
        return False
    holes = []
    for i, x in enumerate(new):
        if isinstance(x, Unread):
            if type(x) is not Slot or x.field != field:
                return False
            holes.append((i, x.index))
    return new, tuple(holes)


def _fill(recipe: Recipe, real: tuple[Any, ...]) -> tuple[Any, ...]:
    template, holes = recipe
    if not holes:
        return template
    out = list(template)
    for i, j in holes:
        out[i] = real[j]
    return tuple(out)
