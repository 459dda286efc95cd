"""Partial-order reduction for the machine engine: which enabled steps form a stubborn set.

The search (``explore/reduced.py``) asks, in each state, for a subset of the enabled
steps that is enough to explore; this module answers with the smallest *stubborn
set* it can prove (Valmari's conditions, in Godefroid's "persistent set" form):

  D1  an enabled step ``a`` of the set commutes with every sequence ``b1..bn`` of
      steps outside it, and stays enabled across it;
  D2  (with D1) a deadlock is never skipped;
  V   the set holds no *visible* step unless it is every enabled step;
  C   every cycle of the reduced graph has a fully expanded state (the search's
      proviso: a state whose chosen successors include one already visited is
      expanded fully).

D1, V and C together keep every reachable valuation of the visible variables
reachable (Peled, "All from one, one for all", 1993; Clarke, Grumberg, Peled,
*Model Checking*, ch. 10): a bad state is found with the reduction exactly when
it is found without, so "unreachable" stays a proof.

*Components.*  The steps are grouped by who owns them: a thread (EXEC, EARLY,
SYSREG and MIGRATE of that thread), a PE's buffer (its COMPLETE steps), and a
line's spontaneous cache steps (FILL, DROP, WRITE_BACK of that line in every
cache).  Each component has two footprints over shared *resources*, each a set of
variables read and a set written: ``cur``, what its steps enabled now (or enabled
next, for a blocked component) read to decide whether and how they run and what
they write; and ``fut``, a superset of everything the component may ever do from
this state on.  The resources are: each line (memory and every cached copy of
it), each PE's buffer, each thread's *context* (PE, SCTLR bits, EL2 or not,
finished or not: what a speculative fill's enabledness reads of it, D7.5.1), each
VM's HCR_EL2 and stage-2 mappings, the event flags, the migration counter, and,
with ``prune_dead_lines``, each (thread, line) liveness bit (whether the thread
may still name the line: ``reduction.DeadLines``).  A thread's registers and
program counter are its own: only its own steps touch them.

The set grows from one component: whenever the ``cur`` footprint of a member
conflicts (write/read, read/write or write/write) with the ``fut`` footprint of a
component outside, that component joins.  When no member's current steps touch
anything an outsider may ever touch, the outsiders' steps commute with the
members' and cannot enable or disable them: D1.  A blocked member (a DSB waiting
for its buffer, a WAIT for an event) has in ``cur`` what enables it, so whoever
may enable it joins too.

*What is conservative.*  An instruction that may trap (a guest instruction for
which the VM has a policy: set/way with ``on_setway``, MSR with ``on_sctlr``, DC
with ``on_cmo``, an access to an unmapped or MMIO page) runs code no one can see
in advance: such a thread's ``fut`` is everything.  A thread that may migrate may
use every PE's buffer.  The translation model (TLBs, instruction caches, walks of
tables held in lines) is not analysed: the reduction is off with it.

*Visibility* comes from the bad-state predicate: the threads it reads
(``ObservedView``) are observed, and every step of an observed thread is visible.
A predicate that reads memory or caches makes the reduction stop and the search
restart without it; one that reads a thread not yet observed makes the search
restart with that thread observed.  That is sound although a predicate may branch:
until it first reads outside the observed set, its course depends only on observed
values, and every valuation of those is reached in the reduced graph, so a read
outside the set in the full graph is also made, and caught, in the reduced one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from stalecheck.explore.reduced import RestartSearch
from stalecheck.machine.isa import Instr
from stalecheck.machine.spec import Context, VMSpec
from stalecheck.machine.state import DCVA, SETWAY, STORE, State
from stalecheck.machine.steps import COMPLETE, DROP, EARLY, EXEC, FILL, MIGRATE, SYSREG, WRITE_BACK, Step
from stalecheck.machine.system import Machine
from stalecheck.machine.view import StateView


class Footprint(NamedTuple):
    """Resources read and written, as bitmasks (see the module doc)."""

    reads: int
    writes: int


class Instruction(NamedTuple):
    """The static footprint of one instruction of one thread: ``own_reads`` and
    ``own_writes`` say whether it reads or writes the buffer of the PE it runs on
    (known only at run time when threads migrate); ``may_trap`` that its effect
    is a policy's, unknown in advance."""

    reads: int
    writes: int
    own_reads: bool
    own_writes: bool
    may_trap: bool
    fault_pages: int = 0  # pages (``Layout.page_bit``) whose stage-2 fault would trap: only while unmapped


