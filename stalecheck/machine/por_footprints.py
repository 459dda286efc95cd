"""Footprints of the machine's steps for partial-order reduction (``machine/por.py``).

Every step belongs to a *component*: a thread (EXEC, EARLY, SYSREG and MIGRATE of
that thread), the entries now in a PE's buffer (their COMPLETE steps), or a line's
spontaneous cache steps (FILL, DROP, WRITE_BACK of that line in every cache).  A
component has two footprints over shared *resources*, each a set of variables read
and a set written: ``cur``, what its steps enabled now (or enabled next, for a
blocked component) read to decide whether and how they run and what they write;
and ``fut``, a superset of everything it may ever do from this state on.

The resources, as bits of an int: each line (memory and every cached copy of it);
each PE's buffer twice, as appended to (a thread's STR, DC, DMB) and as completed
from (a COMPLETE step), both read by what looks at the buffer (loads that forward or
wait, DSB, DMB, SIGNAL, MIGRATE); each thread's *context* (PE, SCTLR bits, EL2 or
not, finished or not: what a speculative fill's enabledness reads of it, D7.5.1
and ``Hardware.fillable``); each VM's HCR_EL2 and stage-2 mappings; the event
flags; the migration counter; and, with ``prune_dead_lines``, each (thread, line)
liveness bit (``DeadLines.thread_live``).  A thread's registers and program counter
are its own: only its own steps touch them.  An append commutes with the completion
of an entry already in the buffer (neither enables, disables or changes the other;
``buffer.remove`` keeps one representation of equal buffers), so the completions of
entries a thread appends later count in that thread's ``fut``, not the buffer's.

*What is conservative.*  An instruction that may trap (a guest instruction for which
the VM has a policy: set/way with ``on_setway``, MSR with ``on_sctlr``, DC with
``on_cmo``, an access to an MMIO page, or to a page not yet mapped at stage 2 with
``on_stage2_fault``: pages are only ever added to a stage 2) runs code no one sees
in advance: such a thread's ``fut`` holds every line and everything code of that
thread can touch.  A thread that may migrate may use every PE's buffer.  Under the
translation model each PE's TLB and I-cache are components of their own (fills
and drops), every step of a CPU thread may walk, fill an I-cache, and use or record
a translation made ahead (``translator``), and a TLBI or IC completing writes every
TLB, I-cache and thread's translations made ahead.  A walk reads the TLB of its PE
and the tables its regime can reach through any descriptor value a line may hold
(``machine/por_walks.py``), not every line; a TLB's fills read those of the regimes
of the threads that may run on its PE; a thread that fetches (EXEC) still reads any
line and TLB.  ``tests/explore/test_por.py``
checks on random systems and bundled variants that steps taken as independent
commute.
"""

from __future__ import annotations

from typing import NamedTuple

from stalecheck.explore.reduced import RestartSearch
from stalecheck.machine.buffer import loads_blocked, named_lines
from stalecheck.machine.isa import ACQUIRE, ACQUIRE_PC, Instr
from stalecheck.machine.ordering import REORDERABLE, Window
from stalecheck.machine.paths import AMO_AL, RMW_READ
from stalecheck.machine.por_walks import LineValues, WalkLines, check_policy_code, declared_stores
from stalecheck.machine.spec import Context, VMSpec
from stalecheck.machine.state import IC_ENTRY, TLBI_ENTRY, State
from stalecheck.machine.system import Machine


class Footprint(NamedTuple):
    """Resources read and written, as bitmasks (see the module doc)."""

    reads: int
    writes: int


class Instruction(NamedTuple):
    """The static footprint of one instruction of one thread: ``own_reads`` says that
    it reads the buffer of the PE it runs on, ``own_writes`` that it appends to it,
    ``entry_lines`` the lines its buffered entry touches when it completes later
    (known only at run time when threads migrate); ``may_trap`` that its effect
    is a policy's, unknown in advance."""

    reads: int
    writes: int
    own_reads: bool
    own_writes: bool
    may_trap: bool
    fault_pages: int = 0  # pages (``Layout.page_bit``) whose stage-2 fault would trap: only while unmapped
    entry_lines: int = 0
    completes: bool = False  # it leaves an entry whose completion comes later
    # A plain load: of its PE's buffer it reads only what is appended (another thread on
    # the PE may append a store it forwards from), the entries of its own line (the
    # line's bit: completions write it) and whether a full DMB's marker holds loads back
    # (``bufm``), not every completion (``bufc``).
    own_marks: bool = False


