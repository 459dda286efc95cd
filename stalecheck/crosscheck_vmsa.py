"""The machine engine against the axiomatic engine on herd's VMSA tests.

Issue 13 part 7: a VMSA litmus test (herd's ``-variant kvm,fatal``) that the
machine engine can express runs on both engines; every final state the machine
reaches must be one the axiomatic engine allows (herd's ``aarch64.cat`` under
``vmsa``: Arm ARM B2.3 with translation-table walks as implicit reads, D8).
The machine keeps threads in program order under its translation model
(docs/notation.md, "Ordering"), so it may reach fewer states; a state it
reaches that the axiomatic engine forbids is a bug in one of the two engines,
or a place where herd and the Arm ARM differ (reported, never hidden).

The translation (what is not covered is refused with the reason):

* each variable ``x`` is a physical page ``P_x`` holding the location ``phy_x``,
  mapped at the virtual name ``v_x`` by a one-level stage-1 regime whose table
  is one line holding every entry ``pte_x`` (herd's ``PTE(x)``); ``PA(x)`` is
  ``phy_x``, accessed without translation, and so is every ``pte_x`` (herd
  does not translate page-table accesses either);
* an entry record ``(oa:PA(y), valid:v, af:a, db:d)`` is the machine descriptor
  of ``P_y`` with VALID = v, AF = a, read-only = not d (no FEAT_HAFDBS: a store
  through a clean entry takes a Permission fault, D8.5.2);
* the data pages are Device memory (``attr="device"``): threads run in program
  order and caches are coherent, so a load can read the same values as from
  Normal memory; Device pages only spare the search their cache steps.  The
  table line is Normal write-back and walks are coherent (herd's assumption);
* each thread is straight-line code: ``LDR``/``STR`` of a location an address
  register names, constants (``MOV``), entry records and loaded registers as
  data, barriers, ``TLBI`` with the page number ``LSR Xd,Xn,#12`` of a virtual
  address (or none); an ``EOR`` of a register with itself and a branch to the
  next instruction are the dependency idioms, which program order subsumes;
* a fault (fatal, herd's default) is named by the one access of its thread
  that can take it (its kind and direction, from the entries its address may
  have); where two could, each that may fault is followed by a store of its
  rank to a private marker location, whose final value names the faulting one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stalecheck.axiomatic.code_data import code_layout
from stalecheck.axiomatic.conditions import Evaluator, FinalState
from stalecheck.axiomatic.initial_state import InitialState, build_initial_state, canonical_reg
from stalecheck.axiomatic.semantics import is_supported
from stalecheck.axiomatic.values import Addr, PteVal, Val
from stalecheck.axiomatic.variants import test_variants
from stalecheck.errors import Position, ScenarioError, UnsupportedError
from stalecheck.explore.search import Budget, collect
from stalecheck.litmus import ast
from stalecheck.machine import translation as tr
from stalecheck.machine.caches import coherent_value
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.state import State
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder

VARIANTS = ("kvm", "fatal")  # herd's flags for its VMSA catalogue (tests/data/herdtools7/README.md)
_BARRIERS = {"SY", "ST", "LD", "ISH", "ISHST", "ISHLD", "OSH", "OSHST", "OSHLD", "NSH",
             "NSHST", "NSHLD"}
# TLBI operations both engines know (machine: docs/notation.md; herd: AArch64Base TLBI).
_TLBI = {"VAE1", "VAE1IS", "VALE1", "VALE1IS", "VAAE1", "VAAE1IS", "VMALLE1", "VMALLE1IS",
         "ALLE1", "ALLE1IS"}
_LOADS = {"LDR", "LDAR", "LDAPR"}
_STORES = {"STR", "STLR"}
# D17 ESR DFSC: fault status code -> herd's fault kind; TLB conflict has no herd kind.
_KINDS = {tr.FSC_TRANSLATION: "MMU:Translation", tr.FSC_ACCESS_FLAG: "MMU:AccessFlag",
          tr.FSC_PERMISSION: "MMU:Permission"}
TLB_CONFLICT = "TLBConflict"


def _refuse(test: ast.LitmusTest, why: str, line: int = 0) -> UnsupportedError:
    return UnsupportedError(f"not expressible in the machine engine: {why}", Position(test.path, line))


# A register's value while translating: a constant (int, address or entry record),
# or ("load", k): what the thread's k-th access loaded (known only per final state).
Sym = Val | tuple[str, int]


@dataclass
class _Access:
    """One memory access of a thread, in program order."""

    index: int
    op: str  # machine text
    va: str  # the herd variable it translates (""; physical or a PTE)
    write: bool
    label: str  # the herd label of its instruction ("" if none)
    dest: str = ""  # the herd register a load writes
    pte: bool = False  # a load of an entry: its value is a descriptor
    stored: int | None = None  # a store's constant value (None: a loaded register)
    fault_kinds: set[str] = field(default_factory=set)  # the MMU faults it may take
    op_index: int = 0  # its line in ``_ThreadCode.ops``
    target: str = ""  # the machine location it accesses


@dataclass
class _ThreadCode:
    ops: list[str] = field(default_factory=list)
    accesses: list[_Access] = field(default_factory=list)
    # herd register -> its value after each access count: [(accesses done, value)]
    history: dict[str, list[tuple[int, Sym]]] = field(default_factory=dict)
    # with two accesses that may take one kind of fault: those that may fault, each
    # followed by a store of its rank to a private marker (the machine's ESR has no address)
    marked: list[_Access] = field(default_factory=list)


class _Translator:
    def __init__(self, test: ast.LitmusTest, layout: InitialState, weak: bool = False) -> None:
        self.test = test
        self.layout = layout
        # Out-of-order execution (docs/ordering.md): program order no longer subsumes the
        # dependency idioms, which the machine cannot express on virtual addresses.
        self.weak = weak
        self.variables = sorted(b for b, _ in layout.memory if not b.startswith(("PTE(", "PA(")))
        self.page_of = {v: k for k, v in enumerate(self.variables)}
        self.var_of_page: dict[int, str] = {}  # machine page index -> variable

    def refuse(self, why: str, line: int = 0) -> UnsupportedError:
        return _refuse(self.test, why, line)

    # ------------------------------------------------------------ values
    def location(self, value: Sym, line: int) -> tuple[str, str, bool]:
        """(machine location, the variable it translates or "", is a PTE) of an address."""
        if isinstance(value, Addr) and value.offset == 0:
            base = value.base
            if base.startswith("PTE(") and base[4:-1] in self.page_of:
                return f"pte_{base[4:-1]}", "", True
            if base.startswith("PA(") and base[3:-1] in self.page_of:
                return f"phy_{base[3:-1]}", "", False
            if base in self.page_of:
                return f"v_{base}", base, False
        raise self.refuse(f"address {value}", line)

    def descriptor(self, pte: PteVal, desc_of: Mapping[str, int], line: int = 0) -> int:
        """The machine descriptor of a herd entry record (valid, af, db; oa a variable)."""
        if pte.oa not in desc_of or pte.dbm or not pte.el0 or not pte.x:
            raise self.refuse(f"entry {pte}", line)
        desc = desc_of[pte.oa]
        desc = desc & ~tr.AF if not pte.af else desc
        desc = desc | tr.RO if not pte.db else desc
        return desc & ~tr.VALID if not pte.valid else desc

    def entry(self, desc: int) -> PteVal:
        """The herd record of a machine descriptor (the inverse of :meth:`descriptor`)."""
        return PteVal(self.var_of_page[tr.desc_oa(desc)], valid=desc & tr.VALID, af=int(bool(desc & tr.AF)),
                      db=0 if desc & tr.RO else 1)

    # ------------------------------------------------------------ code
    def thread(self, thread: ast.Thread, desc_of: Mapping[str, int]) -> _ThreadCode:
        out = _ThreadCode()
        regs: dict[str, Sym] = dict(self.layout.registers.get(thread.proc, {}))
        for reg, v in regs.items():
            out.history[reg] = [(0, v)]
        code = thread.code
        labels: list[str] = []
        for row, cell in enumerate(code):
            labels.extend(cell.labels)
            ins = cell.instruction
            if ins is None:
                continue
            label = labels[0] if labels else ""
            labels = []
            written = self.instruction(ins, regs, out, label, desc_of, code, row)
            for reg in written:
                out.history.setdefault(reg, []).append((len(out.accesses), regs[reg]))
        return out

    def instruction(
        self, ins: ast.Instruction, regs: dict[str, Sym], out: _ThreadCode, label: str,
        desc_of: Mapping[str, int], code: Sequence[ast.CodeLine], row: int,
    ) -> list[str]:
        m, ops, line = ins.mnemonic.upper(), ins.operands, ins.line

        def reg(op: ast.Operand) -> str:
            if isinstance(op, ast.Reg) and canonical_reg(op.name)[:1] == "X" and \
                    canonical_reg(op.name)[1:].isdigit():
                return canonical_reg(op.name)
            raise self.refuse(f"operand {op} in {ins.text}", line)

        def value(op: ast.Operand) -> Sym:
            if isinstance(op, ast.Imm):
                return op.value
            return regs.get(reg(op), 0)

        if m in ("DMB", "DSB"):
            opt = ops[0].name.upper() if ops and isinstance(ops[0], ast.Reg) else ""
            if opt not in _BARRIERS:
                raise self.refuse(f"barrier {ins.text}", line)
            out.ops.append(f"{m} {opt}")
            return []
        if m in ("ISB", "NOP"):
            out.ops.append(m)
            return []
        if m == "MOV" and len(ops) == 2:
            regs[reg(ops[0])] = value(ops[1])
            return [reg(ops[0])]
        if m == "EOR" and len(ops) == 3 and isinstance(ops[2], ast.Reg) and reg(ops[1]) == reg(ops[2]):
            if self.weak:
                raise self.refuse(f"dependency idiom {ins.text} under out-of-order execution", line)
            regs[reg(ops[0])] = 0  # the dependency idiom: zero, whatever was loaded
            return [reg(ops[0])]
        if m in ("ADD", "ORR") and len(ops) == 3:
            a, b = value(ops[1]), value(ops[2])
            if b == 0 and isinstance(ops[2], ast.Reg):
                regs[reg(ops[0])] = a  # base plus a dependency's zero
                return [reg(ops[0])]
            if isinstance(a, int) and isinstance(b, int):
                regs[reg(ops[0])] = (a + b) if m == "ADD" else (a | b)
                return [reg(ops[0])]
            raise self.refuse(f"computed value in {ins.text}", line)
        if m == "LSR" and len(ops) == 3 and isinstance(ops[2], ast.Imm) and ops[2].value == 12:
            a = value(ops[1])
            if isinstance(a, Addr) and a.base in self.page_of and a.offset == 0:
                regs[reg(ops[0])] = ("page", self.page_of[a.base])
                return [reg(ops[0])]
            raise self.refuse(f"computed value in {ins.text}", line)
        if m == "TLBI":
            op = ops[0].name.upper() if ops and isinstance(ops[0], ast.Reg) else ""
            if op not in _TLBI:
                raise self.refuse(f"TLBI {op}", line)
            if len(ops) == 1:
                out.ops.append(f"TLBI {op}")
                return []
            page = value(ops[1])
            if not (isinstance(page, tuple) and page[0] == "page"):
                raise self.refuse(f"TLBI operand in {ins.text}", line)
            out.ops.append(f"TLBI {op}, v_{self.variables[page[1]]}")
            return []
        if m in ("CBZ", "CBNZ", "B.EQ", "B.NE") and _to_next(ops[-1], code, row):
            if self.weak:
                raise self.refuse(f"dependency idiom {ins.text} under out-of-order execution", line)
            return []  # a control dependency only: program order keeps it
        if m == "CMP":
            return []  # only feeds such a branch (checked by the branch)
        if (m in _LOADS or m in _STORES) and len(ops) == 2 and isinstance(ops[1], ast.Mem):
            mem = ops[1]
            if mem.writeback or not mem.parts or len(mem.parts) > 2:
                raise self.refuse(f"addressing mode in {ins.text}", line)
            addr = value(mem.parts[0])
            if len(mem.parts) == 2:
                off = value(mem.parts[1])
                if off != 0:
                    raise self.refuse(f"address offset in {ins.text}", line)
            loc, va, pte = self.location(addr, line)
            k = len(out.accesses)
            if m in _LOADS:
                dest = reg(ops[0])
                rn = f"r{dest[1:]}"
                out.ops.append(f"{'LDR' if m == 'LDR' else m} {rn}, {loc}")
                out.accesses.append(_Access(k, out.ops[-1], va, False, label, dest, pte,
                                            op_index=len(out.ops) - 1))
                regs[dest] = ("load", k)
                return [dest]
            data = value(ops[0])
            if isinstance(data, PteVal):
                text = str(self.descriptor(data, desc_of, line))
            elif isinstance(data, int):
                text = str(data & 0xFFFF_FFFF_FFFF_FFFF)
            elif isinstance(data, tuple) and data[0] == "load":
                text = f"r{out.accesses[data[1]].dest[1:]}"
                if regs_loaded_again(out, data[1]):
                    raise self.refuse(f"stored register reloaded in {ins.text}", line)
            else:
                raise self.refuse(f"stored value {data} in {ins.text}", line)
            out.ops.append(f"{m} {loc}, {text}")
            stored = int(text) if text.isdigit() else None
            out.accesses.append(_Access(k, out.ops[-1], va, True, label, stored=stored, target=loc,
                                        op_index=len(out.ops) - 1))
            return []
        raise self.refuse(f"instruction {ins.text}", line)


def regs_loaded_again(out: _ThreadCode, k: int) -> bool:
    """Whether the register access ``k`` loaded was loaded again since (the machine
    register would then hold the later value)."""
    dest = out.accesses[k].dest
    return any(a.dest == dest for a in out.accesses[k + 1:])


def _to_next(op: ast.Operand, code: Sequence[ast.CodeLine], row: int) -> bool:
    """A branch target that is the next instruction (the control-dependency idiom)."""
    if not isinstance(op, ast.Reg):
        return False
    for line in code[row + 1:]:
        if op.name in line.labels:
            return True
        if line.instruction is not None:
            return False
    return False


@dataclass(frozen=True)
class VmsaTranslation:
    """A machine system for one VMSA test, and how to read herd's final state off its states."""

    machine: Machine
    translator: _Translator
    threads: tuple[tuple[int, _ThreadCode], ...]  # (proc, its code)
    evaluator: Evaluator


