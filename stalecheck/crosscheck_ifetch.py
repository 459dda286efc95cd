"""The machine engine against the axiomatic engine on herd's instruction-fetch tests.

Issue 13 part 7: an ifetch litmus test that the machine engine can express is
run on both engines; every final state the machine reaches must be one the
axiomatic engine allows (herd's ``aarch64.cat`` with ``-variant ifetch``, i.e.
Arm ARM B2.3 with instruction fetches as implicit reads).  The machine keeps
``EXEC`` in program order with everything before it (docs/notation.md,
"Ordering"), so it may reach fewer states; a state it reaches that the
axiomatic engine forbids is a bug in one of the two engines.

The translation (what is not covered is refused with the reason):

* every code location (a label the init block exports) becomes a machine line
  holding a *code version*: 1 for the instruction written in the test, 2, 3, ...
  for each instruction value of the init block (``NOP``, ``instr:"..."``); a
  store of such a value is ``STR line, version``;
* reaching an exported label is ``EXEC rK, line`` (a fetch, Arm ARM B2.3.1
  "Implicit Instruction Memory Read Effects"): the version it ran goes into a
  register of its own, and the registers the fetched code sets (``MOV`` of a
  constant, skipped or not by a forward ``B``) are computed from the versions;
  the memory operations must be the same whichever versions run;
* data locations, ``LDR``/``STR`` of constants and loaded registers, barriers,
  ``DC CVAU``/``IC IVAU``/``IC IALLU[IS]`` on a named line, as in
  :mod:`stalecheck.crosscheck`; a ``CBZ``/``CBNZ`` to the next instruction is only
  a control dependency, which the machine (in program order here) keeps anyway;
* the system: one PE per thread, threads in program order (the machine does not
  model ``weak_ordering`` with instruction fetch yet), one cache level (PoU and PoC at
  memory), a PIPT I-cache already holding each code line's original version on every PE
  (code that ran before: the machine may then fetch stale code, as herd may),
  and CTR_EL0.IDC/DIC from the test's ``CacheType`` (DIC implies IDC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stalecheck.axiomatic.code_data import CodeLayout, add_overwriting, code_layout, initial_values
from stalecheck.axiomatic.initial_state import build_initial_state, canonical_reg
from stalecheck.axiomatic.semantics import is_supported
from stalecheck.axiomatic.values import Addr, CodeLabel, Instr, Val
from stalecheck.errors import Position, UnsupportedError
from stalecheck.explore.search import Budget, collect
from stalecheck.litmus import ast
from stalecheck.machine.caches import coherent_value
from stalecheck.machine.state import State
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder

_BARRIER_OPTIONS = {"SY", "ST", "LD", "ISH", "ISHST", "ISHLD", "OSH", "OSHST", "OSHLD", "NSH",
                    "NSHST", "NSHLD"}
_FETCH_REG = 40  # machine registers r40, r41, ... hold the versions fetched
_STEPS = 1_000


def _unsupported(test: ast.LitmusTest, why: str, line: int = 0) -> UnsupportedError:
    return UnsupportedError(f"not expressible in the machine engine: {why}", Position(test.path, line))


def _line_name(cell: tuple[str, int]) -> str:
    """A machine location name for a code location (``P1:m0`` -> ``P1_m0``)."""
    return cell[0].replace(":", "_")


@dataclass
class _Run:
    """One interpretation of a thread for one choice of fetched versions."""

    ops: list[str] = field(default_factory=list)
    regs: dict[str, Val] = field(default_factory=dict)  # X registers whose value is known
    loaded: set[str] = field(default_factory=set)  # registers a load wrote
    unknown: set[str] = field(default_factory=set)  # computed from a load not given yet
    load_from: dict[str, str] = field(default_factory=dict)  # loaded register -> location
    equal: bool | None = None  # the Z flag of the last CMP (None: not known yet)
    fetches: int = 0
    loads: Mapping[str, Val] | None = None  # the loaded values, when reading a final state


class _NeedVersion(Exception):
    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


@dataclass(frozen=True)
class IfetchTranslation:
    """A machine system for one ifetch test, and how to read herd's columns off its states."""

    machine: Machine
    columns: tuple[str, ...]
    fetches: Mapping[int, int]  # thread -> number of EXECs
    loaded: Mapping[int, Mapping[str, str]]  # thread -> loaded register -> its location
    translator: _Translator  # re-runs a thread once its versions and loads are known

    def registers(self, proc: int, versions: list[int], loads: Mapping[str, int]) -> dict[str, Val]:
        """Thread ``proc``'s final registers, given the versions its EXECs ran and the
        machine values of its loads (a code load's version read back as its instruction)."""
        t = self.translator
        thread = next(th for th in t.test.threads if th.proc == proc)
        given = {r: t.instruction_of(loc, v) if loc in t.code_lines else v
                 for r, v in loads.items() for loc in (self.loaded[proc][r],)}
        return t.run(thread, versions, given).regs


