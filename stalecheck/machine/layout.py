"""The static tables of one variant: names to indices, interned code, registers.

Everything here is fixed before exploration starts and shared by every concern
of the engine (memory types, traps, execution, translation, witnesses); what
changes during exploration lives in ``state.py``.  Instructions are interned as
small ints so that a state holds ints only (stable hashes).
"""

from __future__ import annotations

from collections.abc import Callable
from hashlib import blake2b
from typing import NamedTuple

from stalecheck.errors import Position, ScenarioError
from stalecheck.machine.feature_rules import check_features
from stalecheck.machine.hierarchy import Hierarchy
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.maintenance import expand_setway_loops
from stalecheck.machine.memtypes import MemType
from stalecheck.machine.paths import Elaborated, Elaborator, architectural, rename_plain
from stalecheck.machine.regexpr import Expr, evaluate
from stalecheck.machine.spec import Context, LineSpec, SystemSpec, ThreadSpec, VMSpec
from stalecheck.machine.state import State, Thread

# A location's address, as a register holds it: far above any value a program writes.
LOC_BASE = 1 << 40
LOC_STRIDE = 1 << 12


class PathSpan(NamedTuple):
    """One path of a thread's program: ``programs[t][start:stop]``, then END."""

    start: int
    stop: int
    final: tuple[tuple[str, Expr], ...]  # each register's value at the end of the path


_DEVICE_OPS = (Op.STR, Op.LDR, Op.AWAIT, Op.SIGNAL, Op.WAIT, Op.NOP)
# Ids of code interned while exploring start here.  Why: a state holds these ids, and the
# worker processes of a parallel search (``explore.parallel``) meet emitted code in
# different orders; an id taken from a counter would name different instructions in
# different processes, so emitted code gets an id derived from the instruction itself.
LATE_BASE = 1 << 40


def late_id(instr: Instr) -> int:
    """A stable id for emitted code: a 40-bit BLAKE2b digest of the fields that make
    instructions equal (not the source text or position), above ``LATE_BASE``."""
    fields = (instr.op.value, instr.kind, instr.loc, instr.reg, instr.value, instr.level)
    key = repr((*fields, instr.addr, instr.data, instr.flags, instr.at_least)).encode()
    return LATE_BASE + int.from_bytes(blake2b(key, digest_size=5).digest(), "little")


