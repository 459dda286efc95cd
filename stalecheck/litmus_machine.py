"""herd litmus tests on the machine engine (``stalecheck litmus --engine machine``).

A test becomes a machine system: one PE per thread, each location its own
Normal write-back line, coherent caches, and out-of-order execution inside
each PE (``Options.weak_ordering``, machine/ordering.py).  Each instruction is
translated into the machine's program elements (machine/paths.py, which
defines what each one does); the initial state, the condition and the printed
states come from the same front end as the axiomatic engine's
(axiomatic/initial_state.py, axiomatic/conditions.py), so both engines print a
final state the same way.  What the machine cannot express is refused with the
reason and the file, line and column, never approximated.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from stalecheck.axiomatic.check import CheckResult
from stalecheck.axiomatic.code_data import code_layout
from stalecheck.axiomatic.conditions import Evaluator, FinalState
from stalecheck.axiomatic.initial_state import InitialState, build_initial_state, canonical_reg
from stalecheck.axiomatic.semantics import is_supported
from stalecheck.axiomatic.values import Addr, Val
from stalecheck.errors import InputError, Position, ScenarioError, UnsupportedError
from stalecheck.explore.search import Budget, collect
from stalecheck.litmus import ast
from stalecheck.machine import regexpr as rx
from stalecheck.machine.caches import coherent_value
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.paths import EXTENDS, Address, Elaborator, Operand, Src
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.state import State
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder

_BARRIER_OPTIONS = {
    "SY", "ST", "LD", "ISH", "ISHST", "ISHLD", "OSH", "OSHST", "OSHLD", "NSH", "NSHST", "NSHLD",
}
_ALU = {
    "ADD": "ADD", "SUB": "SUB", "EOR": "EOR", "AND": "AND", "ORR": "ORR", "BIC": "BIC", "ORN": "ORN",
    "EON": "EON", "LSL": "LSL", "LSR": "LSR", "ASR": "ASR", "MUL": "MUL",
}
_ALU_FLAGS = {"ADDS": "ADD", "SUBS": "SUB", "ANDS": "AND", "BICS": "BIC"}
_PAIRS = ("LDP", "STP", "LDPSW", "LDNP", "STNP", "LDIAPP", "STILP")
_PAIR_STORES = ("STP", "STNP", "STILP")
# Multiply-accumulate: mnemonic -> (the product, how the accumulator combines with it).
_MULTIPLY_ADD = {
    "MADD": ("MUL", "ADD"), "MSUB": ("MUL", "SUB"), "MNEG": ("MUL", "SUB"),
    **{f"{sign}{kind}L": (f"{sign}MULL", "ADD" if kind == "MADD" else "SUB")
       for sign in "SU" for kind in ("MADD", "MSUB", "MNEG")},
}
_UNARY = {
    "ABS": "ABS", "RBIT": "RBIT", "REV": "REV", "REV64": "REV", "REV16": "REV16", "REV32": "REV32",
    "SXTW": "SXTW", "SXTH": "SXTH", "SXTB": "SXTB", "UXTH": "UXTH", "UXTB": "UXTB",
}
_CSEL = {"CSEL", "CSINC", "CSINV", "CSNEG"}
# CSET rd, c = CSINC rd, zr, zr, !c; CINC rd, rn, c = CSINC rd, rn, rn, !c; ... (C6.2)
_CSEL_ALIASES = {"CSET": "CSINC", "CSETM": "CSINV", "CINC": "CSINC", "CINV": "CSINV", "CNEG": "CSNEG"}
_INVERSE = {
    "EQ": "NE", "NE": "EQ", "CS": "CC", "HS": "LO", "CC": "CS", "LO": "HS", "MI": "PL", "PL": "MI",
    "VS": "VC", "VC": "VS", "HI": "LS", "LS": "HI", "GE": "LT", "LT": "GE", "GT": "LE", "LE": "GT",
}
_LOADS = {"LDR": "", "LDAR": "A", "LDAPR": "Q", "LDXR": "", "LDAXR": "A", "LDUR": ""}
_STORES = {"STR": False, "STLR": True, "STUR": False}
# Narrow loads and stores (C6.2): mnemonic -> (the full-width one, bytes, sign-extended).
_NARROW_LOADS = {
    f"{base}{suffix}": (base, size, signed)
    for base in ("LDR", "LDUR", "LDAR", "LDAPR")
    for suffix, size, signed in (("B", 1, False), ("H", 2, False), ("SB", 1, True), ("SH", 2, True),
                                 ("SW", 4, True))
    if not (signed and base in ("LDAR", "LDAPR"))
}
_NARROW_STORES = {
    f"{base}{suffix}": (base, size) for base in _STORES for suffix, size in (("B", 1), ("H", 2))
}
_ORDER_SUFFIX = {"": (False, False), "A": (True, False), "L": (False, True), "AL": (True, True)}
_LDOPS = {"ADD": "ADD", "EOR": "EOR", "SET": "ORR"}


def _refuse(test: ast.LitmusTest, why: str, line: int = 0, column: int = 0) -> UnsupportedError:
    return UnsupportedError(
        f"not expressible in the machine engine: {why}", Position(test.path, line, column)
    )


@dataclass(frozen=True)
class Translated:
    """A litmus test as a machine system, with what printing its final states needs."""

    test: ast.LitmusTest
    machine: Machine
    layout: InitialState
    evaluator: Evaluator
    locations: tuple[str, ...]
    widths: dict[tuple[int, int], int]  # (line, column) of an access -> its size in bytes
    no_paths: bool = False  # a thread has no path within the unrolling bound: no execution


def _without_paths(spec: SystemSpec) -> Machine | None:
    """When some thread of ``spec`` has no path through its program within the unrolling
    bound (machine/layout.py refuses such a thread), the machine with every thread
    reduced to a NOP (for the locations and the printing), else None."""
    nop = (Src("INSTR", (Instr(Op.NOP),)),)
    probe = Machine(dataclasses.replace(
        spec, threads=tuple(dataclasses.replace(t, source=nop) for t in spec.threads)
    ))
    values = probe.layout.loc_values
    for t in spec.threads:
        initial = {reg: values[v] if isinstance(v, str) else v for reg, v in t.registers}
        elab = Elaborator(list(t.source), values, initial, t.unroll, t.name).elaborate()
        if not elab.paths and elab.cut:
            return probe
    return None


class _Thread:
    """Translates the instructions of one litmus thread into ``Src`` elements."""

    def __init__(self, test: ast.LitmusTest, proc: int) -> None:
        self.test = test
        self.proc = proc
        self.relative: dict[ast.Instruction, str] = {}  # PC-relative branch -> its label

    def refuse(self, ins: ast.Instruction, why: str) -> UnsupportedError:
        return _refuse(self.test, f"{why} in {ins.text!r}", ins.line, ins.column)

    def reg(self, ins: ast.Instruction, op: ast.Operand) -> str:
        if isinstance(op, ast.Reg):
            name = canonical_reg(op.name)
            if name == "XZR" or (name[:1] == "X" and name[1:].isdigit()):
                return op.name.upper()
            if op.name.upper() == "SP":  # the stack pointer, as a 64-bit register (not WSP)
                return "SP"
            if name.startswith("%"):  # a symbolic register: ``%x`` or ``X%x`` 64 bits, ``W%x`` 32
                return op.name if op.name[:1] in ("W", "X") else f"X{op.name}"
        raise self.refuse(ins, "expected a general-purpose register")

    def source(self, ins: ast.Instruction, ops: tuple[ast.Operand, ...], at: int) -> Operand:
        """An immediate (``#imm``, ``#imm, LSL #0|#12``), or a register, shifted
        (``LSL``/``LSR``/``ASR #n``) or extended (``UXTW``, ``SXTB #n``, ...): C6.2's
        immediate, shifted-register and extended-register operand forms."""
        op = ops[at]
        mod = ops[at + 1] if at + 1 < len(ops) else None
        if at + 2 < len(ops):
            raise self.refuse(ins, "operand form")
        if isinstance(op, ast.Imm):
            if mod is None:
                return Operand("imm", value=op.value)
            if isinstance(mod, ast.Shift) and mod.kind.upper() == "LSL" and mod.amount in (0, 12):
                return Operand("imm", value=op.value << mod.amount)
            raise self.refuse(ins, "shifted immediate")
        name = self.reg(ins, op)
        if mod is None:
            return Operand("reg", name)
        if isinstance(mod, ast.Shift):
            kind, amount = mod.kind.upper(), mod.amount
        elif isinstance(mod, ast.Reg):
            kind, amount = mod.name.upper(), 0
        else:
            raise self.refuse(ins, "operand form")
        if kind in ("LSL", "LSR", "ASR", "ROR") or (kind in EXTENDS and amount <= 4):
            return Operand("reg", name, ext=kind, amount=amount)
        raise self.refuse(ins, "operand form")

    def address(self, ins: ast.Instruction, op: ast.Operand, post: ast.Operand | None = None) -> Address:
        """A memory operand; ``post`` the immediate after it (post-index, ``[X1],#4``)."""
        if not isinstance(op, ast.Mem) or not op.parts:
            raise self.refuse(ins, "addressing mode")
        parts = op.parts
        base = Operand("reg", self.reg(ins, parts[0]))
        if post is not None:
            if not isinstance(post, ast.Imm) or len(parts) != 1 or op.writeback:
                raise self.refuse(ins, "addressing mode")
            return Address(base, None, True, post.value)
        if op.writeback:
            if len(parts) == 2 and isinstance(parts[1], ast.Imm):
                return Address(base, Operand("imm", value=parts[1].value), True)
            raise self.refuse(ins, "addressing mode")
        if len(parts) == 1:
            return Address(base)
        off = parts[1]
        if isinstance(off, ast.Imm) and len(parts) == 2:
            return Address(base, Operand("imm", value=off.value))
        if isinstance(off, ast.Reg):
            name = self.reg(ins, off)
            if len(parts) == 2:
                return Address(base, Operand("reg", name))
            ext = parts[2]
            if len(parts) == 3 and isinstance(ext, ast.Reg) and ext.name.upper() in ("SXTW", "UXTW"):
                return Address(base, Operand("reg", name, ext=ext.name.upper()))
            if len(parts) == 3 and isinstance(ext, ast.Shift) and ext.kind.upper() in ("LSL", "SXTW", "UXTW"):
                return Address(base, Operand("reg", name, ext=ext.kind.upper(), amount=ext.amount))
        raise self.refuse(ins, "addressing mode")

    def condition(self, ins: ast.Instruction, op: ast.Operand, invert: bool = False) -> str:
        if not isinstance(op, ast.Reg) or op.name.upper() not in _INVERSE:
            raise self.refuse(ins, "condition")
        cond = op.name.upper()
        return _INVERSE[cond] if invert else cond

    def label(self, ins: ast.Instruction, op: ast.Operand) -> str:
        if isinstance(op, ast.Reg):
            return op.name
        if isinstance(op, ast.RelLabel) and ins in self.relative:
            return self.relative[ins]
        raise self.refuse(ins, "branch target")

    def _relative_labels(self, thread: ast.Thread) -> dict[int, list[str]]:
        """Labels for PC-relative branch targets (``B .+8``): each instruction is 4 bytes
        (C6.2 B: the offset is from the branch's own address).  Per target instruction
        number, the labels to put before it; ``self.relative`` maps each branch to its."""
        code = [cell.instruction for cell in thread.code if cell.instruction is not None]
        targets: dict[int, list[str]] = {}
        for k, ins in enumerate(code):
            for op in ins.operands:
                if isinstance(op, ast.RelLabel) and op.offset % 4 == 0:
                    dest = k + op.offset // 4
                    if not 0 <= dest <= len(code):
                        raise self.refuse(ins, "branch target outside the thread")
                    name = f".rel{dest}"
                    targets.setdefault(dest, []).append(name)
                    self.relative[ins] = name
        return targets

    def program(self, thread: ast.Thread) -> list[Src]:
        out: list[Src] = []
        targets = self._relative_labels(thread)
        k = 0
        for cell in thread.code:
            for label in cell.labels:
                out.append(Src("LABEL", (label,), label, cell.line, 0, self.test.path))
            if cell.instruction is not None:
                for label in dict.fromkeys(targets.get(k, ())):
                    out.append(Src("LABEL", (label,), label, cell.line, 0, self.test.path))
                out += self.instructions(cell.instruction)
                k += 1
        for label in dict.fromkeys(targets.get(k, ())):
            out.append(Src("LABEL", (label,), label, 0, 0, self.test.path))
        return out

    def instructions(self, ins: ast.Instruction) -> list[Src]:
        """The elements one instruction becomes (two accesses for a pair)."""
        if ins.mnemonic.upper() in _PAIRS:
            return self.pair(ins)
        return [self.instruction(ins)]

    def pair(self, ins: ast.Instruction) -> list[Src]:
        """LDP/STP/LDPSW Rt1, Rt2, [Xn{, #imm}] (also pre- and post-indexed): two accesses
        to consecutive cells, each single-copy atomic on its own and neither ordered with
        the other (B2.2.1: "treated as two single-copy atomic reads"; as herd, without
        FEAT_LSE2, which makes an aligned pair one access: a weaker model, never a
        stronger one), then the base register's write-back (C6.2 LDP, STP).

        LDNP/STNP are LDP/STP with a non-temporal hint, except that an LDNP read need not
        respect an address dependency from an earlier read (C3.2.5): paths.py refuses
        an LDNP whose address depends on a load.  LDIAPP/STILP (FEAT_LRCPC3) are two
        RCpc acquires / two releases, the one of Rt1 ordered before the one of Rt2, and
        for STILP's pre-index form Rt2's before Rt1's (C6.2.208 LDIAPP, C6.2.397 STILP):
        emitted in that order, an acquire orders every later access and every earlier
        access is ordered before a release (B2.3.7 Barrier-ordered-before)."""
        m = ins.mnemonic.upper()
        ops = ins.operands
        if len(ops) not in (3, 4):
            raise self.refuse(ins, f"{m} with {len(ops)} operands")
        rt1, rt2 = self.reg(ins, ops[0]), self.reg(ins, ops[1])
        mem, post = ops[2], ops[3] if len(ops) == 4 else None
        if not isinstance(mem, ast.Mem) or not mem.parts or len(mem.parts) > 2:
            raise self.refuse(ins, "addressing mode")
        base = self.reg(ins, mem.parts[0])
        offset = mem.parts[1] if len(mem.parts) == 2 else ast.Imm(0)
        if not isinstance(offset, ast.Imm) or (post is not None and not isinstance(post, ast.Imm)):
            raise self.refuse(ins, "addressing mode")
        if post is not None and (mem.writeback or offset.value):
            raise self.refuse(ins, "addressing mode")
        if canonical_reg(base) in (canonical_reg(rt1), canonical_reg(rt2)) and (mem.writeback or post):
            raise self.refuse(ins, "a pair that writes back into a register it transfers")
        if m not in _PAIR_STORES and canonical_reg(rt1) == canonical_reg(rt2):
            raise self.refuse(ins, f"{m} into one register twice (CONSTRAINED UNPREDICTABLE)")
        if m in ("LDNP", "STNP") and (mem.writeback or post is not None):
            raise self.refuse(ins, "addressing mode")  # C3.2.5: base plus offset only
        ordered = m in ("LDIAPP", "STILP")
        if ordered and "ZR" in canonical_reg(rt1) + canonical_reg(rt2):
            raise self.refuse(ins, f"{m} with a zero register (its ordering then depends on the encoding)")
        if m == "LDIAPP" and canonical_reg(base) in (canonical_reg(rt1), canonical_reg(rt2)):
            raise self.refuse(ins, "LDIAPP into its base register")
        size = 4 if m == "LDPSW" or rt1[:1].upper() == "W" else 8

        def src(op: str, *args: object) -> Src:
            return Src(op, args, ins.text, ins.line, ins.column, self.test.path)

        out: list[Src] = []
        first = 0
        if m not in _PAIR_STORES and not ordered and canonical_reg(base) == canonical_reg(rt1):
            first = 1  # load the base register last: the other address still uses it
        if m == "STILP" and mem.writeback:
            first = 1  # C6.2.397: pre-index, Rt2's write is ordered before Rt1's
        for k in (first, 1 - first):
            rt = (rt1, rt2)[k]
            addr = Address(Operand("reg", base), Operand("imm", value=offset.value + k * size))
            if m in _PAIR_STORES:
                out.append(src("ST", Operand("reg", rt), addr, m == "STILP", 0))
            else:
                order = "Q" if m == "LDIAPP" else ""
                out.append(src("LD", rt, addr, order, False, 4 if m == "LDPSW" else 0, m == "LDPSW",
                               m == "LDNP"))
        step = post.value if isinstance(post, ast.Imm) else offset.value if mem.writeback else 0
        if step:
            out.append(src("ALU", "ADD", base, base, Operand("imm", value=step), False))
        return out

    def multiply_add(self, ins: ast.Instruction) -> Src:
        """MADD/MSUB Rd, Rn, Rm, Ra (Ra + / - Rn * Rm), MNEG Rd, Rn, Rm (-(Rn * Rm)) and
        their long forms (SMADDL, UMSUBL, SMNEGL, ...: a 32 x 32 -> 64 product), C6.2."""
        m = ins.mnemonic.upper()
        product, combine = _MULTIPLY_ADD[m]
        negate = m.endswith(("NEG", "NEGL"))
        ops = ins.operands
        if len(ops) != (3 if negate else 4):
            raise self.refuse(ins, f"{m} with {len(ops)} operands")
        rd, rn, rm = (self.reg(ins, op) for op in ops[:3])
        ra = ("WZR" if rd.startswith("W") else "XZR") if negate else self.reg(ins, ops[3])
        return Src("MAC", (product, combine, rd, rn, rm, ra), ins.text, ins.line, ins.column, self.test.path)

    def instruction(self, ins: ast.Instruction) -> Src:
        m = ins.mnemonic.upper()
        ops = ins.operands
        if m in _MULTIPLY_ADD:
            return self.multiply_add(ins)

        def src(op: str, *args: object) -> Src:
            return Src(op, args, ins.text, ins.line, ins.column, self.test.path)

        def arity(*n: int) -> None:
            if len(ops) not in n:
                raise self.refuse(ins, f"{m} with {len(ops)} operands")

        def instr(op: Op, kind: str = "") -> Src:
            return src("INSTR", Instr(op, kind=kind, text=ins.text, line=ins.line, column=ins.column,
                                      source=self.test.path))

        if m == "NOP":
            return instr(Op.NOP)
        if m == "ISB":
            return instr(Op.ISB)
        if m in ("DMB", "DSB"):
            arity(1)
            opt = ops[0]
            if not isinstance(opt, ast.Reg) or opt.name.upper() not in _BARRIER_OPTIONS:
                raise self.refuse(ins, "barrier option")
            return instr(Op(m), opt.name.upper())
        if m == "MOV":
            arity(2)
            return src("MOV", self.reg(ins, ops[0]), self.source(ins, ops, 1))
        if m in _ALU or m in _ALU_FLAGS:
            arity(3, 4)
            name = _ALU.get(m) or _ALU_FLAGS[m]
            return src("ALU", name, self.reg(ins, ops[0]), self.reg(ins, ops[1]), self.source(ins, ops, 2),
                       m in _ALU_FLAGS)
        if m in _UNARY:  # ABS, RBIT, REV*, SXTW, UXTB, ...: a function of one register
            arity(2)
            return src("ALU", _UNARY[m], self.reg(ins, ops[0]), self.reg(ins, ops[1]), Operand("imm"))
        if m in ("UBFM", "SBFM"):
            arity(4)
            immr, imms = ops[2], ops[3]
            if not isinstance(immr, ast.Imm) or not isinstance(imms, ast.Imm):
                raise self.refuse(ins, "operand form")
            return src("ALU", m, self.reg(ins, ops[0]), self.reg(ins, ops[1]),
                       Operand("imm", value=immr.value << 8 | imms.value))
        if m in ("SMULL", "UMULL"):
            arity(3)
            return src("ALU", m, self.reg(ins, ops[0]), self.reg(ins, ops[1]), self.source(ins, ops, 2))
        if m in ("NEG", "MVN"):
            arity(2, 3)
            rd = self.reg(ins, ops[0])
            zr = "WZR" if rd.startswith("W") else "XZR"
            return src("ALU", "SUB" if m == "NEG" else "ORN", rd, zr, self.source(ins, ops, 1))
        if m in ("MOVZ", "MOVK"):
            arity(2, 3)
            imm = ops[1]
            shift = ops[2] if len(ops) == 3 else ast.Shift("LSL", 0)
            lsl = isinstance(shift, ast.Shift) and shift.kind.upper() == "LSL"
            if not isinstance(imm, ast.Imm) or not isinstance(shift, ast.Shift) or not lsl:
                raise self.refuse(ins, "operand form")
            rd = self.reg(ins, ops[0])
            if m == "MOVZ":
                return src("MOV", rd, Operand("imm", value=(imm.value & 0xFFFF) << shift.amount))
            return src("MOVK", rd, imm.value, shift.amount)
        if m in ("CMP", "CMN", "TST"):
            arity(2, 3)
            kind = {"CMP": "SUB", "CMN": "ADD", "TST": "AND"}[m]
            return src("CMP", self.reg(ins, ops[0]), self.source(ins, ops, 1), kind)
        if m in _CSEL or m in _CSEL_ALIASES:
            variant = _CSEL_ALIASES.get(m, m)
            if m in ("CSET", "CSETM"):
                arity(2)
                rd = self.reg(ins, ops[0])
                zr = "WZR" if rd.startswith("W") else "XZR"
                regs, cond = [rd, zr, zr], self.condition(ins, ops[1], invert=True)
            elif m in _CSEL_ALIASES:
                arity(3)
                rn = self.reg(ins, ops[1])
                regs, cond = [self.reg(ins, ops[0]), rn, rn], self.condition(ins, ops[2], invert=True)
            else:
                arity(4)
                regs = [self.reg(ins, op) for op in ops[:3]]
                cond = self.condition(ins, ops[3])
            return src("CSEL", *regs, cond, variant)
        if m in ("MRS", "MSR"):  # only the flags: C5.2 NZCV, a special-purpose register
            arity(2)
            sysreg = ops[1] if m == "MRS" else ops[0]
            if not isinstance(sysreg, ast.Reg) or sysreg.name.upper() != "NZCV":
                raise self.refuse(ins, "system register")
            return src(f"{m}_NZCV", self.reg(ins, ops[0] if m == "MRS" else ops[1]))
        if m in ("TBZ", "TBNZ"):
            arity(3)
            bit = ops[1]
            if not isinstance(bit, ast.Imm):
                raise self.refuse(ins, "bit number")
            return src("TBZ", self.reg(ins, ops[0]), bit.value, self.label(ins, ops[2]), m == "TBNZ")
        if m == "B":
            arity(1)
            return src("B", "", self.label(ins, ops[0]))
        if m.startswith("B.") and m[2:] in rx.CONDITIONS:
            arity(1)
            return src("B", m[2:], self.label(ins, ops[0]))
        if m in ("CBZ", "CBNZ"):
            arity(2)
            return src("CBZ", self.reg(ins, ops[0]), self.label(ins, ops[1]), m == "CBNZ")
        if m in _LOADS or m in _NARROW_LOADS:
            arity(2, 3)
            base, size, signed = _NARROW_LOADS.get(m, (m, 0, False))
            post = ops[2] if len(ops) == 3 else None
            addr = self.address(ins, ops[1], post)
            return src("LD", self.reg(ins, ops[0]), addr, _LOADS[base], "X" in m[2:4], size, signed)
        if m in _STORES or m in _NARROW_STORES:
            arity(2, 3)
            base, size = _NARROW_STORES.get(m, (m, 0))
            post = ops[2] if len(ops) == 3 else None
            addr = self.address(ins, ops[1], post)
            return src("ST", Operand("reg", self.reg(ins, ops[0])), addr, _STORES[base], size)
        if m in ("STXR", "STLXR"):
            arity(3)
            return src("STX", self.reg(ins, ops[0]), Operand("reg", self.reg(ins, ops[1])),
                       self.address(ins, ops[2]), m == "STLXR")
        if m.startswith("CASP") and m[4:] in _ORDER_SUFFIX:
            arity(5)
            acq, rel = _ORDER_SUFFIX[m[4:]]
            regs = [self.reg(ins, op) for op in ops[:4]]
            if len({r[:1] for r in regs}) != 1 or "ZR" in "".join(regs):
                raise self.refuse(ins, "register operands")
            return src("CASP", *regs, self.address(ins, ops[4]), acq, rel)
        for base in ("CAS", "SWP"):
            if m.startswith(base) and m[len(base):] in _ORDER_SUFFIX:
                arity(3)
                acq, rel = _ORDER_SUFFIX[m[len(base):]]
                return src(
                    base, self.reg(ins, ops[0]), self.reg(ins, ops[1]), self.address(ins, ops[2]), acq, rel
                )
        for name, op in _LDOPS.items():
            for prefix, returns in (("LD", True), ("ST", False)):
                head = prefix + name
                if m.startswith(head) and m[len(head):] in _ORDER_SUFFIX:
                    acq, rel = _ORDER_SUFFIX[m[len(head):]]
                    if returns:
                        arity(3)
                        return src("LDOP", op, self.reg(ins, ops[0]), self.reg(ins, ops[1]),
                                   self.address(ins, ops[2]), acq, rel)
                    if acq:
                        break
                    arity(2)
                    zr = "WZR" if self.reg(ins, ops[0]).startswith("W") else "XZR"
                    return src("LDOP", op, self.reg(ins, ops[0]), zr, self.address(ins, ops[1]), False, rel)
        if m in ("LDXP", "LDAXP", "STXP", "STLXP"):
            # B2.2.1: a 32-bit pair is one single-copy atomic access, and a successful 64-bit
            # store-exclusive pair "a single-copy atomic update of the entire memory
            # location"; the machine's accesses are of one cell each.
            raise self.refuse(ins, f"instruction {m} (an exclusive pair: single-copy atomic over two cells)")
        if m in ("LDAP", "STLP"):
            raise self.refuse(ins, f"instruction {m} (herd's acquire/release pair, not in the Arm ARM)")
        raise self.refuse(ins, f"instruction {m}")


def translate(test: ast.LitmusTest) -> Translated:
    """Build the machine system for ``test``, or refuse it (UnsupportedError)."""
    if test.arch.upper() != "AARCH64":
        raise _refuse(test, f"architecture {test.arch}")
    variant = test.info_value("Variant")
    if variant is not None:
        raise _refuse(test, f"variant {variant[0]}", variant[1])
    for thread in test.threads:
        for cell in thread.code:
            ins = cell.instruction
            if ins is not None and not is_supported(ins.mnemonic):
                raise _refuse(test, f"instruction {ins.mnemonic}", ins.line, ins.column)
    layout = build_initial_state(test, is_supported, code_layout(test, frozenset()))
    # Each cell its own location: a scalar by its name, an array element ``v+4`` at its
    # byte offset (machine/layout.py gives it the address of ``v`` plus 4).
    locations: list[str] = []
    memory: dict[str, int | str] = {}
    placed: dict[str, tuple[str, int]] = {}
    for (base, offset), _ in sorted(layout.cell_types.items(), key=lambda c: (c[0][0], c[0][1])):
        if offset and base not in layout.arrays:
            raise _refuse(test, f"location {base}+{offset} (mixed-size cells)")
        if _CELL in base:
            raise _refuse(test, f"location name {base}")
        if offset:
            placed[_loc_name(base, offset)] = (base, offset)
        name = _loc_name(base, offset)
        locations.append(name)
        value = layout.memory.get((base, offset), 0)
        memory[name] = _loc_name(value.base, value.offset) if isinstance(value, Addr) else _int(test, value)
    if not locations:  # a scenario needs a line; this one is never accessed
        locations.append("_unused")
    b = Builder()
    b.system(pes=max(1, len(test.threads)))
    b.options(weak_ordering=True, quiet_coherent_lines=True, record_executions=True)
    for name in locations:
        b.page(f"page_{name}", name)
    b.init(**{k: v for k, v in memory.items() if isinstance(v, int)})
    for thread in test.threads:
        b.host(f"P{thread.proc}", "NOP", pe=thread.proc)
    b.bad_when(lambda v: False, "(outcome collection)")
    spec = b.build()
    threads = []
    for thread, tspec in zip(test.threads, spec.threads, strict=True):
        regs: list[tuple[str, int | str]] = []
        # A symbolic register (``%x``) is one register of herd's choice, the same in every
        # thread, and named by no condition: here a register of its own (paths.canonical).
        symbolic = {f"X{r}": v for r, v in layout.symbolic_registers.items()}
        for reg, value in {**symbolic, **layout.registers.get(thread.proc, {})}.items():
            if isinstance(value, Addr):
                if _loc_name(value.base, value.offset) not in locations:
                    raise _refuse(test, f"register {thread.proc}:{reg} holds {value}")
                regs.append((reg, _loc_name(value.base, value.offset)))
            else:
                regs.append((reg, _int(test, value)))
        source = tuple(_Thread(test, thread.proc).program(thread)) or (
            Src("INSTR", (Instr(Op.NOP),)),
        )
        threads.append(dataclasses.replace(tspec, program=(), source=source, registers=tuple(regs)))
    spec = dataclasses.replace(spec, threads=tuple(threads), placed=placed)
    pointer_init = {k: v for k, v in memory.items() if isinstance(v, str)}
    try:
        machine = Machine(spec)
    except ScenarioError:
        empty = _without_paths(spec)
        if empty is None:
            raise
        # Every path of some thread takes a loop more often than the unrolling bound: herd
        # drops them all and prints no state, with "Loop" (L029).
        return Translated(test, empty, layout, Evaluator(test, layout), tuple(locations), {}, True)
    if pointer_init:  # a location initialised with another's address
        lay = machine.layout
        if any(v not in lay.loc_values for v in pointer_init.values()):
            raise _refuse(test, "a location initialised with an address that is no cell")
        spec = dataclasses.replace(
            spec, init={**dict(spec.init), **{k: lay.loc_values[v] for k, v in pointer_init.items()}}
        )
        machine = Machine(spec)
    widths = {(w.line, w.column): w.width for w in _widths(test)}
    return Translated(test, machine, layout, Evaluator(test, layout), tuple(locations), widths)


_CELL = "__cell"  # machine names of array elements: ``v__cell4`` is ``v`` + 4 bytes


def _loc_name(base: str, offset: int) -> str:
    """The machine location of a litmus cell (``base``, ``offset``)."""
    return f"{base}{_CELL}{offset}" if offset else base


def _cell(name: str) -> tuple[str, int]:
    base, sep, offset = name.partition(_CELL)
    return (base, int(offset)) if sep else (name, 0)


def _int(test: ast.LitmusTest, value: Val) -> int:
    if isinstance(value, int):
        return value
    raise _refuse(test, f"initial value {value}")


@dataclass(frozen=True)
class _Width:
    line: int
    column: int
    width: int  # bytes


def _widths(test: ast.LitmusTest) -> list[_Width]:
    """The access size of each load, store and atomic, from its data register (W: 4
    bytes, X: 8), where the instruction is written."""
    out: list[_Width] = []
    for thread in test.threads:
        for cell in thread.code:
            ins = cell.instruction
            if ins is None or not ins.operands:
                continue
            m = ins.mnemonic.upper()
            if not (m.startswith(("LD", "ST", "CAS", "SWP"))):
                continue
            data = ins.operands[1] if m.startswith("ST") and "X" in m[2:5] else ins.operands[0]
            narrow = _NARROW_LOADS.get(m, (m, 0, False))[1] or _NARROW_STORES.get(m, (m, 0))[1]
            if m == "LDPSW":  # two words, sign-extended into X registers (C6.2 LDPSW)
                narrow = 4
            if narrow:
                out.append(_Width(ins.line, ins.column, narrow))
            elif isinstance(data, ast.Reg) and data.name[:1].upper() in ("W", "X"):
                out.append(_Width(ins.line, ins.column, 4 if data.name[:1].upper() == "W" else 8))
    return out


def final_state(t: Translated, state: State) -> FinalState:
    """The machine's final state as the axiomatic engine's condition evaluator reads it."""
    m = t.machine
    lay = m.layout
    by_value = {v: name for name, v in lay.loc_values.items()}

    def val(v: int) -> Val:
        name = by_value.get(v)
        return Addr(*_cell(name)) if name is not None else v

    registers: list[dict[str, Val]] = []
    for ti in range(len(m.threads)):
        th = state.threads[ti]
        span = lay.path_of(ti, th.pc)
        regs: dict[str, Val] = {}
        if span is not None:
            slots, values = lay.regs[ti], th.regs

            def value_of(name: str, s: dict[str, int] = slots, v: tuple[int, ...] = values) -> int:
                return v[s[name]]

            for reg, expr in span.final:
                regs[reg] = val(rx.evaluate(expr, value_of))
        registers.append(regs)
    memory: dict[tuple[str, int], Val] = {}
    for name in t.locations:
        line, offset = m.loc_index(name)
        memory[_cell(name)] = val(coherent_value(state.copies, state.mem, m.h, -1, line, m.nl)[offset])
    return FinalState(registers, memory, ())


def execution(t: Translated, state: State) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """The execution a final state ends: per thread, the path it ran and what it read
    from and where its writes went in coherence order (machine/rfco.py)."""
    lay = t.machine.layout
    out = []
    for ti, th in enumerate(state.threads):
        span = lay.path_of(ti, th.pc)
        out.append((span.start if span is not None else -1, th.trace))
    return tuple(out)


def _check_addresses(t: Translated, state: State) -> None:
    """herd fails a test when an execution the model allows accesses an address that is
    no location ("non symbolic address", A217/A262 of its instruction tests).  Here: a
    reached state in which a thread's oldest unexecuted instruction is such an access
    (every earlier instruction has executed and every branch guess before it was
    checked, so its path up to there is not speculative)."""
    m = t.machine
    for ti, th in enumerate(state.threads):
        instr = m.layout.current(state, ti)
        if instr is None or instr.op not in ("LDR", "STR") or instr.loc or th.hyp:
            continue
        if m.execute.where(th, ti, th.pc, instr) is None:
            slots, regs = m.layout.regs[ti], th.regs

            def value_of(slot: str, s: dict[str, int] = slots, r: tuple[int, ...] = regs) -> int:
                return r[s[slot]]

            value = rx.evaluate(instr.addr, value_of)
            signed = value - (1 << 64) if value >> 63 else value
            raise InputError(
                f"non symbolic address: [{signed}]", Position(t.test.path, instr.line, instr.column)
            )


def _check_sizes(
    t: Translated, state: State, names: dict[tuple[int, int], str], untyped: dict[tuple[str, int], int]
) -> None:
    """Refuse a mixed-size access in a reached execution: an access whose size is not its
    cell's declared size, or two sizes on one untyped cell (``untyped`` keeps the first
    seen).  The machine holds one value per cell; herd rejects such tests outside
    ``-variant mixed`` (the axiomatic engine says "mixed-size; not supported")."""
    m = t.machine
    for ti, th in enumerate(state.threads):
        window = m.execute.windows[ti]
        span = m.layout.path_of(ti, th.pc)
        if window is None or span is None:
            continue
        for j in range(span.start, span.stop):
            instr = window.instrs[j]
            width = t.widths.get((instr.line, instr.column))
            if instr.op not in ("LDR", "STR") or width is None:
                continue
            where = m.execute.where(th, ti, j, instr)
            if where is None:
                continue
            cell = _cell(names[where])
            ctype = t.layout.cell_types[cell]
            size = untyped.setdefault(cell, width) if ctype.default else ctype.size
            if size != width:
                where_text = cell[0] if not cell[1] else f"{cell[0]}+{cell[1]}"
                raise _refuse(
                    t.test, f"{width}-byte access to {size}-byte location {where_text} (mixed-size)",
                    instr.line, instr.column,
                )


def outcomes(
    t: Translated, budget: Budget = Budget()
) -> tuple[dict[tuple[str, ...], FinalState], dict[tuple[str, ...], int], bool]:
    """Every final state the machine reaches (as herd prints it), how many executions
    (herd's candidate executions: paths, read-from and coherence order) end in each,
    and whether the search was complete."""
    if t.no_paths:
        return {}, {}, True
    m = t.machine
    found: dict[tuple[str, ...], FinalState] = {}

    def final(state: State) -> bool:
        _check_addresses(t, state)
        return m.is_complete(state) and not any(state.bufs)

    names = {where: name for name, where in m.layout.locations.items()}
    untyped: dict[tuple[str, int], int] = {}

    def project(state: State) -> tuple[tuple[str, ...], object]:
        _check_sizes(t, state, names, untyped)
        fs = final_state(t, state)
        key = t.evaluator.state(fs)
        found.setdefault(key, fs)
        return key, execution(t, state)

    result = collect(m, final, project, budget)
    counts: dict[tuple[str, ...], int] = {}
    for value in result.values:
        assert isinstance(value, tuple)
        counts[value[0]] = counts.get(value[0], 0) + 1
    return {k: found[k] for k in counts}, counts, result.complete


def check(test: ast.LitmusTest, budget: Budget = Budget()) -> CheckResult:
    """The machine engine's result for ``test``, in the axiomatic engine's form: the
    witness counts are herd's, counts of executions (machine/rfco.py), each reached
    as a final state of the exploration."""
    start = time.perf_counter()
    t = translate(test)
    states, counts, complete = outcomes(t, budget)
    if not complete:
        raise _refuse(test, "the machine's search did not finish within its budget")
    ev = t.evaluator
    p_true = sum(n for k, n in counts.items() if ev.holds(ev.prop, states[k]))
    p_false = sum(counts.values()) - p_true
    positive, negative = (p_false, p_true) if ev.quantifier == "~exists" else (p_true, p_false)
    cut = t.no_paths or any(e is not None and e.cut for e in t.machine.layout.elaborated)
    return CheckResult(
        name=test.name,
        path=test.path,
        quantifier=ev.quantifier,
        condition=ev.prop,
        array_names=frozenset(t.layout.arrays),
        columns=[o.text for o in ev.columns],
        states=sorted(states),
        positive=positive,
        negative=negative,
        p_true=p_true,
        p_false=p_false,
        loop=cut,
        elapsed=time.perf_counter() - start,
        executions=sum(counts.values()),
        state_counts=counts,
    )