class _Translator:
    def __init__(self, test: ast.LitmusTest) -> None:
        self.test = test
        code = code_layout(test, frozenset({"ifetch"}))
        layout = build_initial_state(test, is_supported, code)
        add_overwriting(code, initial_values(layout), test.path)
        self.code: CodeLayout = code
        self.layout = layout
        # the instruction values a store may write: those the registers start with
        values = sorted({v for regs in layout.registers.values() for v in regs.values()
                         if isinstance(v, Instr)})
        self.version: dict[Instr, int] = {v: k + 2 for k, v in enumerate(values)}
        self.decoded: dict[int, ast.Instruction] = {}
        for v, k in self.version.items():
            ins = code.overwriting.get(v)
            if ins is not None:
                self.decoded[k] = ins
        self.code_lines: dict[str, tuple[str, int]] = {_line_name(c): c for c in code.cells.values()}
        self.value_of: dict[int, Instr] = {k: v for v, k in self.version.items()}

    # ---------------------------------------------------------------- locations
    def location(self, value: Val | None, ins: ast.Instruction) -> str:
        if isinstance(value, Addr) and value.offset == 0:
            return value.base
        if isinstance(value, CodeLabel):
            cell = self.code.cell_of(value)
            if cell is not None:
                return _line_name(cell)
        raise _unsupported(self.test, f"address not a fixed location in {ins.text}", ins.line)

    def instruction_of(self, line: str, version: int) -> Val:
        """What a load of code line ``line`` holding ``version`` reads (herd: the
        instruction value, ``instr:"..."``)."""
        if version == 1:
            return self.code.initial[self.code_lines[line]]
        return self.value_of.get(version, version)  # an integer the test stored there

    # ---------------------------------------------------------------- one thread
    def run(
        self, thread: ast.Thread, versions: list[int], loads: Mapping[str, Val] | None = None
    ) -> _Run:
        """Interpret ``thread`` for the fetched ``versions``; ``loads`` gives the values of
        its loads (None while translating: values computed from them stay unknown)."""
        test = self.test
        run = _Run(loads=loads)
        for reg, v in self.layout.registers.get(thread.proc, {}).items():
            run.regs[reg] = v
        labels = {lab: i for i, line in enumerate(thread.code) for lab in line.labels}
        order = [i for i, line in enumerate(thread.code) if line.instruction is not None]
        pc = 0
        steps = 0
        while pc < len(thread.code):
            steps += 1
            if steps > _STEPS:
                raise _unsupported(test, "a loop")
            line = thread.code[pc]
            ins = line.instruction
            if ins is None:
                pc += 1
                continue
            cell = self.code.fetch_at.get((thread.proc, pc))
            if cell is not None:
                name = _line_name(cell)
                if run.fetches >= len(versions):
                    raise _NeedVersion(name)
                v = versions[run.fetches]
                run.ops.append(f"EXEC r{_FETCH_REG + run.fetches}, {name}")
                run.fetches += 1
                if v != 1:
                    ins = self.decoded[v]
            if self._to_next(thread, ins, pc, labels):
                pc += 1  # a branch to the next instruction orders, and the machine is in order
                continue
            target = self.step(thread, ins, run)
            if target is None:
                pc += 1
                continue
            dest = labels.get(target) if isinstance(target, str) else None
            if isinstance(target, int):  # .+N: N bytes from this instruction
                k = order.index(pc) + target // 4
                dest = order[k] if 0 <= k < len(order) else (len(thread.code) if k == len(order) else None)
            if dest is None or dest <= pc:
                raise _unsupported(test, f"branch {ins.text} (only forward branches)", ins.line)
            pc = dest
        return run

    @staticmethod
    def _to_next(thread: ast.Thread, ins: ast.Instruction, pc: int, labels: Mapping[str, int]) -> bool:
        """``CBZ``/``CBNZ`` to the instruction after it: taken or not, the same code runs
        next (only a control dependency remains, and the machine runs in program order)."""
        if ins.mnemonic.upper() not in ("CBZ", "CBNZ") or len(ins.operands) != 2:
            return False
        target = ins.operands[1]
        dest = labels.get(target.name) if isinstance(target, ast.Reg) else None
        if dest is None or dest <= pc:
            return False
        return all(line.instruction is None for line in thread.code[pc + 1:dest])

    def step(self, thread: ast.Thread, ins: ast.Instruction, run: _Run) -> str | int | None:
        test = self.test
        m = ins.mnemonic.upper()
        ops = ins.operands
        if m == "NOP":
            return None
        if m == "B" and len(ops) == 1:
            op = ops[0]
            if isinstance(op, ast.Reg):
                return op.name
            if isinstance(op, ast.RelLabel):
                return op.offset
        if m == "MOV" and len(ops) == 2 and isinstance(ops[0], ast.Reg) and isinstance(ops[1], ast.Imm):
            reg = canonical_reg(ops[0].name)
            if reg in run.loaded:
                raise _unsupported(test, f"{reg} overwritten after a load in {ins.text}", ins.line)
            run.regs[reg] = ops[1].value
            run.unknown.discard(reg)
            return None
        if m == "CMP" and len(ops) == 2 and isinstance(ops[0], ast.Reg):
            a, b = self._operand(ops[0], run, ins), self._operand(ops[1], run, ins)
            run.equal = None if a is None or b is None else a == b
            return None
        if m == "CSET" and len(ops) == 2 and isinstance(ops[0], ast.Reg) and \
                isinstance(ops[1], ast.Reg) and ops[1].name.upper() in ("EQ", "NE"):
            reg = canonical_reg(ops[0].name)
            if reg in run.loaded:
                raise _unsupported(test, f"{reg} overwritten after a load in {ins.text}", ins.line)
            if run.equal is None:
                run.unknown.add(reg)
                run.regs.pop(reg, None)
            else:
                run.unknown.discard(reg)
                run.regs[reg] = int(run.equal == (ops[1].name.upper() == "EQ"))
            return None
        if m in ("DMB", "DSB") and len(ops) == 1 and isinstance(ops[0], ast.Reg) and \
                ops[0].name.upper() in _BARRIER_OPTIONS:
            run.ops.append(f"{m} {ops[0].name.upper()}")
            return None
        if m == "ISB" and not ops:
            run.ops.append("ISB")
            return None
        if m == "IC" and len(ops) == 1 and isinstance(ops[0], ast.Reg) and \
                ops[0].name.upper() in ("IALLU", "IALLUIS"):
            run.ops.append(f"IC {ops[0].name.upper()}")
            return None
        if m in ("DC", "IC") and len(ops) == 2 and isinstance(ops[0], ast.Reg) and \
                isinstance(ops[1], ast.Reg) and ops[0].name.upper() in ("CVAU", "IVAU"):
            kind = ops[0].name.upper()
            if (m, kind) not in (("DC", "CVAU"), ("IC", "IVAU")):
                raise _unsupported(test, f"instruction {ins.text}", ins.line)
            loc = self.location(self._pointer(ops[1], run, ins), ins)
            run.ops.append(f"{m} {kind} {loc}")
            return None
        if m in ("LDR", "STR") and len(ops) == 2 and isinstance(ops[0], ast.Reg) and \
                isinstance(ops[1], ast.Mem) and len(ops[1].parts) == 1 and \
                isinstance(ops[1].parts[0], ast.Reg) and not ops[1].writeback:
            loc = self.location(self._pointer(ops[1].parts[0], run, ins), ins)
            reg = canonical_reg(ops[0].name)
            if not reg.startswith("X") or not reg[1:].isdigit():
                raise _unsupported(test, f"register in {ins.text}", ins.line)
            if m == "LDR":
                if reg in run.loaded:
                    raise _unsupported(test, f"{reg} loaded twice in {ins.text}", ins.line)
                run.loaded.add(reg)
                run.load_from[reg] = loc
                run.regs.pop(reg, None)
                if run.loads is not None:
                    run.regs[reg] = run.loads[reg]
                run.ops.append(f"LDR r{reg[1:]}, {loc}")
                return None
            if reg in run.unknown:
                raise _unsupported(test, f"a computed value stored in {ins.text}", ins.line)
            if reg in run.loaded:
                if loc not in self.layout_locations():
                    raise _unsupported(test, f"a loaded value stored to code in {ins.text}", ins.line)
                run.ops.append(f"STR {loc}, r{reg[1:]}")
                return None
            value = run.regs.get(reg, 0)
            if isinstance(value, Instr):
                if loc in self.layout_locations() or self.version[value] not in self.decoded:
                    raise _unsupported(test, f"stored instruction in {ins.text}", ins.line)
                run.ops.append(f"STR {loc}, {self.version[value]}")
                return None
            if not isinstance(value, int) or loc not in self.layout_locations():
                raise _unsupported(test, f"stored value in {ins.text}", ins.line)
            run.ops.append(f"STR {loc}, {value}")
            return None
        raise _unsupported(test, f"instruction {ins.text}", ins.line)

    def _operand(self, op: ast.Operand, run: _Run, ins: ast.Instruction) -> Val | None:
        """A CMP operand's value (instructions compare as values); None: not known yet."""
        if isinstance(op, ast.Imm):
            return op.value
        if not isinstance(op, ast.Reg):
            raise _unsupported(self.test, f"operand in {ins.text}", ins.line)
        reg = canonical_reg(op.name)
        if reg in run.unknown or (reg in run.loaded and run.loads is None):
            return None
        value = run.regs.get(reg, 0)
        if isinstance(value, int) and op.name.upper().startswith("W"):
            value &= 0xFFFF_FFFF
        return value

    def _pointer(self, op: ast.Operand, run: _Run, ins: ast.Instruction) -> Val | None:
        if not isinstance(op, ast.Reg):
            return None
        reg = canonical_reg(op.name)
        if reg in run.loaded or reg in run.unknown:
            raise _unsupported(self.test, f"address loaded from memory in {ins.text}", ins.line)
        return run.regs.get(reg)

    def layout_locations(self) -> set[str]:
        return {base for base, _ in self.layout.cell_types if ":" not in base}

    # ---------------------------------------------------------------- all choices
    def runs(self, thread: ast.Thread) -> list[tuple[tuple[int, ...], _Run]]:
        """Every choice of fetched versions, with its run (depth-first, as replays)."""
        out: list[tuple[tuple[int, ...], _Run]] = []
        stack: list[list[int]] = [[]]
        while stack:
            versions = stack.pop()
            try:
                out.append((tuple(versions), self.run(thread, versions)))
            except _NeedVersion:
                for v in reversed([1, *sorted(self.decoded)]):
                    stack.append([*versions, v])
        return out