class Layout:
    """Names and static facts of one ``SystemSpec`` (see module doc)."""

    def __init__(self, spec: SystemSpec) -> None:
        self.spec = spec
        self.h = Hierarchy(spec.caches, spec.n_pes)
        check_features(spec, self.h)
        self.nl = len(spec.lines)
        if self.nl == 0:
            raise ScenarioError("a scenario needs at least one line")
        self.lines: tuple[LineSpec, ...] = spec.lines
        self.line_index = {line.name: i for i, line in enumerate(spec.lines)}
        self.locations: dict[str, tuple[int, int]] = {}
        for i, line in enumerate(spec.lines):
            for offset, loc in enumerate(line.locations):
                if loc in self.locations:
                    raise ScenarioError(f"location {loc!r} declared twice")
                self.locations[loc] = (i, offset)
        self.pages: tuple[str, ...] = tuple(dict.fromkeys(line.page for line in spec.lines))
        self.page_bit = {page: 1 << i for i, page in enumerate(self.pages)}
        self.line_page_bit = tuple(self.page_bit[line.page] for line in spec.lines)
        self.vms: tuple[VMSpec, ...] = spec.vms
        self.vm_index = {vm.name: i for i, vm in enumerate(spec.vms)}
        self.threads: tuple[ThreadSpec, ...] = spec.threads
        self.thread_indices = {t.name: i for i, t in enumerate(spec.threads)}
        # The VM index of each guest thread, -1 for host threads and devices.
        self.thread_vm = tuple(
            self.vm_index.get(t.vm, -1) if t.context == Context.GUEST else -1 for t in spec.threads
        )
        self.code: dict[int, Instr] = {}  # interned id -> instruction (programs: 0..n-1)
        self.ids: dict[Instr, int] = {}
        # Each location's value as an address (what a register pointing at it holds).
        # A location ``SystemSpec.placed`` puts N bytes after another (a litmus array's
        # element, litmus_machine.py) has that address.
        self.loc_values: dict[str, int] = {}
        for k, loc in enumerate(self.locations):
            base, offset = spec.placed.get(loc, ("", 0))
            if base in self.loc_values and 0 <= offset < LOC_STRIDE:
                self.loc_values[loc] = self.loc_values[base] + offset
            elif base:
                raise ScenarioError(f"location {loc!r} is placed after {base!r}, not declared before it")
            else:
                self.loc_values[loc] = LOC_BASE + k * LOC_STRIDE
        self.value_locs = {v: self.locations[loc] for loc, v in self.loc_values.items()}
        # Threads whose program has registers, branches or atomics run one of their paths
        # (machine/paths.py): ``paths[t]`` gives each path's first and end index in
        # ``programs[t]`` and the registers' final values; () for plain programs.
        self.paths: list[tuple[PathSpan, ...]] = []
        self.elaborated: list[Elaborated | None] = []
        programs: list[tuple[int, ...]] = []
        # Per thread of plain instructions run out of order: each register written more than
        # once, with its writes in program order (index, slot) (paths.rename_plain).
        self.renamed: list[dict[str, tuple[tuple[int, str], ...]]] = []
        for t in spec.threads:
            renamed: dict[str, tuple[tuple[int, str], ...]] = {}
            if t.source:
                prog, spans, elab = self._elaborate(t)
                programs.append(prog)
                self.paths.append(spans)
                self.elaborated.append(elab)
            else:
                plain: tuple[Instr, ...] = tuple(expand_setway_loops(self.lines, t.program))
                if spec.options.weak_ordering and t.context != Context.DEVICE:
                    plain, renamed = rename_plain(plain)  # one slot per write (ordering.Window)
                programs.append(tuple(self.intern(i) for i in plain))
                self.paths.append(())
                self.elaborated.append(None)
            self.renamed.append(renamed)
        self.programs: tuple[tuple[int, ...], ...] = tuple(programs)
        self._late = True  # from now on, code is emitted while exploring (``LATE_BASE``)
        self.regs: list[dict[str, int]] = []
        for prog in self.programs:
            regs: dict[str, int] = {}
            for ident in prog:
                instr = self.code[ident]
                if instr.op in (Op.LDR, Op.EXEC) and instr.reg not in regs:  # a STR only reads one
                    regs[instr.reg] = len(regs)
            self.regs.append(regs)
        self.events = {
            name: 1 << i
            for i, name in enumerate(
                dict.fromkeys(
                    self.code[i].loc
                    for prog in self.programs
                    for i in prog
                    if self.code[i].op in (Op.SIGNAL, Op.WAIT)
                )
            )
        }
        self.vm_pages = tuple(
            tuple(
                (page, tuple(ln.name for ln in self.lines if ln.page == page and ln.ram_of == vm.name))
                for page in self.pages
                if any(ln.page == page and ln.ram_of == vm.name for ln in self.lines)
            )
            for vm in self.vms
        )
        self.host_types: tuple[MemType | None, ...] = tuple(
            spec.host_types.get(line.name) for line in spec.lines
        )
        self.all_pes = frozenset(range(self.h.n_pes))

    def _elaborate(self, t: ThreadSpec) -> tuple[tuple[int, ...], tuple[PathSpan, ...], Elaborated]:
        """A thread's paths, one after the other: ``PATHS`` first (the thread's first step
        chooses one) and ``END`` after each, when there are several."""
        initial = {
            reg: self.loc_values[v] if isinstance(v, str) else v for reg, v in t.registers
        }
        missing = [v for _, v in t.registers if isinstance(v, str) and v not in self.loc_values]
        if missing:
            raise ScenarioError(f"thread {t.name!r}: register set to unknown location {missing[0]!r}")
        elab = Elaborator(list(t.source), self.loc_values, initial, t.unroll, t.name).elaborate()
        if not elab.paths:
            raise ScenarioError(
                f"thread {t.name!r}: no path through its program ends within {t.unroll} "
                "iterations of each loop"
            )
        several = len(elab.paths) > 1
        code: list[Instr] = [Instr(Op.PATHS, value=len(elab.paths))] if several else []
        spans: list[PathSpan] = []
        for path in elab.paths:
            start = len(code)
            code.extend(path.code)
            spans.append(PathSpan(start, len(code), path.final))
            if several:
                code.append(Instr(Op.END))
        return tuple(self.intern(i) for i in code), tuple(spans), elab

    def path_of(self, t: int, pc: int) -> PathSpan | None:
        """The path of thread ``t`` that index ``pc`` lies in (None: a plain program)."""
        for span in self.paths[t]:
            if span.start <= pc <= span.stop:
                return span
        return None

    def final_value(self, th: Thread, t: int, reg: str) -> int | None:
        """Register ``reg``'s value at the end of the path thread ``t`` ran (None if the
        path never writes it)."""
        span = self.path_of(t, th.pc)
        if span is None:
            return None
        slots = self.regs[t]
        for name, expr in span.final:
            if name == reg:
                return evaluate(expr, lambda slot: th.regs[slots[slot]])
        return None

    def renamed_value(self, th: Thread, t: int, reg: str) -> int | None:
        """Register ``reg`` of a plain program whose writes were renamed: the slot of the
        program-order-latest write executed so far (the last write's once the thread is
        done; in a state where none has executed, the first slot, still 0).  None when
        ``reg`` is written at most once (its slot bears its name)."""
        writes = self.renamed[t].get(reg)
        if writes is None:
            return None
        slots = self.regs[t]
        chosen = writes[0][1]
        for j, slot in writes:
            if j < th.pc or th.ahead >> j & 1:
                chosen = slot
        return th.regs[slots[chosen]]

    def writes_any(self, t: int, slot: str, names: frozenset[str]) -> bool:
        """Whether a write of ``slot`` by thread ``t`` may change what ``v.reg`` answers for
        one of the registers ``names``: a renamed slot stands for its register; on a
        program with paths any register may be computed from any load (regexpr.py)."""
        if not names:
            return False
        return bool(self.paths[t]) or architectural(slot) in names

    def intern(self, instr: Instr) -> int:
        """Instructions are stored in states as small ints (stable hashes)."""
        ident = self.ids.get(instr)
        if ident is None:
            if getattr(self, "_late", False):
                ident = late_id(instr)
                if ident in self.code:  # two instructions, one digest: refuse, never confuse
                    raise AssertionError(f"interned code ids collide: {instr} and {self.code[ident]}")
            else:
                ident = len(self.code)
            self.code[ident] = instr
            self.ids[instr] = ident
        return ident

    def emitted_code(self) -> dict[int, Instr]:
        """The code interned while exploring, by id (``LATE_BASE``)."""
        return {ident: instr for ident, instr in self.code.items() if ident >= LATE_BASE}

    def adopt_code(self, emitted: dict[int, Instr]) -> None:
        """Learn code another process emitted (its states name it by these ids)."""
        for ident, instr in emitted.items():
            known = self.code.setdefault(ident, instr)
            if known != instr:
                raise AssertionError(f"interned code ids collide: {instr} and {known}")
            self.ids.setdefault(instr, ident)

    # ---- names ---------------------------------------------------------------------

    def thread_index(self, name: str) -> int:
        try:
            return self.thread_indices[name]
        except KeyError:
            raise ScenarioError(f"no thread named {name!r}") from None

    def reg_index(self, thread: int, reg: str) -> int:
        try:
            return self.regs[thread][reg]
        except KeyError:
            name = self.threads[thread].name
            raise ScenarioError(f"thread {name!r} never loads into register {reg!r}") from None

    def loc_index(self, loc: str) -> tuple[int, int]:
        try:
            return self.locations[loc]
        except KeyError:
            raise ScenarioError(f"no location named {loc!r}") from None

    def line_of(self, name: str) -> int:
        if name in self.line_index:
            return self.line_index[name]
        return self.loc_index(name)[0]

    def names_a_line(self, name: str) -> bool:
        return name in self.line_index or name in self.locations

    # ---- where a thread is -----------------------------------------------------------

    def finished(self, state: State, t: int) -> bool:
        th = state.threads[t]
        prog = self.programs[t]
        return (th.pc >= len(prog) or self.code[prog[th.pc]].op == Op.END) and not th.hyp

    def current(self, state: State, t: int) -> Instr | None:
        th = state.threads[t]
        if th.hyp:
            return self.code[th.hyp[0]]
        prog = self.programs[t]
        if th.pc >= len(prog):
            return None
        instr = self.code[prog[th.pc]]
        return None if instr.op == Op.END else instr

    # ---- checking programs --------------------------------------------------------------

    def check_thread(self, t: ThreadSpec, is_va: Callable[[int, str], bool] | None) -> None:
        """Refuse a program that names what does not exist, placed where the user wrote it.
        ``is_va`` says whether a name is a virtual address of the thread's regime (None:
        no translation model)."""
        index = self.thread_indices[t.name]
        if t.context == Context.GUEST and t.vm not in self.vm_index:
            raise ScenarioError(f"thread {t.name!r} is a guest of unknown VM {t.vm!r}")
        if t.context != Context.DEVICE and not 0 <= t.pe < self.h.n_pes:
            raise ScenarioError(f"thread {t.name!r} starts on PE{t.pe}, but there are {self.h.n_pes} PEs")
        for ident in self.programs[index]:
            instr = self.code[ident]
            where = f"thread {t.name!r}, {str(instr)!r}"
            if (
                instr.op in (Op.STR, Op.LDR, Op.AWAIT, Op.DC, Op.IC)
                and instr.loc
                and not self.names_a_line(instr.loc)
                and not (is_va is not None and is_va(index, instr.loc))
            ):
                raise _bad(f"unknown location {instr.loc!r} in {where}", instr)
            if instr.op == Op.DCSW:
                level = self.h.level_index(instr.level)
                if not self.h.levels[level].architected:
                    raise _bad(f"set/way cannot name a system cache: {where}", instr)
                if instr.loc not in self.line_index:
                    raise _bad(f"unknown line {instr.loc!r} in {where}", instr)
            if instr.op in (Op.EXEC, Op.TLBI) and is_va is None:
                raise _bad(f"{instr.op} needs the translation model: {where}", instr)
            if t.context == Context.DEVICE and instr.op not in _DEVICE_OPS:
                raise _bad(f"a device only loads, stores and waits: {where}", instr)
            if instr.op == Op.STR and instr.reg and instr.reg not in self.regs[index]:
                raise _bad(f"register {instr.reg} is stored before any load: {where}", instr)


def _bad(message: str, instr: Instr) -> ScenarioError:
    """A program error placed where the user wrote the instruction."""
    pos = Position(instr.source or "<program>", instr.line, instr.column) if instr.line else None
    return ScenarioError(message, pos)
