"""Spontaneous cache steps: write-back, drop and speculative fill of a line in one cache.

The hardware may do these at any time (D7.5.1 General behavior of the caches);
what each does is ``caches.write_back``, ``drop_clean`` and ``fill``.  This
module says which are enabled in a state: every copy may be written back (dirty)
or dropped (clean); a fill needs ``caches.may_fill`` and a regime that may
allocate the line (``fillable``).

Speed: the enabled steps depend on the copies and memory, on which lines are
live, and on which (cache, line) pairs some regime may allocate; the last depends
on the threads, HCR_EL2 and the stage-2 mappings alone.  Far fewer distinct
combinations of these occur than states (4,608 for 225k states of
xen-set-way/tsw-tvm, 270 for 144k of the benchmark's 3x1), so both are memoized
per variant (``Hardware.steps``), keyed by the values themselves: the same steps,
in the same order, as computing them afresh.  What each step leaves in the
memory and copies (``effect``) depends on the same key, so the memo keeps that
too: the breadth-first search (``explore/split.py``) takes the successors of
cache steps from it without building a state for each (most are states it has
already seen).
"""

from __future__ import annotations

from stalecheck.machine import caches
from stalecheck.machine.access import Access
from stalecheck.machine.hierarchy import Hierarchy
from stalecheck.machine.layout import Layout
from stalecheck.machine.state import State
from stalecheck.machine.steps import DROP, FILL, WRITE_BACK, Step

MEMO_LIMIT = 1 << 18  # entries per memo before it starts afresh (bounds its memory)
# The steps memo also holds every step's successor memory and copies: fewer entries.
STEPS_MEMO_LIMIT = 1 << 15

Inner = tuple[caches.Memory, caches.Copies]  # a state's memory and copies: what a cache step changes
_Found = tuple[tuple[Step, ...], tuple[Inner, ...], tuple[int, ...]]  # steps, successors, their numbers


def effect(copies: caches.Copies, mem: caches.Memory, h: Hierarchy, nl: int, step: Step) -> Inner:
    """The memory and copies after the spontaneous cache step ``step`` (a write-back,
    drop or fill: ``caches.write_back``, ``drop_clean``, ``fill``)."""
    kind = step[0]
    if kind == DROP:
        return mem, caches.drop_clean(copies, step[1], step[2], nl)
    if kind == FILL:
        return mem, caches.fill(copies, mem, h, step[1], step[2], nl, step[3] if len(step) > 3 else 0)
    assert kind == WRITE_BACK
    copies, mem = caches.write_back(copies, mem, h, step[1], step[2], nl)
    return mem, copies


