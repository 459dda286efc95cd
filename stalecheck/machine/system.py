"""The machine engine as a ``Model``: initial state, enabled steps, effect of a step.

This is the core: it builds one object per concern of the engine and wires
them, in a fixed order, into the list of enabled steps and the effect of each.
The rules themselves live in those modules, each defined once:

- ``layout.py``: names, interned code, registers (static);
- ``access.py``: memory types and the values a load may return;
- ``traps.py``: which guest instruction traps to EL2, and the policy it runs;
- ``execute.py``: the effect of issuing an instruction (``maintenance.py`` for
  DC and set/way entries, ``sysregs.py`` for SCTLR_EL1 and context synchronisation);
- ``complete.py``: a buffered store or maintenance taking effect (``buffer.py``
  says which may, ``caches.py`` what it does);
- ``hardware.py``: spontaneous write-backs, drops and fills;
- ``mmu.py``: translation (``walker.py``) and instruction fetch (``fetch.py``);
- ``reduction.py``: sound reductions of the explored space;
- ``describe.py`` and ``mmu_text.py``: one witness record per step (``step_record.py``).

Steps are plain int tuples (``steps.py``), listed in a fixed order, so a witness
is a list of indices.
"""

from __future__ import annotations

from functools import lru_cache, partial
from operator import itemgetter

from stalecheck.explore.fingerprint import digest64
from stalecheck.machine import atomic, buffer, caches, hardware
from stalecheck.machine.access import Access
from stalecheck.machine.complete import Complete
from stalecheck.machine.dead_tlb import DeadTlb, Tables
from stalecheck.machine.describe import describe
from stalecheck.machine.execute import Execute
from stalecheck.machine.hardware import Hardware, Inner
from stalecheck.machine.isa import Instr
from stalecheck.machine.layout import Layout
from stalecheck.machine.memtypes import PATH_CACHEABLE, MemType
from stalecheck.machine.mmu import Mmu
from stalecheck.machine.mmu_text import MmuText
from stalecheck.machine.plan import FINE_BUFFER, FINE_THREAD, Asker, Code, FineSpec, Planner, Segment
from stalecheck.machine.reduction import DeadLines, quiet_lines
from stalecheck.machine.regimes import Regimes
from stalecheck.machine.rfco import RfCo
from stalecheck.machine.spec import Context, SystemSpec, TrapContext, VMSpec
from stalecheck.machine.state import (
    SCTLR_C,
    SCTLR_I,
    STORE,
    STORE_ATOMIC,
    Entry,
    State,
    Thread,
    sctlr_bits,
    with_thread,
)
from stalecheck.machine.step_record import StepRecord
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
    Step,
    StepKind,
)
from stalecheck.machine.sysregs import synchronise
from stalecheck.machine.traps import Traps
from stalecheck.machine.view import StateView

_new_state = tuple.__new__
_MEMO_LIMIT = 1 << 18  # entries of a per-variant memo before it starts afresh (bounds its memory)
assert State._fields[:2] == ("mem", "copies")  # relied on by next_state's hardware steps
_CACHE_STEPS = frozenset((DROP, FILL, WRITE_BACK))
_TLB_CHANGING = frozenset((COMPLETE, TLB_DROP, TLB_FILL))  # steps whose own effect may remove TLB entries
# Steps that change neither the threads nor the migration count, so no TLB entry dies in
# them (dead_tlb.py: liveness is a function of those two).
_KEEP_LIVENESS = frozenset((DROP, FILL, WRITE_BACK, TLB_FILL, TLB_DROP, IC_FILL, IC_DROP))
SPLIT_AT = 2  # a state's first fields that cache steps change (``Machine.expand``, explore/split.py)