def translate_ifetch(test: ast.LitmusTest, columns: tuple[str, ...]) -> IfetchTranslation:
    """A machine system for ``test``; ``columns`` are the axiomatic result's columns."""
    t = _Translator(test)
    if not t.code.cells:
        raise _unsupported(test, "no code location")
    for item in test.init:
        if isinstance(item.location, ast.GlobalLoc) and item.location.index is not None:
            raise _unsupported(test, "arrays", item.line)
    b = Builder()
    b.system(pes=max(1, len(test.threads)))
    b.options(weak_ordering=False)  # threads in program order here (module doc): a subset check
    code_lines = sorted({_line_name(c) for c in t.code.cells.values()})
    data = sorted(t.layout_locations())
    for name in data + code_lines:
        b.page(f"page_{name}", name)
    init: dict[str, int] = {}
    for (base, _off), v in t.layout.memory.items():
        if ":" in base:
            continue
        if not isinstance(v, int):
            raise _unsupported(test, f"a code address stored as data ({base} holds {v})")
        init[base] = v
    init.update(dict.fromkeys(code_lines, 1))
    b.init(**init)
    dic, idc = t.code.dic, t.code.idc
    b.fetch(icache="pipt", idc=idc or dic, dic=dic, host_colour=0)
    fetches: dict[int, int] = {}
    loaded: dict[int, dict[str, str]] = {}
    for thread in test.threads:
        runs = t.runs(thread)
        first = runs[0][1]
        for _versions, run in runs[1:]:
            if run.ops != first.ops:
                raise _unsupported(test, f"the code fetched on P{thread.proc} changes which "
                                   "memory operations run")
        if not dic:
            for name in code_lines:
                b.icache_holds(thread.proc, name, 1, colour=0)
        b.host(f"P{thread.proc}", "\n".join(first.ops) or "NOP", pe=thread.proc)
        fetches[thread.proc] = first.fetches
        loaded[thread.proc] = dict(first.load_from)
    for col in columns:
        if col.startswith("[") and col[1:-1] not in data:
            raise _unsupported(test, f"column {col}")
        if not col.startswith("[") and ":" not in col:
            raise _unsupported(test, f"column {col}")
    b.bad_when(lambda v: False, "(outcome collection)")
    return IfetchTranslation(Machine(b.build()), columns, fetches, loaded, t)