def translate_vmsa(test: ast.LitmusTest, weak: bool = False) -> VmsaTranslation:
    """Build the machine system for ``test``, or refuse it (UnsupportedError); ``weak``:
    each thread executes out of order as the Arm memory model allows (docs/ordering.md)."""
    tags = test_variants(test, VARIANTS) - {"kvm", "vmsa", "fatal", "precise"}
    if tags:
        raise _refuse(test, f"variant {', '.join(sorted(tags))}")
    for key in ("TTHM", "EL0"):
        if test.info_value(key) is not None:
            raise _refuse(test, f"header key {key}")
    if any(t.handler for t in test.threads):
        raise _refuse(test, "fault handler column")
    if [t.proc for t in test.threads] != list(range(len(test.threads))):
        raise _refuse(test, "thread numbering")
    layout = build_initial_state(test, is_supported, code_layout(test, frozenset()), True)
    if layout.arrays or layout.symbolic_registers:
        raise _refuse(test, "arrays and symbolic registers")
    t = _Translator(test, layout, weak)
    if not t.variables:
        raise _refuse(test, "no variable")
    b = Builder()
    b.system(pes=len(test.threads))
    # Threads in program order unless ``weak`` (docs/litmus.md): the final states a subset
    # of herd's.
    b.options(quiet_coherent_lines=True, prune_dead_lines=True, weak_ordering=weak)
    b.page("PT", "PT0:" + ",".join(f"pte_{v}" for v in t.variables))
    for v in t.variables:
        b.page(f"P_{v}", f"phy_{v}")
        b.host_type(f"phy_{v}", DEVICE)
    b.regime("k", root="PT0", levels=(3,), vas={f"v_{v}": (k,) for k, v in enumerate(t.variables)})
    desc_of = {v: b.page_desc(f"P_{v}", attr="device") for v in t.variables}
    t.var_of_page = {tr.desc_oa(d): v for v, d in desc_of.items()}
    init: dict[str, int] = {}
    for (base, offset), value in layout.memory.items():
        if offset:
            raise _refuse(test, f"location {base}+{offset}")
        if isinstance(value, PteVal) and base.startswith("PTE("):
            init[f"pte_{base[4:-1]}"] = t.descriptor(value, desc_of)
        elif isinstance(value, int) and base in t.page_of:
            init[f"phy_{base}"] = value & 0xFFFF_FFFF_FFFF_FFFF
        else:
            raise _refuse(test, f"initial value {base}={value}")
    b.init(**init)
    threads = [(thread.proc, t.thread(thread, desc_of)) for thread in test.threads]
    for proc in _ambiguous(t, init, [c for _, c in threads]):
        code = threads[proc][1]
        code.marked = [a for a in code.accesses if a.fault_kinds]
        for rank, a in reversed(list(enumerate(code.marked))):
            code.ops.insert(a.op_index + 1, f"STR mark_{proc}, {rank + 1}")
        b.page(f"M_{proc}", f"mark_{proc}")
        b.host_type(f"mark_{proc}", DEVICE)
    for proc, code in threads:
        b.host(f"P{proc}", "\n".join(code.ops) or "NOP", pe=proc)
        b.translate(f"P{proc}", "k")
    b.bad_when(lambda v: False, "(outcome collection)")
    try:
        machine = Machine(b.build())
    except ScenarioError as e:  # e.g. a register loaded twice, which the window refuses
        raise _refuse(test, str(e)) from None
    return VmsaTranslation(machine, t, tuple(threads), Evaluator(test, layout, True))