class Machine:
    """One variant of a scenario, ready to explore."""

    split_at = SPLIT_AT  # the fields a cache step changes come first (explore/split.py)

    def __init__(self, spec: SystemSpec) -> None:
        self.spec = spec
        self.layout = lay = Layout(spec)
        self.h = lay.h
        self.nl = lay.nl
        self.lines = lay.lines
        self.pages = lay.pages
        self.vms = lay.vms
        self.threads = lay.threads
        self.code = lay.code
        self.programs = lay.programs
        self.host_types = lay.host_types
        self.access = Access(lay)
        if spec.xlate is None:
            for t in spec.threads:
                lay.check_thread(t, None)
        # Translation and instruction fetch (machine/mmu.py), only when the scenario uses them.
        regimes = Regimes(lay, spec.xlate) if spec.xlate is not None else None
        self.traps = Traps(lay, self.access, regimes)
        self.mmu = Mmu(lay, regimes, self.access, self.traps) if regimes is not None else None
        # Dead TLB entries (machine/dead_tlb.py): not filled, and dropped by the step that kills them.
        self.dead_tlb: DeadTlb | None = None
        if self.mmu is not None and regimes is not None and spec.options.prune_dead_tlb:
            self.dead_tlb = self.mmu.dead_tlb = DeadTlb(lay, regimes, self.traps, spec.options.max_migrations)
        if regimes is not None:
            for t in spec.threads:
                lay.check_thread(t, regimes.is_va)
        self.mmu_text = MmuText(lay, self.mmu) if self.mmu is not None else None
        self.execute = Execute(lay, self.access, self.traps, self.mmu)
        self._weak = spec.options.weak_ordering
        self.completion = Complete(lay, self.mmu)
        if spec.options.record_executions:  # litmus execution counts (machine/rfco.py)
            self.execute.tracker = self.completion.tracker = RfCo(lay, self.execute)
        self.cache_steps = Hardware(lay, self.access)
        self.inner_keys = self.cache_steps.inner_keys  # explore/split.py
        # Optional reductions (machine/reduction.py); under translation the dead-lines one
        # counts what walks may read, bounded by the programs' stores (no policies).
        self.dead_lines = self._dead_lines(regimes) if spec.options.prune_dead_lines else None
        self.access.dma.relax_loads(self.execute.windows)  # ISH barriers, DMA-written data
        self.quiet = quiet_lines(lay, self.access)
        self.access.quiet = self.quiet
        self.cache_steps.loud = tuple(line for line in range(self.nl) if line not in self.quiet)
        # Bound once: ``actions`` and ``next_state`` are the hottest functions of the search.
        self._choices = self.execute.choices
        self._execute = self.execute.execute
        self._complete = self.completion.complete
        self._hardware_steps = self.cache_steps.steps
        self._thread_range = range(len(self.threads))
        self._setway_in_order = spec.options.setway_program_order
        self._max_migrations = spec.options.max_migrations
        self._preemptible = spec.options.preemptible_policies
        self._completions = lru_cache(maxsize=1 << 16)(self._buffer_completions)
        self._bad_memo: dict[tuple[Thread, ...], bool] = {}  # is_bad's answers by threads
        self._bad_last: tuple[object, bool] = (None, False)  # the last threads memoized, and their answer
        self._complete_last: tuple[object, bool] = (None, False)
        self._pe_range = range(self.h.n_pes)
        # Steps and successors memoized by outer part (machine/plan.py; explore/split.py).
        askers: list[Asker] = [self.access]
        if self.mmu is not None:
            askers.append(self.mmu.walker)
        segments = self._segments()
        outer_after = (len(segments) - 1, self.mmu.outer_after) if self.mmu is not None else None
        # next_state is the step's effect then the dead-TLB drop: fine plans apply the drop to
        # their successors' outer parts (machine/plan.py ``post``)
        post = (self._next_state, self.dead_tlb.drop, _KEEP_LIVENESS) if self.dead_tlb is not None else None
        self.planner = Planner(
            self, segments, self._fine_specs(), askers, self.mmu is not None, outer_after, post
        )
        self.outer_keys = self.planner.outer_keys
        self.outer_list = self.planner.outer_list
        self.number_outer = self.planner.number_outer

    def _dead_lines(self, regimes: Regimes | None) -> DeadLines | None:
        """The dead-lines reduction (reduction.py), with what translation may touch."""
        lay = self.layout
        if regimes is None:
            return DeadLines(lay)
        if any(_has_policy(vm) for vm in lay.vms):
            return None  # a policy's stores may put descriptors no program writes
        tables = self.dead_tlb.tables if self.dead_tlb is not None else Tables(lay, regimes)
        translated: list[int] = []
        for t in range(len(lay.threads)):
            rid = regimes.thread_rid[t]
            reach = tables.lines_reached(rid) if rid >= 0 else 0
            translated.append((1 << lay.nl) - 1 if reach is None else reach)
        return DeadLines(lay, translated, regimes.is_va)

    # ---- names ---------------------------------------------------------------------

    def intern(self, instr: Instr) -> int:
        return self.layout.intern(instr)

    def thread_index(self, name: str) -> int:
        return self.layout.thread_index(name)

    def reg_index(self, thread: int, reg: str) -> int:
        return self.layout.reg_index(thread, reg)

    def loc_index(self, loc: str) -> tuple[int, int]:
        return self.layout.loc_index(loc)

    def final_value(self, state: State, t: int, reg: str) -> int | None:
        lay = self.layout
        if lay.renamed[t]:  # a plain program run out of order: its writes were renamed
            return lay.renamed_value(state.threads[t], t, reg)
        if not lay.paths[t] or not lay.finished(state, t):
            return None
        return lay.final_value(state.threads[t], t, reg)

    def line_of(self, name: str) -> int:
        return self.layout.line_of(name)

    def cache_labels(self) -> tuple[str, ...]:
        return tuple(self.h.label(i) for i in range(len(self.h.instances)))

    def reduced_lines(self) -> frozenset[int]:
        return self.quiet

    def tlb_entries(self, state: State, pe: int) -> list[str]:
        if self.mmu_text is None:
            return []
        return [self.mmu_text.entry_text(*entry) for entry in state.tlbs[pe]]

    def icache_entries(self, state: State, pe: int) -> list[tuple[str, int]]:
        if not state.icaches:
            return []
        return [(self.lines[line].name, values[0]) for _, line, values in state.icaches[pe]]

    @property
    def pruned(self) -> bool:
        """Whether the dead-lines reduction skips hardware steps (memory is then not exact)."""
        return self.dead_lines is not None

    @property
    def tlbs_pruned(self) -> bool:
        """Whether the dead-TLB reduction drops entries (TLB contents are then not exact)."""
        return self.dead_tlb is not None

    # ---- questions about a state ----------------------------------------------------------

    def finished(self, state: State, t: int) -> bool:
        return self.layout.finished(state, t)

    def current(self, state: State, t: int) -> Instr | None:
        return self.layout.current(state, t)

    def access_type(self, state: State, t: int, line: int) -> MemType:
        """The type of thread ``t``'s next data access to ``line`` (access.py)."""
        return self.access.access_type(state, t, line)

    def trap_for(self, state: State, t: int) -> TrapContext | None:
        """The trap thread ``t``'s next instruction would take, if any."""
        return self.traps.trap_for(state, t)

    # ---- the Model protocol --------------------------------------------------------------

    def initial_state(self) -> State:
        lay = self.layout
        init = self.spec.init
        mem = tuple(tuple(init.get(loc, 0) for loc in line.locations) for line in self.lines)
        threads = tuple(
            Thread(
                0,
                (0,) * len(lay.regs[i]),
                (),
                t.pe if t.context != Context.DEVICE else -1,
                sctlr_bits(*t.sctlr),
                -1,
                0,
            )
            for i, t in enumerate(self.threads)
        )
        state = State(
            mem=mem,
            copies=(caches.NO_COPY,) * (len(self.h.instances) * self.nl),
            bufs=((),) * self.h.n_pes,
            threads=threads,
            hcr=tuple(vm.hcr.to_int() for vm in self.vms),
            mapped=tuple(sum(lay.page_bit[p] for p in vm.mapped if p in lay.page_bit) for vm in self.vms),
            events=0,
            migrations=0,
        )
        if self.mmu is None:
            return state
        state = self.mmu.init(state)
        return self.dead_tlb.drop(state) if self.dead_tlb is not None else state

    def fingerprint(self, state: State) -> int:
        """A 64-bit digest for searches that store digests (``explore.fingerprint``).
        ``State``, ``Thread`` and the buffer, TLB and I-cache entries are NamedTuples,
        which marshal refuses: their plain tuples are passed (the fallback would
        convert the whole state, slower).  Field order: ``State._fields``."""
        mem, copies, bufs, threads, hcr, mapped, events, migrations, tlbs, icaches = state
        return digest64(
            (
                mem,
                copies,
                tuple(tuple(map(tuple, buf)) for buf in bufs) if any(bufs) else bufs,
                tuple(map(tuple, threads)),
                hcr,
                mapped,
                events,
                migrations,
                tuple(tuple(map(tuple, x)) for x in tlbs),
                tuple(tuple(map(tuple, x)) for x in icaches),
            )
        )

    # What places a state on a worker of a parallel search (``explore.parallel``): the
    # threads, which the spontaneous cache steps and buffer completions (most transitions)
    # leave alone, so that those successors stay on their worker.  An ``itemgetter``, not
    # a method: it runs once per transition there, and a C call costs a third as much.
    partition_key = itemgetter(State._fields.index("threads"))

    def shared_tables(self) -> dict[int, Instr]:
        """What another process needs to read this one's states: the code emitted so far."""
        return self.layout.emitted_code()

    def adopt_tables(self, tables: dict[int, Instr]) -> None:
        self.layout.adopt_code(tables)

    def describe(self, before: State, step: Step, after: State) -> StepRecord:
        rec = describe(self, before, step, after)
        if self.dead_tlb is None or self.mmu_text is None or step[0] in _TLB_CHANGING:
            return rec
        # prune_dead_tlb folded drops into this step (machine/dead_tlb.py): say so
        dropped = [
            f"PE{pe}'s TLB drops "
            + ", ".join(self.mmu_text.entry_text(*entry) for entry in old if entry not in new)
            for pe, (old, new) in enumerate(zip(before.tlbs, after.tlbs, strict=True))
            if old != new
        ]
        if not dropped:
            return rec
        text = f"{rec.effect.text}; then {'; '.join(dropped)}: no translation still to come can use them"
        return rec._replace(effect=rec.effect._replace(text=text))

    def is_bad(self, state: State) -> bool:
        """The scenario's bad-state predicate.  Speed: most transitions (cache steps,
        buffer completions) leave the threads alone, and most predicates read only
        registers and whether threads are done.  An evaluation that read nothing but
        ``state.threads`` (``StateView.wide`` stayed False) followed a path fixed by
        the threads, so its answer holds for every state with the same threads and is
        memoized by them: the same answers as evaluating afresh (the predicate is a
        function of what it reads through the view, as partial-order reduction's
        ``ObservedView`` assumes too)."""
        bad = self.spec.bad
        if bad is None:
            return False
        threads = state.threads
        if threads is self._bad_last[0]:  # a sibling from the same parent: no hashing
            return self._bad_last[1]
        memo = self._bad_memo
        found = memo.get(threads)
        if found is not None:
            self._bad_last = (threads, found)
            return found
        view = StateView(self, state)
        answer = bad(view)
        if not view.wide:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[threads] = answer
            self._bad_last = (threads, answer)
        return answer

    def is_complete(self, state: State) -> bool:
        """Every program ran to its end: a function of ``state.threads``, so the answer
        for the last threads asked about is kept (the search asks about a state's
        successors in turn, and most share their parent's threads)."""
        threads = state.threads
        last = self._complete_last
        if threads is last[0]:
            return last[1]
        answer = all(self.layout.finished(state, i) for i in self._thread_range)
        self._complete_last = (threads, answer)
        return answer

    def actions(self, state: State) -> list[Step]:
        return self.expand(state)[0]

    def expand(self, state: State) -> tuple[list[Step], int, tuple[Inner, ...], tuple[int, ...]]:
        """``actions``, with where the spontaneous cache steps start among them, the
        memory and copies after each of those (``hardware.effect``) and their numbers in
        ``inner_keys``: what the breadth-first search needs to skip building the many
        successors it has seen (``explore/split.py``; a state's first ``SPLIT_AT`` fields
        are memory and copies).  The steps are listed by segments (``_segments``), in a
        fixed order that is the witness contract; ``machine/plan.py`` memoizes the same
        segments by what they read."""
        steps: list[Step] = []
        for t in self._thread_range:
            self._thread_steps(state, steps, t)
        for pe in self._pe_range:
            self._completion_steps(state, steps, pe)
        first = len(steps)
        inners, keys = self._hardware_steps(state, self.live(state), steps)
        self._system_steps(state, steps)
        if self.mmu is not None:
            self._mmu_steps(state, steps)
        return steps, first, inners, keys

    def _segments(self) -> list[Segment | None]:
        """``expand``'s parts in its order, the cache steps as None (``machine/plan.py``)."""
        segments: list[Segment | None] = [partial(self._thread_steps, t=t) for t in self._thread_range]
        segments += [partial(self._completion_steps, pe=pe) for pe in self._pe_range]
        segments += [None, self._system_steps]
        if self.mmu is not None:
            segments.append(self._mmu_steps)
        return segments

    def _fine_specs(self) -> list[FineSpec | None]:
        """What ``machine/plan.py`` may key each segment by besides the whole outer part."""
        specs: list[FineSpec | None] = [(FINE_THREAD, t) for t in self._thread_range]
        specs += [(FINE_BUFFER, pe) for pe in self._pe_range]
        return specs + [None] * (len(self._segments()) - len(specs))

    def _thread_steps(self, state: State, steps: list[Step], t: int) -> None:
        """Thread ``t``'s next instruction, each way, then what it may execute early."""
        n = self._choices(state, t)
        if n == 1:
            steps.append((EXEC, t, 0))
        elif n:
            steps.extend((EXEC, t, c) for c in range(n))
        if self._weak:
            for j, ways in self.execute.early(state, t):
                steps.extend((EARLY, t, j, c) for c in range(ways))

    def _completion_steps(self, state: State, steps: list[Step], pe: int) -> None:
        """The entries of PE ``pe``'s buffer that may take effect now."""
        buf = state.bufs[pe]
        if buf:
            for step in self._completions(pe, buf):
                entry = buf[step[2]]
                atomic_write = entry[0] == STORE and entry[5] & STORE_ATOMIC
                if atomic_write and not atomic.may_propagate(state, pe, entry):
                    continue  # machine/atomic.py: another observer wrote between
                steps.append(step)

    def _system_steps(self, state: State, steps: list[Step]) -> None:
        """SCTLR_EL1 writes taking effect, and vCPU migrations."""
        for t, th in enumerate(state.threads):
            if th.pending >= 0:
                steps.append((SYSREG, t))
        if state.migrations < self._max_migrations:
            for t, spec in enumerate(self.threads):
                th = state.threads[t]
                if (
                    spec.migratable
                    and (not th.hyp or self._preemptible)
                    and not self.layout.finished(state, t)
                    and not state.bufs[th.pe]
                ):
                    steps.extend((MIGRATE, t, pe) for pe in range(self.h.n_pes) if pe != th.pe)

    def _mmu_steps(self, state: State, steps: list[Step]) -> None:
        """Translation and instruction fetch steps (machine/mmu.py)."""
        assert self.mmu is not None
        steps.extend(self.mmu.actions(state))

    def live(self, state: State) -> int:
        """The lines whose cache steps are explored (reduction.DeadLines; -1: all)."""
        return self.dead_lines.live(state) if self.dead_lines is not None else -1

    def expand_numbered(self, state: State, own: int, oid: int) -> list[Code]:
        """The successors of ``state`` (inner part number ``own`` in ``inner_keys``, outer
        part number ``oid`` in ``outer_keys``), one code per step of ``actions``: what the
        split search takes without building the states it has seen (``machine/plan.py``)."""
        return self.planner.codes(state, own, oid)

    def join(self, inner: Inner, outer: tuple[object, ...]) -> State:
        """The state with memory and copies ``inner`` and the other fields ``outer``
        (``state[SPLIT_AT:]`` of the state a cache step was taken in)."""
        return _new_state(State, inner + outer)

    def _buffer_completions(self, pe: int, buf: tuple[Entry, ...]) -> tuple[Step, ...]:
        """The COMPLETE steps of PE ``pe``'s buffer ``buf`` (``buffer.completable``): a
        function of the buffer alone, memoized in ``__init__`` (buffers recur in many states)."""
        out: list[Step] = []
        for i in buffer.completable(buf, self._setway_in_order):
            out.append((COMPLETE, pe, i))
            if buf[i][0] == STORE and buf[i][4] > PATH_CACHEABLE:  # a mix may also bypass
                out.append((COMPLETE, pe, i, 1))
        return tuple(out)

    def next_state(self, state: State, step: Step) -> State:
        if self.dead_tlb is not None and step[0] not in _KEEP_LIVENESS:
            # the step's effect, then the drops of the TLB entries it made dead (dead_tlb.py)
            return self.dead_tlb.drop(self._next_state(state, step))
        return self._next_state(state, step)

    def _next_state(self, state: State, step: Step) -> State:
        kind = step[0]
        if kind == EXEC:
            return self._execute(state, step[1], step[2])
        if kind == COMPLETE:
            return self._complete(state, step[1], step[2], step[3] if len(step) > 3 else 0)
        if kind == EARLY:
            return self.execute.execute_early(state, step[1], step[2], step[3])
        # Hardware steps build the new State directly (mem and copies are its first
        # two fields): they are most of the transitions, and _replace costs more.
        if kind in _CACHE_STEPS:
            inner = hardware.effect(state.copies, state.mem, self.h, self.nl, step)
            return _new_state(State, inner + state[SPLIT_AT:])
        if kind == SYSREG:
            return with_thread(state, step[1], synchronise(state.threads[step[1]]))
        if kind == MIGRATE:
            th = state.threads[step[1]]._replace(pe=step[2])
            th = th._replace(hyp=(*self.traps.vcpu_load(state, step[1], step[2]), *th.hyp))
            state = with_thread(state, step[1], th)
            return state._replace(migrations=state.migrations + 1)
        if self.mmu is not None:
            return self.mmu.next_state(state, step)
        raise AssertionError(f"unknown step {step}")


def _has_policy(vm: VMSpec) -> bool:
    """Whether a VM runs hypervisor code on a trap or a vCPU load (spec.VMSpec)."""
    policies = (vm.on_stage2_fault, vm.on_setway, vm.on_sctlr, vm.on_cmo, vm.on_mmio, vm.on_vcpu_load)
    return any(p is not None for p in policies)


__all__ = [
    "COMPLETE",
    "DROP",
    "EXEC",
    "FILL",
    "MIGRATE",
    "SCTLR_C",
    "SCTLR_I",
    "SYSREG",
    "WRITE_BACK",
    "Machine",
    "Step",
    "StepKind",
]