class Hardware:
    """The spontaneous cache steps of one variant."""

    def __init__(self, layout: Layout, access: Access) -> None:
        self.layout = layout
        self.access = access
        # Static facts ``steps`` needs for every state, computed once.
        self.linear_fill = tuple(
            layout.spec.options.host_linear_map and (host is None or host.cacheable)
            for host in layout.host_types
        )
        self.loud: tuple[int, ...] = tuple(range(layout.nl))  # lines whose steps are explored (reduction.py)
        self._all_linear = all(self.linear_fill)
        self._steps_memo: dict[tuple[object, ...], _Found] = {}
        # Every memory-and-copies pair met, numbered: the split search stores the numbers,
        # whose hashes cost nothing (``explore/split.py``).  Never cleared: the numbers must
        # stay the same for the whole search.
        self.inner_keys: dict[Inner, int] = {}
        self._fill_memo: dict[tuple[object, ...], int] = {}
        self._codes_memo: dict[tuple[int, int, int], tuple[tuple[int, int, Inner], ...]] = {}

    def fillable(self, state: State, inst: int, line: int, dirty: int) -> bool:
        """D7.5.1 General behavior of the caches: a line may be allocated into a cache when it
        is Normal cacheable in the regime of an EL running on that PE, or of a higher
        EL: with the host's linear map of all RAM at EL2, every PE may fill any RAM line
        (docs/design.md section 1, Hardware nondeterminism).  ``dirty`` is
        ``caches.dirty_l1_lines`` of the state's copies."""
        lay = self.layout
        if not caches.may_fill(state.copies, lay.h, inst, line, lay.nl, dirty):
            return False
        return self.linear_fill[line] or self._fillable_by_regime(state, inst, line)

    def _fillable_by_regime(self, state: State, inst: int, line: int) -> bool:
        """Without the linear map: some unfinished thread on the instance's PE (any
        PE for a shared level) maps ``line`` Normal cacheable right now.  Reads only
        ``state.threads``, ``hcr`` and ``mapped`` (the key of ``_fill_memo``)."""
        lay = self.layout
        pe = lay.h.instances[inst].pe
        for t, th in enumerate(state.threads):
            if th.pe < 0 or (pe is not None and th.pe != pe) or lay.finished(state, t):
                continue
            if self.access.guest_unmapped(state, t, line):
                continue
            if self.access.access_type(state, t, line).allocates:
                return True
        return False

    def allocatable(self, state: State) -> int:
        """Bit ``inst * nl + line``: a regime may allocate ``line`` into ``inst``
        (``fillable`` without the copies), for the loud lines; -1: every pair."""
        if self._all_linear:
            return -1
        key = (state.threads, state.hcr, state.mapped)
        mask = self._fill_memo.get(key)
        if mask is None:
            mask = 0
            nl = self.layout.nl
            for inst in range(len(self.layout.h.instances)):
                for line in self.loud:
                    if self.linear_fill[line] or self._fillable_by_regime(state, inst, line):
                        mask |= 1 << (inst * nl + line)
            if len(self._fill_memo) >= MEMO_LIMIT:
                self._fill_memo.clear()
            self._fill_memo[key] = mask
        return mask

    def steps(
        self, state: State, live: int, steps: list[Step]
    ) -> tuple[tuple[Inner, ...], tuple[int, ...]]:
        """Append the enabled write-backs, drops and fills to ``steps``, instance by
        instance, line by line (the order is part of the witness contract), and return
        the memory and copies after each (``effect``) with their ``inner_keys``.
        ``live`` is the bitmask of lines that may still be touched (reduction.DeadLines;
        -1: all)."""
        allocatable = self.allocatable(state)
        copies, mem = state.copies, state.mem
        key = (copies, mem, live, allocatable)
        found = self._steps_memo.get(key)
        if found is None:
            enabled = self._compute(copies, mem, live, allocatable)
            h, nl = self.layout.h, self.layout.nl
            inners = tuple(effect(copies, mem, h, nl, step) for step in enabled)
            numbers = self.inner_keys
            found = (enabled, inners, tuple(numbers.setdefault(inner, len(numbers)) for inner in inners))
            if len(self._steps_memo) >= STEPS_MEMO_LIMIT:
                self._steps_memo.clear()
            self._steps_memo[key] = found
        steps.extend(found[0])
        return found[1], found[2]

    def codes(
        self, state: State, own: int, live: int, allocatable: int
    ) -> tuple[tuple[int, int, Inner], ...]:
        """``steps`` as the split search takes them (``machine/plan.py``): for each enabled
        step, the number of the memory and copies after it, -1 (the same outer part), and
        those memory and copies.  ``own`` is the number of ``state``'s; keyed by it and the
        two masks, so a lookup hashes three ints."""
        key = (own, live, allocatable)
        found = self._codes_memo.get(key)
        if found is None:
            copies, mem = state.copies, state.mem
            enabled = self._compute(copies, mem, live, allocatable)
            h, nl = self.layout.h, self.layout.nl
            numbers = self.inner_keys
            out = []
            for step in enabled:
                inner = effect(copies, mem, h, nl, step)
                out.append((numbers.setdefault(inner, len(numbers)), -1, inner))
            found = tuple(out)
            if len(self._codes_memo) >= STEPS_MEMO_LIMIT:
                self._codes_memo.clear()
            self._codes_memo[key] = found
        return found

    def _compute(
        self, copies: caches.Copies, mem: caches.Memory, live: int, allocatable: int
    ) -> tuple[Step, ...]:
        """``steps`` for these copies, memory, live lines and ``allocatable`` mask."""
        lay = self.layout
        nl = lay.nl
        h = lay.h
        out: list[Step] = []
        append = out.append
        dirty = caches.dirty_l1_lines(copies, h, nl)
        clean = caches.clean_l1_lines(copies, h, nl)
        for inst in range(len(h.instances)):
            base = inst * nl
            for line in self.loud:  # quiet lines: spontaneous steps cannot matter (reduction.py)
                if not live >> line & 1:
                    continue  # nobody touches this line again: its hardware steps cannot matter
                copy = copies[base + line]
                if copy:
                    append((WRITE_BACK if copy[0] else DROP, inst, line))
                    continue
                if not allocatable >> (base + line) & 1:
                    continue  # no regime may allocate the line into this cache
                if not caches.may_fill(copies, h, inst, line, nl, dirty):
                    continue
                append((FILL, inst, line))
                if not clean >> line & 1:
                    continue  # no clean L1 copy to be served from: only the level below
                # more sources only after a mismatched-attribute write (caches.fill_sources)
                n = len(caches.fill_sources(copies, mem, h, inst, line, nl))
                for source in range(1, n):
                    append((FILL, inst, line, source))
        return tuple(out)