def conflict(a: Footprint, b: Footprint) -> bool:
    """Whether one writes what the other reads or writes."""
    return bool(a.writes & (b.reads | b.writes) or a.reads & b.writes)


NONE = Footprint(0, 0)


_LINE_OPS = ("LDR", "STR", "AWAIT", "DC", "DCSW", "IC")
_BUFFERED = ("STR", "DC", "DCSW")


class Footprints:
    """The resources of one machine and the footprints of its components (module doc)."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine
        lay = machine.layout
        self.nl = nl = lay.nl
        self.n_pes = n_pes = lay.h.n_pes
        self.nt = nt = len(lay.threads)
        # Bit positions of the resources.
        self._buf0 = nl  # appends to each PE's buffer, then completions from it
        self._bufc0 = nl + n_pes
        self._bufm0 = nl + 2 * n_pes  # a completion that may remove a full DMB's marker
        self._ctx0 = nl + 3 * n_pes
        self._vm0 = self._ctx0 + nt
        self._events = 1 << (self._vm0 + len(lay.vms))
        self._migr = self._events << 1
        self._live0 = self._vm0 + len(lay.vms) + 2
        self.everything = (1 << (self._live0 + (nt * nl if machine.dead_lines is not None else 0))) - 1
        # The translation model (machine/mmu.py): each PE's TLB and I-cache, and each
        # thread's translations and fetches made ahead (``Thread.early``, which a broadcast
        # TLBI completing on another PE discards: mmu._forget_remote_translations).
        self._xlate = machine.mmu is not None
        self._icache = machine.mmu is not None and machine.mmu.icache != "none"
        self._tlb0 = self.everything.bit_length()
        self._ic0 = self._tlb0 + n_pes
        self._xl0 = self._ic0 + n_pes
        if self._xlate:
            self.everything = (1 << (self._xl0 + nt)) - 1
        self.all_tlb = ((1 << n_pes) - 1) << self._tlb0
        self.all_ic = ((1 << n_pes) - 1) << self._ic0
        self.all_xl = ((1 << nt) - 1) << self._xl0
        all_ctx = ((1 << nt) - 1) << self._ctx0
        all_vm = ((1 << len(lay.vms)) - 1) << self._vm0
        self.all_lines = (1 << nl) - 1
        # What an I-cache fill may read: any line (code, and tables found through
        # descriptors in memory; the walker is an observer of its own: walker.py), every
        # TLB, which threads run where and how (ctx), the VMs' HCR_EL2 and stage 2.
        self._walk_reads = (1 << nl) - 1 | self.all_tlb | all_ctx | all_vm
        self.all_bufs = ((1 << n_pes) - 1) << self._buf0  # every PE's appends
        # A translation or a TLB fill reads less: the tables its regime's walks can reach
        # (machine/por_walks.py), the TLB of its PE (D8.16: each PE's TLB is its own), and
        # the context of the threads that may run on that PE (walker.tlb_candidates: the
        # regimes of the threads there, while not finished).
        self._pes = tuple(
            0 if spec.context == Context.DEVICE else (((1 << n_pes) - 1) if spec.migratable else 1 << spec.pe)
            for spec in lay.threads
        )
        self._translate_reads: list[int] = []  # per thread
        self._fetches = tuple(any(lay.code[i].op == "EXEC" for i in prog) for prog in lay.programs)
        self._tlb_reads: list[int] = [1 << (self._tlb0 + pe) | all_vm for pe in range(n_pes)]
        self.walk_bounds: WalkLines | None = None
        if machine.mmu is not None:
            rg = machine.mmu.regimes
            self.walk_bounds = WalkLines(lay, rg, LineValues(lay, machine.initial_state().mem))
            for t in range(nt):
                rid = rg.thread_rid[t]
                lines = self.walk_bounds.regime(rid) if rid >= 0 else self.all_lines
                pes = self._pes[t]
                sharing = sum(1 << (self._ctx0 + u) for u in range(nt) if self._pes[u] & pes)
                tlbs = sum(1 << (self._tlb0 + pe) for pe in range(n_pes) if pes >> pe & 1)
                self._translate_reads.append(lines | tlbs | sharing | all_vm)
                for pe in range(n_pes):
                    if pes >> pe & 1:  # a thread without a regime has no TLB entries filled
                        self._tlb_reads[pe] |= (lines if rid >= 0 else 0) | 1 << (self._ctx0 + t)
        self.all_bufc = ((1 << n_pes) - 1) << self._bufc0  # every PE's completions
        self.all_bufm = ((1 << n_pes) - 1) << self._bufm0
        self._dead = machine.dead_lines is not None
        self._all_live = (self.everything >> self._live0) << self._live0 if self._dead else 0
        self._instr_cache: dict[tuple[int, int], Instruction] = {}
        self._declared = tuple(declared_stores(vm) for vm in lay.vms)
        self._checked: set[int] = set()  # hypervisor code checked against its declared stores
        self._weak = machine.spec.options.weak_ordering
        self._migratable = tuple(spec.migratable for spec in lay.threads)
        self._max_migr = machine.spec.options.max_migrations
        # Guest threads whose VM runs code when they migrate (VMSpec.on_vcpu_load): unknown code.
        self._load_hook = tuple(
            spec.migratable and v >= 0 and lay.vms[v].on_vcpu_load is not None
            for spec, v in zip(lay.threads, lay.thread_vm, strict=True)
        )
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
        for t, prog in enumerate(lay.programs):
            acc = Instruction(0, 0, False, False, False)
            suffix = [acc]
            for index in range(len(prog) - 1, -1, -1):
                acc = _union(acc, self._instruction(t, prog[index], index == len(prog) - 1, False))
                suffix.append(acc)
            self._suffix.append(list(reversed(suffix)))

    def all(self) -> Footprint:
        """Every resource, read and written."""
        return Footprint(self.everything, self.everything)

    # ---- resources -------------------------------------------------------------------

    def _live(self, t: int, line: int) -> int:
        return self._live0 + t * self.nl + line

    def _contribution(self, t: int, pc: int, hyp: tuple[int, ...], mapped: tuple[int, ...]) -> int:
        """The lines thread ``t`` keeps live (``DeadLines.live``'s part for one thread,
        every line while a stage-2 fault may still run a policy), as its liveness bits."""
        dl = self.m.dead_lines
        if dl is None:
            return 0
        return dl.thread_live(t, pc, hyp, mapped) << (self._live0 + t * self.nl)

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
            if not lay.names_a_line(instr.loc):
                # A virtual address (the translation model): its walk may fault at stage 2
                # on any page, or the page it reaches may be an MMIO one.
                return vm.on_stage2_fault is not None or bool(vm.mmio), 0
            line = lay.line_of(instr.loc)
            if lay.lines[line].page in vm.mmio:
                return True, 0
            if vm.on_stage2_fault is None:
                return False, 0
            return False, lay.line_page_bit[line]
        return op in ("EXEC", "TLBI", "IC"), 0

    def translator(self, t: int) -> Footprint:
        """With the translation model, what any step of CPU thread ``t`` may also read
        and write besides its instruction's own footprint: a translation or fetch (now,
        or ahead as an XLATE step) walks tables through the TLB, may fill the I-cache,
        records or uses ``early`` results (``xl``), reads its buffer (FEAT_ETS2 asks
        whether stores are pending: mmu._ets2_results), and may take a stage-1 or
        stage-2 fault (its context).  Its walks read the tables its regime can reach
        (``machine/por_walks.py``) and the TLB of its PE (every PE's if it migrates); a
        thread that fetches (EXEC) reads any line, TLB and I-cache."""
        if not self._xlate or self.m.layout.threads[t].context == Context.DEVICE:
            return NONE
        xl = 1 << (self._xl0 + t)
        ic = self.all_ic if self._icache else 0  # without I-caches no fetch fills one
        # A fetch reads code from any line (and with I-caches any TLB, as a fill does).
        reads = self._walk_reads if self._icache or self._fetches[t] else self._translate_reads[t]
        # prune_dead_tlb: the step also drops the TLB entries it made dead (machine/dead_tlb.py)
        dead = self.all_tlb if self.m.dead_tlb is not None else 0
        return Footprint(reads | ic | xl, xl | ic | dead)

    def _translates_ahead(self, state: State, t: int) -> bool:
        """Whether thread ``t`` may take XLATE steps before its own state changes: an
        instruction up to its next context synchronisation event still to translate or
        fetch (``Mmu.window``; only its own steps shrink that window).  Those steps
        walk and look at the buffer (FEAT_ETS2)."""
        mmu = self.m.mmu
        return mmu is not None and bool(mmu.window(state, t))

    def _translated(self, t: int, instr: Instr) -> bool:
        """Whether ``instr`` of thread ``t`` goes through the translation model (a data
        access to a virtual address, a fetch): it may fault, and the fault changes the
        thread's context (exception entry, EL2 for a stage-2 fault)."""
        mmu = self.m.mmu
        return mmu is not None and (instr.op == "EXEC" or mmu.handles(t, instr))

    def tlb(self, pe: int) -> Footprint:
        """TLB_FILL and TLB_DROP of PE ``pe``'s TLB: a fill walks for the threads running
        on the PE (D8.2: walks may be made speculatively, and their results cached, at
        any time), so it reads the tables their regimes can reach (``machine/por_walks.py``),
        their context and this TLB; ``cur`` and ``fut`` alike."""
        return Footprint(self._tlb_reads[pe], 1 << (self._tlb0 + pe))

    def icache(self, pe: int) -> Footprint:
        """IC_FILL and IC_DROP of PE ``pe``'s I-cache (speculative prefetch through the
        threads' current translations: fetch.py); none without I-caches (mmu.actions
        lists no such step then, and nothing enables one)."""
        if not self._icache:
            return NONE
        bit = 1 << (self._ic0 + pe)
        return Footprint(self._walk_reads | bit, bit)

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
        own_m = False
        if op in ("LDR", "AWAIT"):
            reads = lines | vm_bit
            # A plain load reads its buffer's entries of its line (``lines``: a buffer's
            # completions write the lines of its entries) and its full DMB markers
            # (buffer.loads_blocked); an acquire also its release stores, an atomic's read
            # counts its own pending stores (execute._pending): the whole buffer.
            plain = instr.kind not in (ACQUIRE, ACQUIRE_PC) and not instr.flags & RMW_READ
            own_m = not device and plain and lines != self.all_lines
            own_r = not device and not own_m
        elif op == "STR":
            if device:
                reads |= lines
                writes = lines
            else:
                # In order, a plain store appends to its buffer (``with_entry``), which
                # commutes with completions of the entries already there; out of order it
                # enters at a canonical place among them (``buffer.insert``), and an
                # acquire-release atomic reads the buffer for its marker.
                own_r = self._weak or bool(instr.flags & AMO_AL) or self.m.mmu is not None
                own_w = True
        elif op in ("DC", "DCSW"):
            own_r = self._weak or self.m.mmu is not None
            own_w = True
        elif op == "DMB":
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
        elif op == "TLBI" and self._xlate:
            # Its completion (later, in this thread's future) removes entries from every
            # TLB and translations other threads made ahead (mmu.complete).
            own_r = own_w = True
            writes |= self.all_tlb | self.all_xl
        elif op == "IC" and self._xlate:
            own_r = own_w = True
            writes |= self.all_ic | self.all_xl
        elif op == "EXEC" and self._xlate:
            reads |= self.all_lines  # the fetch (translator() adds the walk and I-cache)
        elif op in ("NOP", "IC"):
            pass  # IC is a no-op without the translation model
        else:
            reads = writes = self.everything
        if last or in_hyp:
            writes |= ctx  # finishing, or running at EL2 and returning (ERET synchronises)
        may_trap, fault_pages = self._may_trap(t, instr, in_hyp)
        completes = (op in _BUFFERED or (self._xlate and op in ("TLBI", "IC"))) and not device
        if self._xlate and not device:
            # Every step may use or discard translations made ahead (``early``: ISB,
            # exception entry); a translated one also walks (``translator``), looks at
            # its buffer (FEAT_ETS2) and may fault (exception entry, at EL1 or EL2).
            xb = 1 << (self._xl0 + t)
            reads |= xb
            writes |= xb
            if self._translated(t, instr):
                xl = self.translator(t)
                reads |= xl.reads
                writes |= xl.writes | ctx
                own_r = True
        out = Instruction(
            reads, writes, own_r, own_w, may_trap, fault_pages, lines if completes else 0, completes, own_m
        )
        self._instr_cache[key] = out
        return out

    def _check_policy_code(self, t: int, ident: int) -> None:
        """Policy code the search meets keeps what its policies declared they store (the
        walk bounds rely on it: ``machine/por_walks.py``); else search without reduction."""
        self._checked.add(ident)
        vm = self.m.layout.thread_vm[t]
        if not self._xlate or vm < 0:
            return
        declared = self._declared[vm]
        if declared is None:
            return  # undeclared: the bounds took every value as possible
        why = check_policy_code(self.m.layout.vms[vm], (self.m.layout.code[ident],), declared)
        if why is not None:
            raise RestartSearch(None, why)

    def traps_now(self, state: State, t: int) -> bool:
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

    def hardware(self, line: int) -> Footprint:
        """The spontaneous cache steps of ``line``: ``cur`` and ``fut`` alike."""
        return self._hw[line]

    # ---- the footprints of the components in a state --------------------------------------

    def thread(self, state: State, t: int) -> tuple[Footprint, Footprint]:
        """``cur`` and ``fut`` of thread ``t`` (module doc)."""
        m = self.m
        lay = m.layout
        th = state.threads[t]
        prog = lay.programs[t]
        if not th.hyp and th.pc >= len(prog):
            return NONE, NONE
        migrates = (
            self._migratable[t] and state.migrations < self._max_migr and th.pe >= 0
        )
        if migrates:
            own, own_c, own_m = self.all_bufs, self.all_bufc, self.all_bufm
        elif th.pe >= 0:
            own, own_c = 1 << (self._buf0 + th.pe), 1 << (self._bufc0 + th.pe)
            own_m = 1 << (self._bufm0 + th.pe)
        else:
            own = own_c = own_m = 0
        # fut: the hyp code still to run, then the rest of the program.
        fut = self._suffix[t][th.pc]
        for ident in th.hyp:
            if ident not in self._checked:
                self._check_policy_code(t, ident)
            fut = _union(fut, self._instruction(t, ident, False, True))
        # Its entries' completions, later, belong to it too (they exist only after it appends).
        fr = fut.reads | (own | own_c | own_m if fut.own_reads else 0) | fut.entry_lines
        fr |= own | own_m if fut.own_marks else 0
        fw = fut.writes | (own if fut.own_writes else 0) | fut.entry_lines | (own_c if fut.completes else 0)
        extra_r = extra_w = 0
        if self.m.dead_tlb is not None:
            # prune_dead_tlb: any step of the thread (its last one, a migration...) may make
            # entries dead and drop them (machine/dead_tlb.py: liveness follows the threads),
            # and which entries the TLBs may fill depends on it; every TLB, conservatively.
            extra_w |= self.all_tlb
        if th.pending >= 0:
            extra_w |= 1 << (self._ctx0 + t)
        if migrates:
            extra_r |= self._migr | own | own_c
            extra_w |= self._migr | (1 << (self._ctx0 + t))
        vm = lay.thread_vm[t]
        traps = fut.may_trap or (vm >= 0 and fut.fault_pages & ~state.mapped[vm] != 0)
        traps = traps or (migrates and self._load_hook[t])  # a migration runs the VM's on_vcpu_load code
        # Liveness (prune_dead_lines): the thread's steps only ever drop lines from its part.
        live_now = self._contribution(t, th.pc, th.hyp, state.mapped)
        if traps:
            # A policy's code runs in this thread at EL2 and may name any line; beyond that
            # it touches only what code of this thread can: its PE's buffer (any PE's, if
            # it migrates), its own context, its VM's registers and mappings (and so every
            # thread's liveness), the event flags.  Without the translation model TLBI and
            # IC do nothing; ``_instruction`` covers every other opcode.
            vm_bit = 1 << (self._vm0 + vm) if vm >= 0 else 0
            policy = self.all_lines | own | own_c | 1 << (self._ctx0 + t) | vm_bit
            policy |= self._events | self._all_live
            fr |= policy
            fw |= policy
        fut_fp = Footprint(fr | extra_r, fw | extra_w | live_now)
        window = self.m.execute.windows[t] if self._weak and th.pe >= 0 else None
        if window is not None and not th.hyp:
            return self._window_cur(state, t, window, extra_r, extra_w, live_now), fut_fp
        # cur: the oldest instruction, trapping or not.
        pe_bit = 1 << (self._buf0 + th.pe) if th.pe >= 0 else 0
        pe_bits = pe_bit | (1 << (self._bufc0 + th.pe) | 1 << (self._bufm0 + th.pe) if th.pe >= 0 else 0)
        if th.hyp:
            cur = self._instruction(t, th.hyp[0], False, True)
            live_next = self._contribution(t, th.pc, th.hyp[1:], state.mapped)
        else:
            cur = self._instruction(t, prog[th.pc], th.pc == len(prog) - 1, False)
            if self.traps_now(state, t):
                # Taking the trap: the policy sees the VM's registers and mappings and the
                # thread's own state (TrapContext); the thread enters EL2 with its code.
                vm_bit = 1 << (self._vm0 + vm) if vm >= 0 else 0
                ctx = 1 << (self._ctx0 + t)
                # Whether the trap is taken now waits as the access would (a full DMB's
                # marker in its PE's buffer holds a load back: buffer.loads_blocked).
                return Footprint(vm_bit | pe_bits | extra_r, ctx | live_now | extra_w), fut_fp
            live_next = self._contribution(t, th.pc + 1, (), state.mapped)
        if self._xlate and th.pe >= 0 and self._translates_ahead(state, t):
            xl = self.translator(t)
            extra_r |= xl.reads | pe_bits
            extra_w |= xl.writes
        cr = cur.reads | (pe_bits if cur.own_reads else 0) | extra_r
        cr |= pe_bit | 1 << (self._bufm0 + th.pe) if cur.own_marks and th.pe >= 0 else 0
        cw = cur.writes | (pe_bit if cur.own_writes else 0) | extra_w | (live_now & ~live_next)
        return Footprint(cr, cw), fut_fp

    def _window_cur(
        self, state: State, t: int, window: Window, extra_r: int, extra_w: int, live_now: int
    ) -> Footprint:
        """``cur`` of a thread that executes out of order (``execute.Execute.early``): the
        oldest instruction and every later one that may execute before it, as far as the
        thread's own state (``pc``, ``ahead``) tells.  Only the thread's own steps change
        those, so while the outsiders of a stubborn set move, the thread's enabled steps
        stay among these: from ``pc`` up to the first sequence point (nothing passes one,
        machine/ordering.py), less what already executed and what must wait for an
        unexecuted earlier instruction (``Window.ready``, static program order).  Whether
        one of them is enabled may depend on shared state (its buffer, a line's value, an
        event, a trap): that is in its footprint, so whoever may change it joins."""
        lay = self.m.layout
        th = state.threads[t]
        prog = lay.programs[t]
        code = lay.code
        pc, ahead = th.pc, th.ahead
        # The oldest: it finishes the thread when everything after it executed already.
        nxt = pc + 1
        while ahead >> nxt & 1:
            nxt += 1
        last = nxt >= len(prog) or code[prog[nxt]].op == "END"
        head = self._instruction(t, prog[pc], last, False)
        reads, writes, own_r, own_w = head.reads, head.writes, head.own_reads, head.own_writes
        own_m = head.own_marks
        if code[prog[pc]].op not in ("PATHS", "END"):
            for j in range(pc + 1, min(window.n, len(prog))):
                if ahead >> j & 1:
                    continue
                if code[prog[j]].op not in REORDERABLE:
                    break  # a sequence point: nothing after it passes it
                if not window.ready(pc, ahead, j):
                    continue
                fp = self._instruction(t, prog[j], False, False)
                reads |= fp.reads
                writes |= fp.writes
                own_r = own_r or fp.own_reads
                own_m = own_m or fp.own_marks
                own_w = own_w or fp.own_writes
        if self.traps_now(state, t):
            # Taking the trap (see ``thread``): the VM's registers and mappings, the
            # thread's own context.
            vm = lay.thread_vm[t]
            reads |= 1 << (self._vm0 + vm) if vm >= 0 else 0
            writes |= 1 << (self._ctx0 + t) | live_now
        if code[prog[pc]].op in ("PATHS", "END") or self.m.mmu is not None:
            live_next = 0  # a path's first step moves pc elsewhere: any liveness bit may change
        else:
            live_next = self._contribution(t, nxt, (), state.mapped)
        pe_bit = 1 << (self._buf0 + th.pe)
        marks = 1 << (self._bufm0 + th.pe)
        pe_bits = pe_bit | 1 << (self._bufc0 + th.pe) | marks
        if self._xlate and self._translates_ahead(state, t):  # see ``thread``
            xl = self.translator(t)
            extra_r |= xl.reads | pe_bits
            extra_w |= xl.writes
        cr = reads | (pe_bits if own_r else 0) | (pe_bit | marks if own_m else 0) | extra_r
        cw = writes | (pe_bit if own_w else 0) | extra_w | (live_now & ~live_next)
        return Footprint(cr, cw)

    def buffer(self, state: State, pe: int) -> Footprint:
        """``cur`` and ``fut`` of the completions of the entries now in PE ``pe``'s
        buffer: the lines they touch, and the buffer as later loads, DSBs and DMBs of
        the PE see it.  Entries appended later complete as their thread's steps (in
        its ``fut``): an append commutes with the completion of an earlier entry
        (neither enables, disables or changes the other; ``buffer.remove`` keeps one
        representation of equal buffers)."""
        buf = state.bufs[pe]
        lines = named_lines(buf)
        if any(entry[0] in (TLBI_ENTRY, IC_ENTRY) for entry in buf):
            # mmu.complete: every TLB (broadcast) or this PE's, every I-cache, and the
            # translations other threads made ahead (D8.17 R_LXHLD), kept or not by where
            # they run and what they executed ahead (their ``xl``: each of their steps
            # writes it).
            all_ctx = ((1 << self.nt) - 1) << self._ctx0
            reads = lines | self.all_xl | all_ctx | self.all_tlb | self.all_ic
            writes = lines | self.all_tlb | self.all_ic | self.all_xl | 1 << (self._bufc0 + pe)
            return Footprint(reads, writes | 1 << (self._bufm0 + pe))
        if not buf:
            return NONE  # no steps now, and none later: what a thread appends is its own
        writes = lines | 1 << (self._bufc0 + pe)
        if loads_blocked(buf):
            writes |= 1 << (self._bufm0 + pe)  # a completion may free loads held by a marker
        return Footprint(lines, writes)


def _union(a: Instruction, b: Instruction) -> Instruction:
    return Instruction(
        a.reads | b.reads,
        a.writes | b.writes,
        a.own_reads or b.own_reads,
        a.own_writes or b.own_writes,
        a.may_trap or b.may_trap,
        a.fault_pages | b.fault_pages,
        a.entry_lines | b.entry_lines,
        a.completes or b.completes,
        a.own_marks or b.own_marks,
    )


NONE = Footprint(0, 0)
