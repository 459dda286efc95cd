"""The machine engine as a ``Model``: initial state, enabled steps, effect of a step.

Every hardware rule lives in one function elsewhere in ``machine/`` (caches,
memory types, buffer ordering); this module only wires them: which steps are
enabled in a state and which rule each step applies.  Steps are plain int
tuples, listed in a fixed order, so a witness is a list of indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property, lru_cache

from stalecheck.errors import Position, ScenarioError
from stalecheck.explore.fingerprint import digest64
from stalecheck.machine import buffer, caches, reduce
from stalecheck.machine.describe import describe
from stalecheck.machine.hierarchy import Hierarchy
from stalecheck.machine.isa import Instr
from stalecheck.machine.memtypes import NORMAL_WB, MemType, RegimeFlags, guest_data_type
from stalecheck.machine.mmu import Mmu
from stalecheck.machine.reduction import DeadLines
from stalecheck.machine.spec import (
    Context,
    LineSpec,
    SystemSpec,
    ThreadSpec,
    TrapContext,
    VMSpec,
    hcr_bit,
)
from stalecheck.machine.state import (
    DCVA,
    IC_ENTRY,
    OP_CLEAN,
    OP_CLEAN_INVAL,
    OP_INVAL,
    SCTLR_C,
    SCTLR_FIELDS,
    SCTLR_I,
    SCTLR_M,
    SETWAY,
    STORE,
    TLBI_ENTRY,
    Entry,
    State,
    Thread,
    sctlr_bits,
    sctlr_tuple,
)
from stalecheck.machine.step_record import StepRecord
from stalecheck.machine.view import StateView

# Step kinds: the first element of a step tuple.
EXEC = 0  # (EXEC, thread, choice)
COMPLETE = 1  # (COMPLETE, pe, entry index)
WRITE_BACK = 2  # (WRITE_BACK, instance, line)
DROP = 3  # (DROP, instance, line)
FILL = 4  # (FILL, instance, line)
SYSREG = 5  # (SYSREG, thread): a written SCTLR_EL1 value takes effect
MIGRATE = 6  # (MIGRATE, thread, pe)

Step = tuple[int, ...]

_new_state = tuple.__new__
assert State._fields[:2] == ("mem", "copies")  # relied on by next_state's hardware steps

_DC_OPS = {
    "CVAC": (OP_CLEAN, "poc"),
    "CVAP": (OP_CLEAN, "poc"),  # persistence point treated as the PoC (no PoP modelled)
    "CVAU": (OP_CLEAN, "pou"),
    "CIVAC": (OP_CLEAN_INVAL, "poc"),
    "IVAC": (OP_INVAL, "poc"),
}
_SW_OPS = {"CSW": OP_CLEAN, "CISW": OP_CLEAN_INVAL, "ISW": OP_INVAL}
_FULL_BARRIERS = ("SY", "ISH", "OSH", "NSH")
_STORE_BARRIERS = ("ST", "ISHST", "OSHST", "NSHST")
_DEVICE_OPS = ("STR", "LDR", "AWAIT", "SIGNAL", "WAIT", "NOP")
_THREADS = State._fields.index("threads")


class Machine:
    """One variant of a scenario, ready to explore."""

    def __init__(self, spec: SystemSpec) -> None:
        self.spec = spec
        self.mmu: Mmu | None = None  # set once programs are interned (below)
        self.h = Hierarchy(spec.caches, spec.n_pes)
        self.nl = len(spec.lines)
        if self.nl == 0:
            raise ScenarioError("a scenario needs at least one line")
        self.lines: tuple[LineSpec, ...] = spec.lines
        self._line_index = {line.name: i for i, line in enumerate(spec.lines)}
        self._loc: dict[str, tuple[int, int]] = {}
        for i, line in enumerate(spec.lines):
            for offset, loc in enumerate(line.locations):
                if loc in self._loc:
                    raise ScenarioError(f"location {loc!r} declared twice")
                self._loc[loc] = (i, offset)
        self.pages: tuple[str, ...] = tuple(dict.fromkeys(line.page for line in spec.lines))
        self._page_bit = {page: 1 << i for i, page in enumerate(self.pages)}
        self.line_page_bit = tuple(self._page_bit[line.page] for line in spec.lines)
        self.vms: tuple[VMSpec, ...] = spec.vms
        self._vm_index = {vm.name: i for i, vm in enumerate(spec.vms)}
        self.threads: tuple[ThreadSpec, ...] = spec.threads
        self._thread_index = {t.name: i for i, t in enumerate(spec.threads)}
        self.code: list[Instr] = []
        self._ids: dict[Instr, int] = {}
        self.programs: tuple[tuple[int, ...], ...] = tuple(
            tuple(self.intern(i) for i in self._expand(t, t.program)) for t in spec.threads
        )
        self._regs: list[dict[str, int]] = []
        for t, prog in zip(spec.threads, self.programs, strict=True):
            regs: dict[str, int] = {}
            for ident in prog:
                instr = self.code[ident]
                if instr.op in ("LDR", "EXEC") and instr.reg not in regs:  # a STR only reads one
                    regs[instr.reg] = len(regs)
            self._regs.append(regs)
            if spec.xlate is None:
                self._check_thread(t)
        self._events = {
            name: 1 << i
            for i, name in enumerate(
                dict.fromkeys(
                    self.code[i].loc
                    for prog in self.programs
                    for i in prog
                    if self.code[i].op in ("SIGNAL", "WAIT")
                )
            )
        }
        self._vm_pages = tuple(
            tuple(
                (page, tuple(ln.name for ln in self.lines if ln.page == page and ln.ram_of == vm.name))
                for page in self.pages
                if any(ln.page == page and ln.ram_of == vm.name for ln in self.lines)
            )
            for vm in self.vms
        )
        self.host_types = tuple(spec.host_types.get(line.name) for line in spec.lines)
        # Static facts ``actions`` needs for every state, computed once.
        self._linear_fill = tuple(
            spec.options.host_linear_map and (host is None or host.cacheable) for host in self.host_types
        )
        self._is_l1 = tuple(inst.level == 0 for inst in self.h.instances)
        self._line_range = range(self.nl)
        self._setway_in_order = spec.options.setway_program_order
        self._type = lru_cache(maxsize=None)(self._type_uncached)
        # Translation and instruction fetch (machine/mmu.py), only when the scenario uses them.
        self.mmu = Mmu(self, spec.xlate) if spec.xlate is not None else None
        if self.mmu is not None:
            for t in spec.threads:
                self._check_thread(t)
        # Optional reduction (machine/reduction.py); page-table walks read lines, so
        # it is off with the translation model.
        self.dead_lines = DeadLines(self) if spec.options.prune_dead_lines and self.mmu is None else None
        self.quiet = frozenset[int]()
        self.quiet = reduce.quiet_lines(self)
        self._loud = tuple(line for line in range(self.nl) if line not in self.quiet)

    # ---- building -----------------------------------------------------------------

    def intern(self, instr: Instr) -> int:
        """Instructions are stored in states as small ints (stable hashes)."""
        ident = self._ids.get(instr)
        if ident is None:
            ident = len(self.code)
            self.code.append(instr)
            self._ids[instr] = ident
        return ident

    def _expand(self, thread: ThreadSpec, program: Sequence[Instr]) -> list[Instr]:
        """Expand ``SETWAY`` loops into one set/way instruction per line (so migration
        can fall between two iterations), checking names as we go."""
        out: list[Instr] = []
        for instr in program:
            if instr.op == "DCSW" and instr.loc == "*":
                for line in self.lines:
                    out.append(
                        Instr(
                            "DCSW",
                            kind=instr.kind,
                            level=instr.level,
                            loc=line.name,
                            text=f"DC {instr.kind} {instr.level}, {line.name}",
                            line=instr.line,
                            column=instr.column,
                        )
                    )
            else:
                out.append(instr)
        return out

    def _where(self, thread: ThreadSpec, instr: Instr) -> str:
        return f"thread {thread.name!r}, {str(instr)!r}"

    @staticmethod
    def _bad(message: str, instr: Instr) -> ScenarioError:
        """A program error placed where the user wrote the instruction."""
        pos = Position(instr.source or "<program>", instr.line, instr.column) if instr.line else None
        return ScenarioError(message, pos)

    def _check_thread(self, t: ThreadSpec) -> None:
        if t.context == Context.GUEST and t.vm not in self._vm_index:
            raise ScenarioError(f"thread {t.name!r} is a guest of unknown VM {t.vm!r}")
        if t.context != Context.DEVICE and not 0 <= t.pe < self.h.n_pes:
            raise ScenarioError(f"thread {t.name!r} starts on PE{t.pe}, but there are {self.h.n_pes} PEs")
        for ident in self.programs[self._thread_index[t.name]]:
            instr = self.code[ident]
            if (
                instr.op in ("STR", "LDR", "AWAIT", "DC", "IC")
                and instr.loc
                and instr.loc not in self._loc
                and instr.loc not in self._line_index
                and not (self.mmu is not None and self.mmu.is_va(self._thread_index[t.name], instr.loc))
            ):
                raise self._bad(f"unknown location {instr.loc!r} in {self._where(t, instr)}", instr)
            if instr.op == "DCSW":
                level = self.h.level_index(instr.level)
                if not self.h.levels[level].architected:
                    raise self._bad(f"set/way cannot name a system cache: {self._where(t, instr)}", instr)
                if instr.loc not in self._line_index:
                    raise self._bad(f"unknown line {instr.loc!r} in {self._where(t, instr)}", instr)
            if instr.op in ("EXEC", "TLBI") and self.mmu is None:
                raise self._bad(f"{instr.op} needs the translation model: {self._where(t, instr)}", instr)
            if t.context == Context.DEVICE and instr.op not in _DEVICE_OPS:
                raise self._bad(f"a device only loads, stores and waits: {self._where(t, instr)}", instr)
            if instr.op == "STR" and instr.reg and instr.reg not in self._regs[self._thread_index[t.name]]:
                raise self._bad(
                    f"register {instr.reg} is stored before any load: {self._where(t, instr)}", instr
                )

    # ---- names ---------------------------------------------------------------------

    def thread_index(self, name: str) -> int:
        try:
            return self._thread_index[name]
        except KeyError:
            raise ScenarioError(f"no thread named {name!r}") from None

    def reg_index(self, thread: int, reg: str) -> int:
        try:
            return self._regs[thread][reg]
        except KeyError:
            name = self.threads[thread].name
            raise ScenarioError(f"thread {name!r} never loads into register {reg!r}") from None

    def loc_index(self, loc: str) -> tuple[int, int]:
        try:
            return self._loc[loc]
        except KeyError:
            raise ScenarioError(f"no location named {loc!r}") from None

    def line_of(self, name: str) -> int:
        if name in self._line_index:
            return self._line_index[name]
        return self.loc_index(name)[0]

    # ---- the Model protocol --------------------------------------------------------------

    def initial_state(self) -> State:
        init = self.spec.init
        mem = tuple(tuple(init.get(loc, 0) for loc in line.locations) for line in self.lines)
        threads = tuple(
            Thread(
                0,
                (0,) * len(self._regs[i]),
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
            mapped=tuple(sum(self._page_bit[p] for p in vm.mapped if p in self._page_bit) for vm in self.vms),
            events=0,
            migrations=0,
        )
        return self.mmu.init(state) if self.mmu is not None else state

    def fingerprint(self, state: State) -> int:
        """A 64-bit digest for searches that store digests (``explore.fingerprint``).
        ``State`` and ``Thread`` are NamedTuples, which marshal refuses: their plain
        tuples are passed (the fallback would convert the whole state, slower)."""
        threads = tuple(map(tuple, state.threads))
        return digest64((*state[:_THREADS], threads, *state[_THREADS + 1 :]))

    def describe(self, before: State, step: Step, after: State) -> StepRecord:
        return describe(self, before, step, after)

    def is_bad(self, state: State) -> bool:
        if self.spec.bad is None:
            return False
        return self.spec.bad(StateView(self, state))

    def is_complete(self, state: State) -> bool:
        return all(self.finished(state, i) for i in range(len(self.threads)))

    def finished(self, state: State, t: int) -> bool:
        th = state.threads[t]
        return th.pc >= len(self.programs[t]) and not th.hyp

    def current(self, state: State, t: int) -> Instr | None:
        th = state.threads[t]
        if th.hyp:
            return self.code[th.hyp[0]]
        prog = self.programs[t]
        return self.code[prog[th.pc]] if th.pc < len(prog) else None

    def actions(self, state: State) -> list[Step]:
        # The hottest function of the search (called once per distinct state): the
        # loops below are written for speed, the order of the steps is the contract.
        steps: list[Step] = []
        append = steps.append
        for t in range(len(self.threads)):
            n = self._choices(state, t)
            if n == 1:
                append((EXEC, t, 0))
            elif n:
                steps.extend((EXEC, t, c) for c in range(n))
        for pe, buf in enumerate(state.bufs):
            if buf:
                steps.extend((COMPLETE, pe, i) for i in buffer.completable(buf, self._setway_in_order))
        copies = state.copies
        linear = self._linear_fill
        l1_dirty: list[bool] | None = None  # per line, computed at the first L1 fill check
        live = self.dead_lines.live(state) if self.dead_lines is not None else -1
        for inst, is_l1 in enumerate(self._is_l1):
            base = inst * self.nl
            for line in self._loud:  # quiet lines: spontaneous steps cannot matter (reduce.py)
                copy = copies[base + line]
                if not live >> line & 1:
                    continue  # nobody touches this line again: its hardware steps cannot matter
                if copy:
                    append((WRITE_BACK if copy[0] else DROP, inst, line))
                    continue
                if is_l1:  # caches.may_fill: an L1 fill waits while another L1 holds it dirty
                    if l1_dirty is None:
                        h, nl = self.h, self.nl
                        l1_dirty = [caches.dirty_l1(copies, h, ln, nl) >= 0 for ln in self._line_range]
                    if l1_dirty[line]:
                        continue
                if linear[line] or self._fillable_by_regime(state, inst, line):
                    append((FILL, inst, line))
        for t, th in enumerate(state.threads):
            if th.pending >= 0:
                append((SYSREG, t))
        if state.migrations < self.spec.options.max_migrations:
            for t, spec in enumerate(self.threads):
                th = state.threads[t]
                if (
                    spec.migratable
                    and (not th.hyp or self.spec.options.preemptible_policies)
                    and not self.finished(state, t)
                    and not state.bufs[th.pe]
                ):
                    steps.extend((MIGRATE, t, pe) for pe in range(self.h.n_pes) if pe != th.pe)
        if self.mmu is not None:
            steps.extend(self.mmu.actions(state))
        return steps

    def next_state(self, state: State, step: Step) -> State:
        kind = step[0]
        if kind == EXEC:
            return self._exec(state, step[1], step[2])
        if kind == COMPLETE:
            return self._complete(state, step[1], step[2])
        # Hardware steps build the new State directly (mem and copies are its first
        # two fields): they are most of the transitions, and _replace costs more.
        if kind == DROP:
            copies = caches.drop_clean(state.copies, step[1], step[2], self.nl)
            return _new_state(State, (state[0], copies, *state[2:]))
        if kind == FILL:
            copies = caches.fill(state.copies, state.mem, self.h, step[1], step[2], self.nl)
            return _new_state(State, (state[0], copies, *state[2:]))
        if kind == WRITE_BACK:
            copies, mem = caches.write_back(state.copies, state.mem, self.h, step[1], step[2], self.nl)
            return _new_state(State, (mem, copies, *state[2:]))
        if kind == SYSREG:
            return self._set_thread(state, step[1], self._sync(state.threads[step[1]]))
        if kind == MIGRATE:
            th = state.threads[step[1]]
            state = self._set_thread(state, step[1], th._replace(pe=step[2]))
            return state._replace(migrations=state.migrations + 1)
        if self.mmu is not None:
            return self.mmu.next_state(state, step)
        raise AssertionError(f"unknown step {step}")

    # ---- memory types -----------------------------------------------------------------

    def _type_uncached(self, t: int, in_hyp: bool, sctlr: int, hcr: int, line: int) -> MemType:
        spec = self.threads[t]
        if spec.context == Context.HOST or in_hyp:
            host = self.host_types[line]
            return host if host is not None else NORMAL_WB
        vm = self.vms[self._vm_index[spec.vm]]
        name = self.lines[line].name
        flags = RegimeFlags(
            mmu=bool(sctlr & SCTLR_M),
            dcache=bool(sctlr & SCTLR_C),
            hcr_dc=bool(hcr & hcr_bit("DC")),
            hcr_cd=bool(hcr & hcr_bit("CD")),
            fwb=bool(hcr & hcr_bit("FWB")),
        )
        return guest_data_type(vm.s1_type(name), vm.s2_type(name), vm.s2_force, flags)

    def access_type(self, state: State, t: int, line: int) -> MemType:
        """The type of thread ``t``'s next data access to ``line`` (D8.6 Memory region
        attributes; D8.2.12.1 when stage 1 is off; D7.5.5 cacheability controls)."""
        th = state.threads[t]
        spec = self.threads[t]
        hcr = state.hcr[self._vm_index[spec.vm]] if spec.context == Context.GUEST else 0
        mt: MemType = self._type(t, bool(th.hyp), th.sctlr, hcr, line)
        if not mt.cacheable and line in self.quiet:
            raise ScenarioError(
                f"line {self.lines[line].name} was reduced as coherent-only but thread "
                f"{spec.name!r} accesses it as {mt}: run without quiet_coherent_lines"
            )
        return mt

    def _fillable(self, state: State, inst: int, line: int) -> bool:
        """D7.5.1 General behavior of the caches: a line may be allocated into a cache when it
        is Normal cacheable in the regime of an EL running on that PE, or of a higher
        EL: with the host's linear map of all RAM at EL2, every PE may fill any RAM line
        (DESIGN.md section 1, Hardware nondeterminism)."""
        if not caches.may_fill(state.copies, self.h, inst, line, self.nl):
            return False
        return self._linear_fill[line] or self._fillable_by_regime(state, inst, line)

    def _fillable_by_regime(self, state: State, inst: int, line: int) -> bool:
        """Without the linear map: some unfinished thread on the instance's PE (any
        PE for a shared level) maps ``line`` Normal cacheable right now."""
        pe = self.h.instances[inst].pe
        for t, th in enumerate(state.threads):
            if th.pe < 0 or (pe is not None and th.pe != pe) or self.finished(state, t):
                continue
            if self._guest_unmapped(state, t, line):
                continue
            if self.access_type(state, t, line).cacheable:
                return True
        return False

    def _guest_unmapped(self, state: State, t: int, line: int) -> bool:
        spec = self.threads[t]
        if spec.context != Context.GUEST or state.threads[t].hyp:
            return False
        return not state.mapped[self._vm_index[spec.vm]] & self.line_page_bit[line]

    # ---- program steps ------------------------------------------------------------------

    def _choices(self, state: State, t: int) -> int:
        """How many ways thread ``t`` can execute its next instruction now (0: blocked)."""
        instr = self.current(state, t)
        if instr is None:
            return 0
        th = state.threads[t]
        op = instr.op
        if op == "WAIT":
            return 1 if state.events & self._events[instr.loc] else 0
        if th.pe < 0:
            if op == "AWAIT":  # a polling loop: it leaves only once it reads the value
                return int(instr.value in self._device_load_values(state, t, instr))
            return len(self._device_load_values(state, t, instr)) if op == "LDR" else 1
        buf = state.bufs[th.pe]
        if op == "DSB":
            if instr.kind in _STORE_BARRIERS:
                return 0 if buffer.has_stores(buf) else 1
            if instr.kind in _FULL_BARRIERS:
                return 0 if buf else 1
            return 1  # DSB LD: loads are performed in order already
        if op == "SIGNAL":
            return 0 if buffer.has_stores(buf) else 1
        if self.mmu is not None and self.mmu.handles(t, instr):
            return 1 if self._traps(state, t, instr) is not None else self.mmu.choices(state, t, instr)
        if op == "LDR":
            if buffer.loads_blocked(buf):
                return 0
            if self._traps(state, t, instr) is not None:
                return 1
            return len(self._load_values(state, t, instr))
        if op == "AWAIT":  # each failed poll is a load with no effect, so only the exit is a step
            if buffer.loads_blocked(buf):
                return 0
            if self._traps(state, t, instr) is not None:
                return 1
            return int(instr.value in self._load_values(state, t, instr))
        return 1

    def _load_values(self, state: State, t: int, instr: Instr) -> tuple[int, ...]:
        line, offset = self.loc_index(instr.loc)
        return self._values_at(state, t, line, offset, self.access_type(state, t, line))

    def _values_at(self, state: State, t: int, line: int, offset: int, mt: MemType) -> tuple[int, ...]:
        """Values a load of one location with type ``mt`` may return."""
        th = state.threads[t]
        forwarded = buffer.forward(state.bufs[th.pe], line, offset)
        if forwarded is not None:  # B2.3.1 Coherence-before: a PE sees its own earlier store
            return (forwarded,)
        if mt.cacheable:
            return (caches.coherent_value(state.copies, state.mem, self.h, th.pe, line, self.nl)[offset],)
        return caches.bypass_read_options(
            state.copies,
            state.mem,
            self.h,
            th.pe,
            line,
            offset,
            self.spec.options.nc_reads_may_hit,
            self.nl,
        )

    def _device_load_values(self, state: State, t: int, instr: Instr) -> tuple[int, ...]:
        line, offset = self.loc_index(instr.loc)
        if self.threads[t].coherent:  # I/O coherent: snoops the CPU caches
            return (caches.coherent_value(state.copies, state.mem, self.h, -1, line, self.nl)[offset],)
        return (state.mem[line][offset],)  # non-coherent: reads at the PoC

    def _trap_base(self, state: State, t: int, instr: Instr) -> dict[str, object]:
        """What every trap of guest thread ``t`` tells the hypervisor policy."""
        spec = self.threads[t]
        vi = self._vm_index[spec.vm]
        base: dict[str, object] = {
            "thread": spec.name,
            "vm": self.vms[vi],
            "instr": instr,
            "sctlr": sctlr_tuple(state.threads[t].sctlr),
            "mapped": tuple(p for p in self.pages if state.mapped[vi] & self._page_bit[p]),
            "pages": self._vm_pages[vi],
        }
        if self.mmu is not None:
            base.update(icache=self.mmu.icache, idc=self.mmu.spec.idc, dic=self.mmu.spec.dic)
        return base

    def _traps(self, state: State, t: int, instr: Instr) -> TrapContext | None:
        """The trap a guest instruction takes, if any (D24.2.62 HCR_EL2.TSW/TVM/TPCP/TPU;
        a stage 2 Translation fault on an unmapped page, D8.15.1.1 Translation fault)."""
        spec = self.threads[t]
        th = state.threads[t]
        if spec.context != Context.GUEST or th.hyp:
            return None
        vi = self._vm_index[spec.vm]
        hcr = state.hcr[vi]

        def trap(kind: str, **extra: object) -> TrapContext:
            # Built only when a trap is taken: this check runs for every enabled
            # guest instruction, and the context costs more than the check.
            return TrapContext(kind, **extra, **self._trap_base(state, t, instr))  # type: ignore[arg-type]

        if instr.op == "DCSW" and hcr & hcr_bit("TSW"):
            return trap("setway")
        if instr.op == "MSR" and hcr & hcr_bit("TVM"):
            return trap("sctlr", field=instr.kind, value=instr.value)
        if instr.op == "DC":
            to_poc = _DC_OPS[instr.kind][1] == "poc"
            if (to_poc and hcr & hcr_bit("TPC")) or (not to_poc and hcr & hcr_bit("TPU")):
                return trap("cmo")
        if instr.op in ("LDR", "STR", "AWAIT", "DC", "EXEC"):
            if self.mmu is not None and self.mmu.is_va(t, instr.loc):
                return None
            mmio = self.vms[vi].mmio
            if mmio and self.lines[self.line_of(instr.loc)].page in mmio:
                # An access to an emulated device page takes a stage-2 abort to the
                # hypervisor, which emulates it and returns past it (a stage 2 Translation
                # fault, D8.15.1.1; seed 000's doorbell).
                return trap("mmio", page=self.lines[self.line_of(instr.loc)].page, value=instr.value)
            line = self.line_of(instr.loc)
            access = {"LDR": "read", "STR": "write", "EXEC": "exec"}.get(instr.op, "read")
            # Stage 2 Permission fault (D8.4 Memory access control; D8.15.1 MMU fault
            # types): a fetch from a page mapped execute-never.
            xn = instr.op == "EXEC" and state.mapped[vi] & (self.line_page_bit[line] << len(self.pages))
            if self._guest_unmapped(state, t, line) or xn:
                return trap("stage2-fault", page=self.lines[line].page, access=access)
        return None

    def trap_for(self, state: State, t: int) -> TrapContext | None:
        """The trap thread ``t``'s next instruction would take, if any."""
        instr = self.current(state, t)
        if instr is None or state.threads[t].pe < 0:
            return None
        return self._traps(state, t, instr)

    def _policy(self, trap: TrapContext) -> Sequence[Instr]:
        vm = trap.vm
        policy = {
            "setway": vm.on_setway,
            "sctlr": vm.on_sctlr,
            "cmo": vm.on_cmo,
            "stage2-fault": vm.on_stage2_fault,
            "mmio": vm.on_mmio,
        }[trap.kind]
        if policy is None:
            raise ScenarioError(
                f"VM {vm.name!r} traps ({trap.kind}) on {str(trap.instr)!r} but has no policy for it"
            )
        return policy(trap)

    def _set_thread(self, state: State, t: int, th: Thread) -> State:
        threads = state.threads
        return state._replace(threads=(*threads[:t], th, *threads[t + 1 :]))

    @staticmethod
    def _sync(th: Thread) -> Thread:
        """Context synchronisation (ISB, exception entry or return: D24.1.2.2
        Synchronization requirements for AArch64 System registers; B2.6.1 Instruction
        Synchronization Barrier): a written system register is in effect from here on,
        and translations or fetches made ahead of it are discarded (B2.7.4.2
        Synchronization and coherency issues between data and instruction accesses)."""
        if th.early:
            th = th._replace(early=())
        if th.pending < 0:
            return th
        return th._replace(sctlr=th.pending, pending=-1)

    def _exec(self, state: State, t: int, choice: int) -> State:
        th = state.threads[t]
        instr = self.current(state, t)
        assert instr is not None
        if th.pe < 0:
            return self._exec_device(state, t, instr, choice)
        trap = self._traps(state, t, instr)
        if trap is not None:
            emitted = tuple(self.intern(i) for i in self._policy(trap))
            retry = trap.kind == "stage2-fault"
            th = self._sync(th)._replace(hyp=emitted, pc=th.pc if retry else th.pc + 1, retry=int(retry))
            if not emitted:  # nothing to run at EL2: immediate return (still a CSE)
                th = th._replace(retry=0)
            return self._set_thread(state, t, th)
        in_hyp = bool(th.hyp)
        state, th = self._do(state, t, th, instr, choice)
        if in_hyp:
            th = th._replace(hyp=th.hyp[1:])
            if not th.hyp:  # ERET: context synchronisation
                th = self._sync(th)._replace(retry=0)
        elif not (th.hyp or th.fault):  # an abort entered its handler or stopped the thread
            th = th._replace(pc=th.pc + 1)
        return self._set_thread(state, t, th)

    def _do(self, state: State, t: int, th: Thread, instr: Instr, choice: int) -> tuple[State, Thread]:
        """Issue one instruction: the buffered ones enter the PE's buffer here and take
        effect when they complete (``_complete``)."""
        op = instr.op
        pe = th.pe
        buf = state.bufs[pe]
        ids = self._ids  # looked up only by the buffered instructions (hashing an Instr costs)
        if self.mmu is not None:
            if self.mmu.handles(t, instr):
                return self.mmu.execute(state, t, th, instr, choice)
            if op == "DSB":
                th = self.mmu.after_dsb(th)
        if op == "LDR":
            value = self._load_values(state, t, instr)[choice]
            regs = th.regs
            r = self._regs[t][instr.reg]
            return state, th._replace(regs=(*regs[:r], value, *regs[r + 1 :]))
        if op == "STR":
            line, offset = self.loc_index(instr.loc)
            value = th.regs[self._regs[t][instr.reg]] if instr.reg else instr.value
            mt = self.access_type(state, t, line)
            entry = (STORE, line, offset, value, int(mt.cacheable), int(mt.write_through), ids[instr])
            return self._push(state, pe, entry), th
        if op == "DC":
            line = self.line_of(instr.loc)
            dc_op, point = _DC_OPS[instr.kind]
            if dc_op == OP_INVAL and self._under_stage2(state, t):
                dc_op = OP_CLEAN_INVAL  # D7.5.9.2: at EL1 with HCR_EL2.VM=1, DC IVAC is DC CIVAC
            mt = self.access_type(state, t, line)
            scope_all = int(mt.share != mt.share.NSH)
            depth = (
                self.h.poc_depth
                if point == "poc"
                else (self.h.pouis_depth if scope_all else self.h.pou_depth)
            )
            entry = (DCVA, dc_op, line, int(mt.cacheable), depth, scope_all, ids[instr])
            return self._push(state, pe, entry), th
        if op == "DCSW":
            sw_op = _SW_OPS[instr.kind]
            if sw_op == OP_INVAL and self._under_stage2(state, t):
                sw_op = OP_CLEAN_INVAL  # D7.5.9.2: at EL1 with HCR_EL2.VM=1, DC ISW is DC CISW
            level = self.h.level_index(instr.level)
            inst = (
                self.h.paths[pe][level]
                if self.h.levels[level].private
                else next(i for i in self.h.paths[pe] if self.h.instances[i].level == level)
            )
            entry = (SETWAY, sw_op, inst, self._line_index[instr.loc], ids[instr])
            return self._push(state, pe, entry), th
        if op == "DMB":
            if instr.kind in _FULL_BARRIERS or instr.kind in _STORE_BARRIERS:
                marker = buffer.dmb_marker(buf, full=instr.kind in _FULL_BARRIERS)
                if marker is not None:
                    return self._push(state, pe, marker), th
            return state, th  # DMB LD: loads already perform in order
        if op == "ISB":
            return state, self._sync(th)
        if op in ("MSR", "EMSR"):  # EMSR: the hypervisor emulating a trapped write, in effect at ERET
            base = th.pending if th.pending >= 0 else th.sctlr
            bit = SCTLR_FIELDS[instr.kind]
            return state, th._replace(pending=(base | bit) if instr.value else (base & ~bit))
        if op == "SIGNAL":
            return state._replace(events=state.events | self._events[instr.loc]), th
        if op == "MAP":
            vi = self._vm_index[self.threads[t].vm]
            mapped = state.mapped
            bit = self._page_bit[instr.loc]
            xn = bit << len(self.pages)  # "mapped execute-never" bit of the page (MAP <page> XN)
            new = (mapped[vi] | bit | xn) if instr.kind == "XN" else ((mapped[vi] | bit) & ~xn)
            return state._replace(mapped=(*mapped[:vi], new, *mapped[vi + 1 :])), th
        if op == "HCR":
            vi = self._vm_index[self.threads[t].vm]
            hcr = state.hcr
            bit = hcr_bit(instr.kind)
            new = (hcr[vi] | bit) if instr.value else (hcr[vi] & ~bit)
            return state._replace(hcr=(*hcr[:vi], new, *hcr[vi + 1 :])), th
        # WAIT, DSB and NOP have no effect beyond being enabled; IC is a no-op until the
        # instruction-fetch model lands (no instruction cache is modelled yet).
        return state, th

    def _under_stage2(self, state: State, t: int) -> bool:
        return self.threads[t].context == Context.GUEST and not state.threads[t].hyp

    def _push(self, state: State, pe: int, entry: Entry) -> State:
        bufs = state.bufs
        return state._replace(bufs=(*bufs[:pe], (*bufs[pe], entry), *bufs[pe + 1 :]))

    def _exec_device(self, state: State, t: int, instr: Instr, choice: int) -> State:
        """DMA masters have no buffer: each access is performed when issued."""
        th = state.threads[t]
        if instr.op == "LDR":
            value = self._device_load_values(state, t, instr)[choice]
            r = self._regs[t][instr.reg]
            th = th._replace(regs=(*th.regs[:r], value, *th.regs[r + 1 :]))
        elif instr.op == "STR":
            line, offset = self.loc_index(instr.loc)
            value = th.regs[self._regs[t][instr.reg]] if instr.reg else instr.value
            if self.threads[t].coherent:
                copies, mem = caches.coherent_device_write(
                    state.copies, state.mem, self.h, line, offset, value, self.nl
                )
                state = state._replace(copies=copies, mem=mem)
            else:
                state = state._replace(mem=caches.bypass_write(state.mem, line, offset, value))
        elif instr.op == "SIGNAL":
            state = state._replace(events=state.events | self._events[instr.loc])
        return self._set_thread(state, t, th._replace(pc=th.pc + 1))

    # ---- buffer completion --------------------------------------------------------------

    def _complete(self, state: State, pe: int, index: int) -> State:
        """A buffered store or CMO takes effect in the memory system."""
        buf = state.bufs[pe]
        entry = buf[index]
        copies, mem = state.copies, state.mem
        nl = self.nl
        kind = entry[0]
        if kind in (TLBI_ENTRY, IC_ENTRY) and self.mmu is not None:
            state = self.mmu.complete(state, pe, entry)
            copies, mem = state.copies, state.mem
        elif kind == STORE:
            _, line, offset, value, cacheable, wt, _ = entry
            if cacheable:
                copies = caches.coherent_write(copies, mem, self.h, pe, line, offset, value, nl)
                if wt:  # write-through: the write also reaches the PoC
                    copies, mem, _ = caches.clean_to(
                        copies, mem, self.h, line, self.h.poc_depth, self._all, nl
                    )
            else:
                mem = caches.bypass_write(mem, line, offset, value)
        elif kind == DCVA:
            _, op, line, _, depth, scope_all, _ = entry
            pes = self._all if scope_all else frozenset((pe,))
            if op & OP_CLEAN:
                copies, mem, _ = caches.clean_to(copies, mem, self.h, line, depth, pes, nl)
            if op & OP_INVAL:
                copies = caches.invalidate_to(copies, self.h, line, depth, pes, nl)
        elif kind == SETWAY:
            _, op, inst, line, _ = entry
            copies, mem, _ = caches.setway(
                copies, mem, self.h, inst, line, bool(op & OP_CLEAN), bool(op & OP_INVAL), nl
            )
        bufs = state.bufs
        new_buf = buffer.remove(buf, index)
        return state._replace(copies=copies, mem=mem, bufs=(*bufs[:pe], new_buf, *bufs[pe + 1 :]))

    @cached_property
    def _all(self) -> frozenset[int]:
        return frozenset(range(self.h.n_pes))
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
]