def _kinds(desc: int, write: bool) -> str:
    """The MMU fault a walk that reads ``desc`` gives (Arm ARM D8.15.1, D8.5), or ""."""
    if not desc & tr.VALID:
        return "MMU:Translation"
    if not desc & tr.AF:
        return "MMU:AccessFlag"
    return "MMU:Permission" if write and desc & tr.RO else ""


def _ambiguous(t: _Translator, init: Mapping[str, int], codes: list[_ThreadCode]) -> set[int]:
    """The threads where two accesses may take one kind of fault in one direction: a
    machine fault (an ESR, no address) does not say which, so they get markers."""
    everything = {v for k, v in init.items() if k.startswith("pte_")}
    everything |= {a.stored for c in codes for a in c.accesses if a.stored is not None}
    may: dict[str, set[int]] = {v: {init[f"pte_{v}"]} for v in t.variables}
    for c in codes:
        for a in c.accesses:
            if a.write and a.target.startswith("pte_"):
                v = a.target[4:]
                may[v] |= {a.stored} if a.stored is not None else everything
    out: set[int] = set()
    for proc, c in enumerate(codes):
        for a in c.accesses:
            a.fault_kinds = {_kinds(d, a.write) for d in may.get(a.va, set())} - {""}
        for a in c.accesses:
            if any(o is not a and o.write == a.write and a.fault_kinds & o.fault_kinds
                   for o in c.accesses):
                out.add(proc)
    return out