Observed = tuple[int, str]
"""What the predicate reads of one thread: ``(thread, register name)``, or
``(thread, DONE)``, ``(thread, FAULT)``."""
DONE = " done"  # not a register name (those are identifiers)
FAULT = " fault"


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


_LINE_OPS = ("LDR", "STR", "AWAIT", "DC", "DCSW", "IC")
_BUFFERED = ("STR", "DC", "DCSW")


class PartialOrder:
    """Stubborn sets of one machine's steps (see the module doc)."""

    def __init__(self, machine: Machine, observed: frozenset[Observed] = frozenset()) -> None:
        if machine.mmu is not None:
            why = "the translation model (TLBs, instruction caches, walks) is not analysed"
            raise RestartSearch(None, why)
        self.m = machine
        self.observed = observed
        # Per thread: the registers the predicate reads, whether it reads done / fault.
        self._obs: list[tuple[frozenset[str], bool, bool] | None] = []
        for t in range(len(machine.layout.threads)):
            what = {w for (u, w) in observed if u == t}
            self._obs.append((frozenset(what - {DONE, FAULT}), DONE in what, FAULT in what) if what else None)
        lay = machine.layout
        self.nl = nl = lay.nl
        self.n_pes = n_pes = lay.h.n_pes
        self.nt = nt = len(lay.threads)
        # Bit positions of the resources.
        self._buf0 = nl
        self._ctx0 = nl + n_pes
        self._vm0 = self._ctx0 + nt
        self._events = 1 << (self._vm0 + len(lay.vms))
        self._migr = self._events << 1
        self._live0 = self._vm0 + len(lay.vms) + 2
        self.everything = (1 << (self._live0 + (nt * nl if machine.dead_lines is not None else 0))) - 1
        self.all_bufs = ((1 << n_pes) - 1) << self._buf0
        self.all_lines = (1 << nl) - 1
        self._dead = machine.dead_lines is not None
        self._all_live = (self.everything >> self._live0) << self._live0 if self._dead else 0
        self._instr_cache: dict[tuple[int, int], Instruction] = {}
        self._weak = machine.spec.options.weak_ordering
        self._migratable = tuple(spec.migratable for spec in lay.threads)
        self._max_migr = machine.spec.options.max_migrations
        # Hardware steps of a line read every CPU thread's context and every VM's
        # registers (``Hardware.fillable``) unless the host's linear map lets any PE fill it.
        cpu = [t for t, spec in enumerate(lay.threads) if spec.context != Context.DEVICE]
        context_reads = sum(1 << (self._ctx0 + t) for t in cpu) | (((1 << len(lay.vms)) - 1) << self._vm0)
        linear = machine.cache_steps.linear_fill
        self._hw: list[Footprint] = []
        for line in range(nl):
            reads = 1 << line
            if not linear[line]:
                reads |= context_reads
            if self._dead:
                reads |= sum(1 << self._live(t, line) for t in range(nt))
                reads |= ((1 << len(lay.vms)) - 1) << self._vm0
            self._hw.append(Footprint(reads, 1 << line))
        # Suffix unions of each program's static footprints: fut of a thread at pc.
        self._suffix: list[list[Instruction]] = []
        self._buffered_lines: list[list[int]] = []  # lines the thread may still put into a buffer
        for t, prog in enumerate(lay.programs):
            acc = Instruction(0, 0, False, False, False)
            lines = 0
            suffix = [acc]
            blines = [0]
            for index in range(len(prog) - 1, -1, -1):
                fp = self._instruction(t, prog[index], index == len(prog) - 1, False)
                acc = _union(acc, fp)
                instr = lay.code[prog[index]]
                if instr.op in _BUFFERED:
                    lines |= self._line_bits(instr)
                suffix.append(acc)
                blines.append(lines)
            self._suffix.append(list(reversed(suffix)))
            self._buffered_lines.append(list(reversed(blines)))

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
            return instr.op in ("LDR", "EXEC") and instr.reg in regs
        th = state.threads[t]
        if th.hyp:
            instr = lay.code[th.hyp[0]]
            return (done and len(th.hyp) == 1) or (instr.op in ("LDR", "EXEC") and instr.reg in regs)
        instr = lay.code[prog[th.pc]]
        if instr.op in ("LDR", "EXEC") and instr.reg in regs:
            return True
        if done:  # finishing: pc moves past this instruction and those run ahead of it
            pc = th.pc + 1
            while th.ahead >> pc & 1:
                pc += 1
            return pc >= len(prog)
        return False

    # ---- resources -------------------------------------------------------------------

    def _live(self, t: int, line: int) -> int:
        return self._live0 + t * self.nl + line

    def _line_bits(self, instr: Instr) -> int:
        lay = self.m.layout
        if instr.op not in _LINE_OPS or not instr.loc:
            return 0
        if lay.names_a_line(instr.loc):
            return 1 << lay.line_of(instr.loc)
        return self.all_lines

    def _may_trap(self, t: int, instr: Instr, in_hyp: bool) -> tuple[bool, int]:
        """Whether a guest instruction may ever trap to a policy (trap bits change during
        the search, so only the presence of a policy counts), and the page whose stage-2
        fault would trap: pages are only ever added to a stage 2 (``MAP``), so once mapped
        it never faults again."""
        lay = self.m.layout
        spec = lay.threads[t]
        if spec.context != Context.GUEST or in_hyp:
            return False, 0
        vm: VMSpec = lay.vms[lay.vm_index[spec.vm]]
        op = instr.op
        if op == "DCSW":
            return vm.on_setway is not None, 0
        if op == "MSR":
            return vm.on_sctlr is not None, 0
        if op in ("LDR", "STR", "AWAIT", "DC"):
            if op == "DC" and vm.on_cmo is not None:
                return True, 0
            if not instr.loc:
                return False, 0
            line = lay.line_of(instr.loc)
            if lay.lines[line].page in vm.mmio:
                return True, 0
            if vm.on_stage2_fault is None:
                return False, 0
            return False, lay.line_page_bit[line]
        return op in ("EXEC", "TLBI", "IC"), 0

    def _instruction(self, t: int, ident: int, last: bool, in_hyp: bool) -> Instruction:
        """The footprint of thread ``t`` executing interned instruction ``ident``
        (not trapping); ``last``: it may finish the thread (its context changes)."""
        key = (ident, t * 4 + 2 * last + in_hyp)
        cached = self._instr_cache.get(key)
        if cached is not None:
            return cached
        lay = self.m.layout
        instr = lay.code[ident]
        spec = lay.threads[t]
        op = instr.op
        lines = self._line_bits(instr)
        vm = lay.vm_index[spec.vm] if spec.context == Context.GUEST else -1
        vm_bit = 1 << (self._vm0 + vm) if vm >= 0 else 0
        ctx = 1 << (self._ctx0 + t)
        reads = writes = 0
        own_r = own_w = False
        device = spec.context == Context.DEVICE
        reads = vm_bit  # a guest's types and traps read HCR_EL2 and the stage-2 mappings
        if op in ("LDR", "AWAIT"):
            reads = lines | vm_bit
            own_r = not device
        elif op == "STR":
            if device:
                reads |= lines
                writes = lines
            else:
                own_r = own_w = True
        elif op in ("DC", "DCSW") or op == "DMB":
            own_r = own_w = True
        elif op == "DSB":
            own_r = True
        elif op in ("ISB", "MSR", "EMSR"):
            writes = ctx
        elif op == "SIGNAL":
            own_r = not device
            reads |= self._events
            writes = self._events
        elif op == "WAIT":
            reads |= self._events
        elif op in ("MAP", "HCR"):
            reads = writes = vm_bit if vm >= 0 else self.everything
            if self._dead:
                writes |= self._all_live  # the fault check of DeadLines.live reads the mappings
        elif op in ("NOP", "IC"):
            pass  # IC is a no-op without the translation model
        else:
            reads = writes = self.everything
        if last or in_hyp:
            writes |= ctx  # finishing, or running at EL2 and returning (ERET synchronises)
        if self._dead:
            dl = self.m.dead_lines
            assert dl is not None
            named = lines
            if dl.may_run_policy(instr, lay.vms[vm]) if vm >= 0 else False:
                named = self.all_lines
            if op in ("MAP", "HCR") or (vm >= 0 and lay.vms[vm].on_stage2_fault is not None):
                named = self.all_lines  # a fault may still be possible: every line is live
            writes |= sum(1 << self._live(t, line) for line in range(self.nl) if named >> line & 1)
        may_trap, fault_pages = self._may_trap(t, instr, in_hyp)
        out = Instruction(reads, writes, own_r, own_w, may_trap, fault_pages)
        self._instr_cache[key] = out
        return out

    def _traps_now(self, state: State, t: int) -> bool:
        """Whether thread ``t``'s oldest instruction would trap to EL2 now."""
        th = state.threads[t]
        prog = self.m.layout.programs[t]
        if th.hyp or th.pc >= len(prog):
            return False
        ident = prog[th.pc]
        fp = self._instruction(t, ident, th.pc == len(prog) - 1, False)
        if not (fp.may_trap or fp.fault_pages):
            return False
        return self.m.traps.trap(state, t, self.m.layout.code[ident]) is not None

    # ---- the footprints of the components in a state --------------------------------------

    def _thread_fps(self, state: State, t: int) -> tuple[Footprint, Footprint]:
        """``cur`` and ``fut`` of thread ``t`` (module doc)."""
        m = self.m
        lay = m.layout
        th = state.threads[t]
        prog = lay.programs[t]
        if not th.hyp and th.pc >= len(prog):
            return _NONE, _NONE
        migrates = (
            self._migratable[t] and state.migrations < self._max_migr and th.pe >= 0
        )
        own = self.all_bufs if migrates else (1 << (self._buf0 + th.pe) if th.pe >= 0 else 0)
        # fut: the hyp code still to run, then the rest of the program.
        fut = self._suffix[t][th.pc]
        for ident in th.hyp:
            fut = _union(fut, self._instruction(t, ident, False, True))
        fr = fut.reads | (own if fut.own_reads else 0)
        fw = fut.writes | (own if fut.own_writes else 0)
        extra_r = extra_w = 0
        if th.pending >= 0:
            extra_w |= 1 << (self._ctx0 + t)
        if migrates:
            extra_r |= self._migr | own
            extra_w |= self._migr | (1 << (self._ctx0 + t))
        vm = lay.thread_vm[t]
        traps = fut.may_trap or (vm >= 0 and fut.fault_pages & ~state.mapped[vm] != 0)
        fut_fp = Footprint(fr | extra_r, fw | extra_w) if not traps else _ALL(self)
        if self._weak and th.pe >= 0:
            return fut_fp, fut_fp  # out-of-order steps: anything still to run may be next
        # cur: the oldest instruction, trapping or not.
        if th.hyp:
            cur = self._instruction(t, th.hyp[0], False, True)
        else:
            cur = self._instruction(t, prog[th.pc], th.pc == len(prog) - 1, False)
            if self._traps_now(state, t):
                # Taking the trap: the policy sees the VM's registers and mappings and the
                # thread's own state (TrapContext); the thread enters EL2 with its code.
                vm_bit = 1 << (self._vm0 + vm) if vm >= 0 else 0
                ctx = 1 << (self._ctx0 + t)
                live = sum(1 << self._live(t, line) for line in range(self.nl)) if self._dead else 0
                return Footprint(vm_bit | extra_r, ctx | live | extra_w), fut_fp
        pe_bit = 1 << (self._buf0 + th.pe) if th.pe >= 0 else 0
        cr = cur.reads | (pe_bit if cur.own_reads else 0) | extra_r
        cw = cur.writes | (pe_bit if cur.own_writes else 0) | extra_w
        return Footprint(cr, cw), fut_fp

    def _buffer_fps(self, state: State, pe: int) -> tuple[Footprint, Footprint]:
        buf = state.bufs[pe]
        bit = 1 << (self._buf0 + pe)
        lines = 0
        for entry in buf:
            kind = entry[0]
            if kind == STORE:
                lines |= 1 << entry[1]
            elif kind == DCVA:
                lines |= 1 << entry[2]
            elif kind == SETWAY:
                lines |= 1 << entry[3]
            elif kind > 4:  # TLBI and IC entries (not analysed)
                lines = self.everything
        cur = Footprint(bit | lines, bit | lines)
        # fut: entries threads on this PE (or any PE, if they migrate) may still add.
        more = lines
        for t, th in enumerate(state.threads):
            if th.pe == pe or (self._migratable[t] and th.pe >= 0):
                more |= self._buffered_lines[t][th.pc]
                rest = self._suffix[t][th.pc]
                vm = self.m.layout.thread_vm[t]
                if rest.may_trap or (vm >= 0 and rest.fault_pages & ~state.mapped[vm]):
                    more |= self.all_lines  # a policy's code may put anything in the buffer
                for ident in th.hyp:  # policy code at EL2 (it cannot trap again)
                    more |= self._line_bits(self.m.layout.code[ident])
        return cur, Footprint(bit | more, bit | more)

    # ---- the stubborn set -------------------------------------------------------------------

    def ample(self, state: State, enabled: Sequence[Step]) -> list[int] | None:
        """Indices into ``enabled`` of a stubborn set smaller than ``enabled``, or None."""
        if len(enabled) < 2:
            return None
        nt, n_pes = self.nt, self.n_pes
        # Components: 0..nt-1 threads, nt..nt+n_pes-1 buffers, then lines.
        steps: dict[int, list[int]] = {}
        # Components with an enabled visible or sticky step: such a step is never left
        # out, so a set holding one is no reduction.
        barred: set[int] = set()
        for i, step in enumerate(enabled):
            kind = step[0]
            if kind in (EXEC, EARLY, SYSREG, MIGRATE):
                c = step[1]
                if c not in barred and self._visible(state, step):
                    barred.add(c)
            elif kind == COMPLETE:
                c = nt + step[1]
            elif kind in (FILL, DROP, WRITE_BACK):
                c = nt + n_pes + step[2]
                if kind == FILL:
                    barred.add(c)
            else:
                return None
            steps.setdefault(c, []).append(i)
        if len(steps) < 2:
            return None
        cur: list[Footprint] = []
        fut: list[Footprint] = []
        for t in range(nt):
            tc, tf = self._thread_fps(state, t)
            if t in steps and self._traps_now(state, t):
                barred.add(t)  # taking a trap is sticky (module doc)
            cur.append(tc)
            fut.append(tf)
        for pe in range(n_pes):
            bc, bf = self._buffer_fps(state, pe)
            cur.append(bc)
            fut.append(bf)
        # A line with no spontaneous steps now never has any: quiet lines never do,
        # and a dead line stays dead (reduction.DeadLines).
        dl = self.m.dead_lines
        live = dl.live(state) if dl is not None else -1
        quiet = self.m.quiet
        for line in range(self.nl):
            hw = self._hw[line] if live >> line & 1 and line not in quiet else _NONE
            cur.append(hw)
            fut.append(hw)
        n = len(cur)
        best: list[int] | None = None
        best_size = len(enabled)
        # Seeds: enabled invisible components, fewest enabled steps first.
        for seed in sorted(steps, key=lambda c: len(steps[c])):
            if seed in barred:
                continue
            if len(steps[seed]) >= best_size:
                break
            member = [False] * n
            member[seed] = True
            work = [seed]
            size = len(steps[seed])
            ok = True
            while work and ok:
                c = work.pop()
                cr, cw = cur[c]
                for d in range(n):
                    if member[d]:
                        continue
                    fr, fw = fut[d]
                    if cw & (fr | fw) or cr & fw:
                        member[d] = True
                        work.append(d)
                        got = steps.get(d)
                        if got:
                            size += len(got)
                            if size >= best_size or d in barred:
                                ok = False
                                break
            if ok:
                best_size = size
                best = sorted(i for c in range(n) if member[c] for i in steps.get(c, ()))
        return best


def _union(a: Instruction, b: Instruction) -> Instruction:
    return Instruction(
        a.reads | b.reads,
        a.writes | b.writes,
        a.own_reads or b.own_reads,
        a.own_writes or b.own_writes,
        a.may_trap or b.may_trap,
        a.fault_pages | b.fault_pages,
    )


_NONE = Footprint(0, 0)


def _ALL(po: PartialOrder) -> Footprint:
    return Footprint(po.everything, po.everything)
