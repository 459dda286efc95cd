"""Partial-order reduction for the machine engine: which enabled steps form a stubborn set.

The search (``explore/reduced.py``) asks, in each state, for a subset of the enabled
steps that is enough to explore; this module answers with the smallest *stubborn
set* it can prove (Valmari's conditions, in Godefroid's "persistent set" form):

  D1  an enabled step ``a`` of the set commutes with every sequence ``b1..bn`` of
      steps outside it, and stays enabled across it;
  D2  (with D1) a deadlock is never skipped;
  V   the set holds no *visible* step unless it is every enabled step;
  C   every cycle of the reduced graph has a fully expanded state (or, weaker and
      enough for reachability, S: from every state a fully expanded one is reachable).

D1, V and C (or S) together keep every reachable valuation of the visible variables
reachable (Peled, "All from one, one for all", 1993; Clarke, Grumberg, Peled,
*Model Checking*, ch. 10): a bad state is found with the reduction exactly when
it is found without, so "unreachable" stays a proof.

*D1.*  Steps belong to components with footprints (``por_footprints.py``).  The set
grows from one component: whenever the ``cur`` footprint of a member conflicts
(write/read, read/write or write/write) with the ``fut`` footprint of a component
outside, that component joins.  When no member's current steps touch anything an
outsider may ever touch, the outsiders' steps commute with the members' and cannot
enable or disable them.  A blocked member (a DSB waiting for its buffer, a WAIT for
an event) has in ``cur`` what enables it, so whoever may enable it joins too.

*C, by sticky steps.*  Every cycle of the machine's state graph holds a FILL or a
step that takes a trap: a program counter only moves forward, EL2 code only
shrinks, buffers only grow by a thread's step, migrations and SYSREG only count
down what is left, so a cycle without a trap is made of cache steps alone; a
write-back moves dirty data strictly down the hierarchy (a measure no cache step
raises), so such a cycle has no write-back, and the copy a DROP removes must be
put back by a FILL.  A set holding an enabled FILL or trap is therefore never
used: every cycle of the reduced graph passes through a fully expanded state.
(The dynamic proviso, "expand fully when a chosen successor was already visited",
also holds in any search order, but these graphs are full of diamonds: it fired in
94% of the reduced states of the benchmark and undid the reduction.)

*C, by the search.*  The sticky-step argument bars every set holding an enabled FILL,
and in these systems a FILL of some line is enabled almost everywhere, so the
breadth-first search keeps away the ignoring problem itself instead
(``leave_cycles_to_search``; the level proviso of ``explore/reduced.py``, which
needs only that a fully expanded state be reachable from every state: Valmari's
condition S).  Depth-first search keeps the sticky steps, and does not reduce under
the translation model (a fault retried by its handler, or a translation made
ahead and discarded, may close a cycle the argument does not cover).

*Visibility* comes from the bad-state predicate, read through ``ObservedView``:
the registers it reads and whether it asks if a thread is done (or its fault).  A
step is visible when it may change one of those: a load into an observed register,
a thread finishing, any step of a thread whose fault is observed.  A predicate that
reads memory or caches makes the search restart without the reduction; one that
reads something not yet observed makes it restart with that observed.  That is
sound although a predicate may branch: until it first reads outside the observed
set, its course depends only on observed values, and every valuation of those is
reached in the reduced graph, so a read outside the set in the full graph is also
made, and caught, in the reduced one.  The sanity property ("some run finishes
every program") is kept too: the reduced run that matches a full one executes
the same steps (permuted, plus steps of other threads that cannot undo finishing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from stalecheck.explore.reduced import RestartSearch
from stalecheck.machine.por_footprints import NONE, Footprint, Footprints, conflict
from stalecheck.machine.state import State
from stalecheck.machine.steps import (
    COMPLETE,
    DROP,
    EARLY,
    EXEC,
    FILL,
    IC_DROP,
    IC_FILL,
    MIGRATE,
    SYSREG,
    TLB_DROP,
    TLB_FILL,
    WRITE_BACK,
    XLATE,
    Step,
)
from stalecheck.machine.system import SPLIT_AT, Machine
from stalecheck.machine.view import StateView

__all__ = ["DONE", "FAULT", "Components", "ObservedView", "PartialOrder", "conflict"]


Observed = tuple[int, str]
"""What the predicate reads of one thread: ``(thread, register name)``, or
``(thread, DONE)``, ``(thread, FAULT)``."""
DONE = " done"  # not a register name (those are identifiers)
FAULT = " fault"


class Components(NamedTuple):
    """What ``PartialOrder.ample`` computes from a state (see the module doc)."""

    steps: dict[int, list[int]]  # component -> indices of its enabled steps
    barred: set[int]  # components with an enabled visible or sticky step
    cur: list[Footprint]
    fut: list[Footprint]


class _Outer(NamedTuple):
    """What ``PartialOrder`` memoizes per outer part of a state (``_outer``)."""

    cur: list[Footprint]
    fut: list[Footprint]
    trapping: int  # threads whose oldest instruction would trap now (with sticky steps barred)
    classes: dict[Step, int]  # ``_classify`` of each step met with this outer part
    closures: dict[tuple[int, int], list[int]]  # by (enabled mask, barred mask): ``_close``


_Grouped = tuple[_Outer, dict[int, list[int]], int, int]


class ObservedView(StateView):
    """A ``StateView`` that refuses reads the reduction did not take as visible."""

    __slots__ = ("_observed",)

    def __init__(self, machine: Machine, state: State, observed: frozenset[Observed]) -> None:
        super().__init__(machine, state)
        self._observed = observed

    def _see(self, thread: str, what: str) -> None:
        t = self._m.thread_index(thread)
        if (t, what) not in self._observed:
            name = {DONE: "whether it is done", FAULT: "its fault"}.get(what, f"register {what}")
            raise RestartSearch(self._observed | {(t, what)}, f"the bad state reads {thread!r}: {name}")

    def reg(self, thread: str, reg: str) -> int:
        value = super().reg(thread, reg)  # an unknown name is the user's error, placed at their line
        self._see(thread, reg)
        return value

    def done(self, thread: str) -> bool:
        self._see(thread, DONE)
        return super().done(thread)

    def fault(self, thread: str) -> int:
        self._see(thread, FAULT)
        return super().fault(thread)

    def all_done(self) -> bool:
        for spec in self._m.threads:  # type: ignore[attr-defined]
            self._see(spec.name, DONE)
        return super().all_done()

    def _hidden(self, what: str) -> RestartSearch:
        return RestartSearch(None, f"the bad state reads {what}, which partial-order reduction hides")

    def mem(self, loc: str) -> int:
        raise self._hidden("memory")

    def cached(self, loc: str) -> dict[str, tuple[int, bool]]:
        raise self._hidden("cache contents")

    def tlb(self, pe: int) -> list[str]:
        raise self._hidden("a TLB")

    def icache(self, pe: int) -> list[tuple[str, int]]:
        raise self._hidden("an instruction cache")


class PartialOrder:
    """Stubborn sets of one machine's steps (see the module doc)."""

    def __init__(self, machine: Machine, observed: frozenset[Observed] = frozenset()) -> None:
        self.m = machine
        self.observed = observed
        # Per thread: the registers the predicate reads, whether it reads done / fault.
        self._obs: list[tuple[frozenset[str], bool, bool] | None] = []
        for t in range(len(machine.layout.threads)):
            what = {w for (u, w) in observed if u == t}
            self._obs.append((frozenset(what - {DONE, FAULT}), DONE in what, FAULT in what) if what else None)
        self.fp = Footprints(machine)
        self.nt, self.n_pes, self.nl = self.fp.nt, self.fp.n_pes, self.fp.nl
        # C by sticky steps (module doc) until the search says it keeps C itself.
        self._sticky_barred = True
        self._outers: dict[tuple[object, ...], _Outer] = {}  # by outer part (``_outer``)

    def leave_cycles_to_search(self) -> None:
        """The search keeps condition S itself (the breadth-first level proviso,
        ``explore/reduced.py``): sets with an enabled FILL or trap may be used."""
        self._sticky_barred = False

    def is_bad(self, state: State) -> bool:
        """The bad-state predicate through a view that refuses unobserved reads."""
        bad = self.m.spec.bad
        if bad is None:
            return False
        return bool(bad(ObservedView(self.m, state, self.observed)))

    def _visible(self, state: State, step: Step) -> bool:
        """Whether a thread's step may change what the predicate reads: a register it
        reads, whether the thread is done, its fault (module doc)."""
        kind = step[0]
        if kind not in (EXEC, EARLY):
            return False  # SYSREG and MIGRATE change no register, pc or fault
        t = step[1]
        obs = self._obs[t]
        if obs is None:
            return False
        regs, done, fault = obs
        if fault:
            return True
        lay = self.m.layout
        prog = lay.programs[t]
        if kind == EARLY:  # leaves pc where it is
            instr = lay.code[prog[step[2]]]
            return instr.op in ("LDR", "EXEC") and lay.writes_any(t, instr.reg, regs)
        th = state.threads[t]
        if th.hyp:
            instr = lay.code[th.hyp[0]]
            writes = instr.op in ("LDR", "EXEC") and lay.writes_any(t, instr.reg, regs)
            return (done and len(th.hyp) == 1) or writes
        instr = lay.code[prog[th.pc]]
        if instr.op in ("LDR", "EXEC") and lay.writes_any(t, instr.reg, regs):
            return True
        if done:  # finishing: pc moves past this instruction and those run ahead of it
            pc = th.pc + 1
            while th.ahead >> pc & 1:
                pc += 1
            return pc >= len(prog)
        return False

    # ---- the stubborn set -------------------------------------------------------------------

    def _outer(self, state: State) -> _Outer:
        """The footprints of every component, and which threads would take a trap now,
        for ``state``'s outer part: they read none of its memory and copies (threads,
        buffers, system registers, mappings; tested with a probe whose memory and
        copies refuse every use), so states that share an outer part share them."""
        outer = state[SPLIT_AT:]
        found = self._outers.get(outer)
        if found is not None:
            return found
        nt, n_pes = self.nt, self.n_pes
        cur: list[Footprint] = []
        fut: list[Footprint] = []
        trapping = 0
        for t in range(nt):
            tc, tf = self.fp.thread(state, t)
            if self._sticky_barred and self.fp.traps_now(state, t):
                trapping |= 1 << t  # taking a trap is sticky (module doc)
            cur.append(tc)
            fut.append(tf)
        for pe in range(n_pes):
            bfp = self.fp.buffer(state, pe)
            cur.append(bfp)
            fut.append(bfp)
        # A line with no spontaneous steps now never has any: quiet lines never do,
        # and a dead line stays dead (reduction.DeadLines).
        dl = self.m.dead_lines
        live = dl.live(state) if dl is not None else -1
        quiet = self.m.quiet
        for line in range(self.nl):
            hw = self.fp.hardware(line) if live >> line & 1 and line not in quiet else NONE
            cur.append(hw)
            fut.append(hw)
        if self.m.mmu is not None:
            for pe in range(n_pes):
                cur.append(self.fp.tlb(pe))
                fut.append(self.fp.tlb(pe))
            for pe in range(n_pes):
                cur.append(self.fp.icache(pe))
                fut.append(self.fp.icache(pe))
        if len(self._outers) >= 1 << 16:
            self._outers.clear()
        found = self._outers[outer] = _Outer(cur, fut, trapping, {}, {})
        return found

    def _classify(self, state: State, step: Step) -> int:
        """``step``'s component times two, plus one when it is visible or sticky (a set
        holding it is no reduction); -1 for a step this module does not analyse.  A
        function of the step and the outer part (``_visible`` reads the threads)."""
        nt, n_pes = self.nt, self.n_pes
        tlb0 = nt + n_pes + self.nl
        # Components: 0..nt-1 threads, nt..nt+n_pes-1 buffers, then lines, then (the
        # translation model) each PE's TLB and each PE's I-cache.
        kind = step[0]
        barred = False
        if kind in (EXEC, EARLY, SYSREG, MIGRATE):
            c = step[1]
            barred = self._visible(state, step)
        elif kind == COMPLETE:
            c = nt + step[1]
        elif kind in (FILL, DROP, WRITE_BACK):
            c = nt + n_pes + step[2]
            barred = kind == FILL and self._sticky_barred
        elif kind == XLATE:
            c = step[1]  # a translation made ahead changes no register, pc or fault
        elif kind in (TLB_FILL, TLB_DROP):
            c = tlb0 + step[1]
            barred = kind == TLB_FILL and self._sticky_barred  # a TLB_DROP is undone only by a TLB_FILL
        elif kind in (IC_FILL, IC_DROP):
            c = tlb0 + n_pes + step[1]
            barred = kind == IC_FILL and self._sticky_barred
        else:
            return -1
        return 2 * c + barred

    def components(self, state: State, enabled: Sequence[Step]) -> Components | None:
        """The enabled steps by component, the barred components, and every component's
        ``cur`` and ``fut`` footprints (None: a step this module does not analyse)."""
        found = self._grouped(state, enabled)
        if found is None:
            return None
        info, steps, _, barred_mask = found
        barred = {c for c in steps if barred_mask >> c & 1}
        return Components(steps, barred, info.cur, info.fut)

    def _grouped(self, state: State, enabled: Sequence[Step]) -> _Grouped | None:
        """The outer part's footprints, the enabled steps by component, and the masks of
        enabled components and of those with a visible or sticky enabled step."""
        info = self._outer(state)
        classes = info.classes
        steps: dict[int, list[int]] = {}
        enabled_mask = barred_mask = 0
        for i, step in enumerate(enabled):
            code = classes.get(step)
            if code is None:
                code = classes[step] = self._classify(state, step)
            if code < 0:
                return None
            c = code >> 1
            bit = 1 << c
            if code & 1:
                barred_mask |= bit
            if enabled_mask & bit:
                steps[c].append(i)
            else:
                enabled_mask |= bit
                steps[c] = [i]
        barred_mask |= info.trapping & enabled_mask  # threads that would take a trap now
        return info, steps, enabled_mask, barred_mask

    def ample(self, state: State, enabled: Sequence[Step]) -> list[int] | None:
        """Indices into ``enabled`` of a stubborn set smaller than ``enabled``, or None."""
        found = self.candidates(state, enabled)
        return found[0] if found else None

    def candidates(self, state: State, enabled: Sequence[Step]) -> list[list[int]]:
        """Every stubborn set smaller than ``enabled`` that grows from one enabled
        component (as indices into ``enabled``), fewest steps first: the search takes
        the first that meets its cycle proviso (``explore/reduced.py``)."""
        if len(enabled) < 2 or (self._sticky_barred and self.m.mmu is not None):
            return []  # the sticky-step argument is not made for the translation model's steps
        found = self._grouped(state, enabled)
        if found is None or len(found[1]) < 2:
            return []
        info, steps, enabled_mask, barred_mask = found
        # The closures depend on the outer part's footprints and on which components are
        # enabled or barred only: memoized by outer part.
        key = (enabled_mask, barred_mask)
        members = info.closures.get(key)
        if members is None:
            members = info.closures[key] = self._close(enabled_mask, barred_mask, info.cur, info.fut)
        sets: dict[int, int] = {}  # member mask -> number of steps
        limit = len(enabled)
        for member in members:
            size = sum(len(steps[c]) for c in steps if member >> c & 1)
            if size < limit:
                sets[member] = size
        ordered = sorted(sets.items(), key=lambda item: item[1])
        return [sorted(i for c in steps if member >> c & 1 for i in steps[c]) for member, _ in ordered]

    @staticmethod
    def _close(enabled_mask: int, barred_mask: int, cur: list[Footprint], fut: list[Footprint]) -> list[int]:
        """The closures (member masks) from every enabled, unbarred component: a member's
        ``cur`` conflicting with a component's ``fut`` brings that component in; a closure
        holding a barred component with enabled steps is no stubborn set."""
        n = len(cur)
        # pulls[c]: the components whose future conflicts with c's current steps.
        pulls: list[int | None] = [None] * n
        out: list[int] = []
        seeds = enabled_mask & ~barred_mask
        while seeds:
            low = seeds & -seeds
            seeds ^= low
            seed = low.bit_length() - 1
            member = 1 << seed
            work = [seed]
            ok = True
            while work:
                c = work.pop()
                got = pulls[c]
                if got is None:
                    cr, cw = cur[c]
                    got = 0
                    for d in range(n):
                        fr, fw = fut[d]
                        if cw & (fr | fw) or cr & fw:
                            got |= 1 << d
                    pulls[c] = got
                new = got & ~member
                if new:
                    if new & barred_mask & enabled_mask:
                        ok = False
                        break
                    member |= new
                    while new:
                        low = new & -new
                        work.append(low.bit_length() - 1)
                        new ^= low
            if ok and member not in out:
                out.append(member)
        return out