def _fault_of(code: _ThreadCode, syndrome: int, mark: int) -> tuple[_Access, str]:
    """The access that took a fault with this ESR, and herd's kind for it: the one that
    can, or in a marked thread the one after the last marker stored; a TLB conflict abort
    names the first translated access (such states are reported apart)."""
    fsc = syndrome & 0x3F
    kind = TLB_CONFLICT if fsc == tr.FSC_TLB_CONFLICT else _KINDS.get(fsc & ~3, f"FSC{fsc:#x}")
    write = bool(syndrome & tr.WNR)
    if code.marked and kind != TLB_CONFLICT:
        return code.marked[mark], kind
    for a in code.accesses:
        if a.va and a.write == write and (kind == TLB_CONFLICT or a.fault_kinds & {kind}):
            return a, kind
    raise AssertionError(f"no access of the thread can take ESR {syndrome:#x}")


def final_state(t: VmsaTranslation, state: State) -> FinalState:
    """The machine's final state as the axiomatic engine's evaluator reads it."""
    m, tl = t.machine, t.translator

    def mem(loc: str) -> int:
        line, offset = m.loc_index(loc)
        return coherent_value(state.copies, state.mem, m.h, -1, line, m.nl)[offset]

    registers: list[dict[str, Val]] = []
    faults: list[tuple[int, str, str, str]] = []
    for proc, code in t.threads:
        th = state.threads[m.thread_index(f"P{proc}")]
        done = len(code.accesses)
        if th.fault:
            access, kind = _fault_of(code, th.fault, mem(f"mark_{proc}") if code.marked else 0)
            done = access.index
            faults.append((proc, access.label, kind, access.va))
        regs: dict[str, Val] = {}
        for reg, history in code.history.items():
            sym = [v for k, v in history if k <= done][-1] if history[0][0] <= done else None
            if sym is None:
                continue
            if isinstance(sym, tuple) and sym[0] == "load":
                a = code.accesses[sym[1]]
                raw = th.regs[m.reg_index(m.thread_index(f"P{proc}"), f"r{a.dest[1:]}")]
                regs[reg] = tl.entry(raw) if a.pte else raw
            elif isinstance(sym, tuple):
                regs[reg] = sym[1] << 12  # a page number: not printed by the catalogue
            else:
                regs[reg] = sym
        registers.append(regs)
    memory: dict[tuple[str, int], Val] = {}
    for v in tl.variables:
        memory[(v, 0)] = mem(f"phy_{v}")
        memory[(f"PTE({v})", 0)] = tl.entry(mem(f"pte_{v}"))
    return FinalState(registers, memory, tuple(faults))