def machine_states(
    t: IfetchTranslation, budget: Budget = Budget()
) -> tuple[frozenset[tuple[str, ...]], bool]:
    """The machine's final states in herd's spelling, and whether the search completed."""
    m = t.machine

    def project(state: State) -> tuple[str, ...]:
        def final_registers(proc: int) -> dict[str, Val]:
            thread = m.thread_index(f"P{proc}")
            regs = state.threads[thread].regs
            versions = [regs[m.reg_index(thread, f"r{_FETCH_REG + k}")]
                        for k in range(t.fetches.get(proc, 0))]
            loads = {r: regs[m.reg_index(thread, f"r{r[1:]}")] for r in t.loaded.get(proc, {})}
            return t.registers(proc, versions, loads)

        cells = []
        for col in t.columns:
            if col.startswith("["):
                line, offset = m.loc_index(col[1:-1])
                value: Val = coherent_value(state.copies, state.mem, m.h, -1, line, m.nl)[offset]
            else:
                proc_text, reg = col.split(":")
                value = final_registers(int(proc_text)).get(reg, 0)
            cells.append(f"{col}={value}")  # ints, or instr:"..." as herd spells them
        return tuple(cells)

    def final(state: State) -> bool:
        return m.is_complete(state) and not any(state.bufs)

    result = collect(m, final, project, budget)
    return frozenset(result.values), result.complete  # type: ignore[arg-type]


@dataclass(frozen=True)
class Comparison:
    """One test on both engines: the axiomatic states, the machine's, and whether the
    machine's search finished (``machine_only`` non-empty is a bug in one engine)."""

    axiomatic: frozenset[tuple[str, ...]]
    machine: frozenset[tuple[str, ...]]
    complete: bool

    @property
    def machine_only(self) -> frozenset[tuple[str, ...]]:
        return self.machine - self.axiomatic

    @property
    def kind(self) -> str:
        """``machine-only`` (a bug), ``equal``, or ``subset`` (the machine reaches fewer)."""
        if self.machine_only:
            return "machine-only"
        return "equal" if self.machine == self.axiomatic else "subset"


def compare(test: ast.LitmusTest, budget: Budget = Budget()) -> Comparison:
    """Run ``test`` on both engines (herd's ``-variant ifetch``); not expressible: refused."""
    from stalecheck.axiomatic.check import check_test

    result = check_test(test, keep_witness=False, variants=("ifetch",))
    translation = translate_ifetch(test, tuple(result.columns))
    states, complete = machine_states(translation, budget)
    return Comparison(frozenset(result.states), states, complete)