def machine_states(
    t: VmsaTranslation, budget: Budget = Budget()
) -> tuple[dict[tuple[str, ...], bool], bool]:
    """The machine's final states in herd's spelling, each with whether it is reached
    only through a TLB conflict abort (herd prints only the faults its condition names,
    so such a state may look like any other), and whether the search completed."""
    m = t.machine

    def final(state: State) -> bool:
        return m.is_complete(state) and not any(state.bufs)

    def project(state: State) -> tuple[tuple[str, ...], bool]:
        fs = final_state(t, state)
        return t.evaluator.state(fs), any(f[2] == TLB_CONFLICT for f in fs.faults)

    result = collect(m, final, project, budget)
    out: dict[tuple[str, ...], bool] = {}
    for value in result.values:
        assert isinstance(value, tuple)
        key: tuple[str, ...] = value[0]
        out[key] = out.get(key, True) and bool(value[1])
    return out, result.complete


@dataclass(frozen=True)
class Comparison:
    """One test on both engines (``machine_only`` non-empty: a bug in one engine, or a
    place where herd and the Arm ARM differ, such as a TLB conflict abort)."""

    axiomatic: frozenset[tuple[str, ...]]
    machine: frozenset[tuple[str, ...]]
    complete: bool
    # machine states reached only through that abort
    tlb_conflict: frozenset[tuple[str, ...]] = frozenset()

    @property
    def machine_only(self) -> frozenset[tuple[str, ...]]:
        return self.machine - self.axiomatic - self.tlb_conflict

    @property
    def kind(self) -> str:
        """``machine-only`` (to examine), ``equal``, or ``subset`` (the machine reaches fewer)."""
        if self.machine_only:
            return "machine-only"
        return "equal" if self.machine - self.tlb_conflict == self.axiomatic else "subset"


def compare(test: ast.LitmusTest, budget: Budget = Budget(), weak: bool = False) -> Comparison:
    """Run ``test`` on both engines (herd's ``-variant kvm,fatal``); not expressible: refused."""
    from stalecheck.axiomatic.check import check_test

    translation = translate_vmsa(test, weak)
    result = check_test(test, keep_witness=False, variants=VARIANTS)
    states, complete = machine_states(translation, budget)
    conflict = frozenset(k for k, only in states.items() if only)
    return Comparison(frozenset(result.states), frozenset(states), complete, conflict)
