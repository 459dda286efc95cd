"""Control flow, register arithmetic and atomics, elaborated into straight-line paths.

A thread's program may branch (``B``, ``B.cond``, ``CBZ``/``CBNZ``), compute
(``MOV``, ``ADD``, ``SUB``, ``EOR``, ``AND``, ``ORR``, ``CMP``, ``CSEL``),
address memory through registers (``LDR r2, [r1]``, ``[r1, r2]``) and make
atomic accesses (``CAS``, ``SWP``, ``LDADD``, ``LDXR``/``STXR``).  Each
instruction's effect is defined here, once, for both notations that reach the
engine (the machine's own program text and herd litmus tests).

The engine executes *paths*: straight-line sequences of loads, stores,
barriers and ``ASSUME`` checks.  A conditional branch whose condition reads a
load becomes a fork: one path assumes it taken, the other not taken, each with
an ``ASSUME`` that the thread can only execute when the condition, evaluated
on the values its loads returned, agrees.  A path is a *guess* made up front,
like the branch predictor of Flat's speculative thread subsystem (Pulte et al.,
POPL 2018); a wrong guess is an execution that cannot finish, and the right one
is another path.  Instructions after a branch may execute before it is
resolved, except what the Arm ARM orders after it (``machine/ordering.py``:
B2.3.6 control dependencies order later stores, and loads only through an
``ISB``).  A ``CSEL`` on a loaded value forks the same way with a *pick*
``ASSUME`` (herd's pick dependencies, aarch64deps.cat); so do the outcomes of
``CAS`` (success, failure) and of a store-exclusive (herd lets it fail at
will: Arm ARM B2.9.5 Load-Exclusive and Store-Exclusive instruction usage
restrictions, a store-exclusive may fail for IMPLEMENTATION DEFINED reasons).

Registers are renamed (each load writes a fresh slot, ``r1``, ``r1'2``, ...),
so out-of-order execution needs no write-after-read bookkeeping, and every
other register value is an expression over load slots (``regexpr.py``).

Loops are unrolled: a backward branch is taken at most ``unroll`` times on a
path (herd7's ``-unroll``, default 2); a path that would take it again is not
explored, and ``Elaborated.cut`` says so, for the verdict to state.  As in herd,
a conditional branch whose condition reads neither a load nor a store-exclusive's
status is followed to the loop's end (up to ``CONCRETE_LOOPS`` backward branches).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from stalecheck.errors import Position, UnsupportedError
from stalecheck.machine import regexpr as rx
from stalecheck.machine.isa import ACQUIRE, ACQUIRE_PC, RELEASE, Instr

UNROLL = 2  # herd7's default -unroll
# Backward branches a path may take on concrete conditions (followed, as herd does, not
# bounded by ``unroll``); past this the path is cut like an unrolled one.
CONCRETE_LOOPS = 1000
MAX_PATHS = 512  # beyond this a program is refused (every path is explored)

# ``Instr.flags`` of elaborated loads and stores.
RMW_READ = 1  # the read of an atomic pair whose write is on the path (needs a reservation)
RMW_WRITE = 2  # the write of an atomic pair: propagates only if no other observer wrote between
NORET = 4  # a read whose value no register receives (herd's NoRet): DMB LD does not order it
AMO_AL = 8  # the write of an acquire-release atomic: ordered before every later access
EXCLUSIVE = 16  # from LDXR/STXR (for the witness only)
ATOMIC_READ = 32  # the read of an atomic instruction (CAS, SWP, LDADD)
# The second read or write of a CASP: its own instruction's acquire or release does not
# order it after the first (herd: one instruction's effects are not in po; C6.2.54 orders
# the pair's accesses only with other instructions' accesses).
PAIR_SECOND = 64

# Narrow accesses (bytes -> the extend that keeps them): a store keeps the low bytes, a
# signed load sign-extends them (LDRSB/LDRSH/LDRSW), an unsigned one reads the cell.
_ZERO_EXTEND = {1: "UXTB", 2: "UXTH"}
_SIGN_EXTEND = {1: "SXTB", 2: "SXTH", 4: "SXTW"}

# Extends of a register operand (``Operand.ext``), then shifted left by ``amount``.
EXTENDS = ("SXTW", "UXTW", "SXTB", "UXTB", "SXTH", "UXTH", "SXTX", "UXTX")

# Kinds of ``ASSUME``.
BRANCH = "B"  # a conditional branch: a control dependency for what follows
PICK = "P"  # a CSEL or CAS outcome: a pick dependency only through the picked value


class Operand(NamedTuple):
    """A source operand: a register (``kind="reg"``), an immediate (``"imm"``) or the
    address of a location (``"loc"``); ``ext`` is an extend/shift of a register
    (``SXTW``, ``UXTW``, ``LSL``) with its amount."""

    kind: str
    name: str = ""
    value: int = 0
    ext: str = ""
    amount: int = 0


class Address(NamedTuple):
    """``[base]``, ``[base, offset]`` or a bare location (base of kind ``"loc"``); with
    ``writeback`` the base register is updated after the access: to the address used
    (pre-index, ``[base, #imm]!``) or to base plus ``post`` (post-index, ``[base], #imm``)."""

    base: Operand
    offset: Operand | None = None
    writeback: bool = False
    post: int = 0


class Src(NamedTuple):
    """One instruction before elaboration.  ``op`` and ``args``:

    - ``MOV (rd, src)``, ``ALU (op, rd, rn, src)``, ``CMP (rn, src)``,
      ``MAC (product, combine, rd, rn, rm, ra)`` (multiply-accumulate),
      ``CSEL (rd, rn, rm, cond)``, ``MRS_NZCV (rd,)``, ``MSR_NZCV (rn,)``;
    - ``B (cond, label)`` (``cond`` "" for always), ``CBZ (reg, label, nonzero)``,
      ``LABEL (name,)``;
    - ``LD (rd, address, order, exclusive[, size, signed[, non_temporal]])`` with ``order``
      one of "", "A", "Q", ``size`` in bytes for a narrow load (``LDRB``, ``LDRSH``: 1, 2,
      4), and ``non_temporal`` for a read of ``LDNP``;
    - ``ST (src, address, release[, size])``, ``STX (status, src, address, release)``;
    - ``CAS (rs, rt, address, acquire, release)``, ``SWP (rs, rt, address, acquire, release)``,
      ``LDOP (op, rs, rt, address, acquire, release)``,
      ``CASP (rs1, rs2, rt1, rt2, address, acquire, release)``;
    - ``INSTR (instr,)``: any other machine instruction, kept as it is.
    """

    op: str
    args: tuple[Any, ...]
    text: str = ""
    line: int = 0
    column: int = 0
    source: str = ""


@dataclass(frozen=True)
class Path:
    """One straight-line path and the value of each register at its end."""

    code: tuple[Instr, ...]
    final: tuple[tuple[str, rx.Expr], ...]


@dataclass(frozen=True)
class Elaborated:
    paths: tuple[Path, ...]
    cut: bool  # some path took a backward branch more than ``unroll`` times
    unroll: int
    loops: bool  # the program has a backward branch


@dataclass
class _Walk:
    """The symbolic state of one path being elaborated."""

    pc: int = 0
    regs: dict[str, rx.Expr] = field(default_factory=dict)
    # The last flag-setting instruction: kind (SUB, ADD, AND), width and operands.
    flags: tuple[str, int, rx.Expr, rx.Expr] | None = None
    out: list[Instr] = field(default_factory=list)
    defs: dict[str, int] = field(default_factory=dict)  # register -> definitions so far
    picks: int = 0
    monitor: tuple[int, str] | None = None  # (index in out, location) of the last load-exclusive
    taken: dict[int, int] = field(default_factory=dict)
    # Registers (and "NZCV") holding a store-exclusive's status, or computed from one: a
    # choice, not a constant, for loop unrolling (herd's CHOICE, axiomatic/machine.py).
    chosen: set[str] = field(default_factory=set)
    concrete: int = 0  # backward branches taken on concrete conditions (not unroll-bounded)
    reads_chosen: bool = False  # the instruction being elaborated reads a chosen register

    def fork(self) -> _Walk:
        return _Walk(
            self.pc, dict(self.regs), self.flags, list(self.out), dict(self.defs), self.picks,
            self.monitor, dict(self.taken), set(self.chosen), self.concrete, self.reads_chosen,
        )


def _narrow(value: rx.Expr) -> rx.Expr:
    """A W register's view of a value: its low 32 bits.  Only a literal constant is
    computed here; anything read from a load keeps its form, so that the loads it
    depends on stay visible (B2.3.6: a dependency is syntactic, ``EOR W2,W1,W1``
    carries one although its value is always 0)."""
    if value[0] == "c":
        return rx.const(value[1] & 0xFFFFFFFF)
    if value[0] == "MASK":
        return value
    return rx.binary("MASK", 32, value, rx.const(0))


def from_instr(instr: Instr) -> Src:
    """A plain machine instruction as an element of a program with paths: loads and
    stores by location become ``LD``/``ST`` (their registers take part in renaming);
    anything else is kept as it is."""
    where = (instr.text, instr.line, instr.column, instr.source)
    if instr.op == "LDR":
        order = {ACQUIRE: "A", ACQUIRE_PC: "Q"}.get(instr.kind, "")
        return Src("LD", (instr.reg, Address(Operand("loc", instr.loc)), order, False), *where)
    if instr.op == "STR":
        value = Operand("reg", instr.reg) if instr.reg else Operand("imm", value=instr.value)
        return Src("ST", (value, Address(Operand("loc", instr.loc)), instr.kind == RELEASE), *where)
    return Src("INSTR", (instr,), *where)


def slot_name(reg: str, n: int) -> str:
    """The slot of the ``n``-th write of register ``reg`` on a path: the first keeps the
    register's name, the later ones are ``reg'2``, ``reg'3``, ..."""
    return reg if n == 1 else f"{reg}'{n}"


def architectural(slot: str) -> str:
    """The register a slot renames (``r1'2`` -> ``r1``): what a witness names."""
    return slot.split("'", 1)[0]


Writes = dict[str, tuple[tuple[int, str], ...]]  # register -> its writes (program index, slot)


def rename_plain(program: Sequence[Instr]) -> tuple[tuple[Instr, ...], Writes]:
    """Static renaming of a straight-line program of plain instructions (a builder thread
    without register arithmetic or branches): each register write (``LDR``, ``EXEC``) gets
    a slot of its own, and a ``STR loc, r1`` reads the slot of the program-order-latest
    earlier write of ``r1``: B2.3.1 Local register read successor (a Register Read Effect
    reads the program-order-latest earlier Register Write Effect to that register, with no
    write between), on which B2.3.6's Dependency through registers and memory builds.  So
    out-of-order execution (``ordering.Window``) never lets an older write's value replace
    a newer one.
    The text keeps the architectural name, for witnesses.  Also returns, for each register
    written more than once, its writes in program order: (index, slot)."""
    current: dict[str, str] = {}
    writes: dict[str, list[tuple[int, str]]] = {}
    out: list[Instr] = []
    for j, instr in enumerate(program):
        if instr.op in ("LDR", "EXEC") and instr.reg:
            seen = writes.setdefault(instr.reg, [])
            slot = slot_name(instr.reg, len(seen) + 1)
            seen.append((j, slot))
            current[instr.reg] = slot
            if slot != instr.reg:
                instr = replace(instr, reg=slot, text=str(instr))
        elif instr.op == "STR" and instr.reg and current.get(instr.reg, instr.reg) != instr.reg:
            instr = replace(instr, reg=current[instr.reg], text=str(instr))
        out.append(instr)
    return tuple(out), {reg: tuple(w) for reg, w in writes.items() if len(w) > 1}


def width_of(name: str) -> int:
    """A litmus test's W registers are 32 bits, its X registers 64; the machine
    notation's registers (lower case: ``r1``, ``x1``, ``w1``) have no width."""
    return 32 if name[:1] == "W" else 64


def canonical(name: str) -> str:
    """A litmus test's ``W3``/``X3`` -> ``X3`` (one architectural register), ``WZR``/``XZR``
    -> ``XZR``; the machine notation's registers stay as written (``r1``, ``x1`` and
    ``w1`` are three registers there, docs/notation.md)."""
    if name.upper() in ("WZR", "XZR"):
        return "XZR"
    if name[:1] in ("W", "X") and (name[1:].isdigit() or name[1:2] == "%"):
        return "X" + name[1:]  # also a litmus test's symbolic ``W%x``/``X%x``
    return name


class Elaborator:
    """Elaborates one thread's ``Src`` program (see the module doc).

    ``locations`` gives each location its value as an address (what ``ADR`` or an
    initial ``X1=x`` puts in a register); ``initial`` the registers' initial values."""

    def __init__(
        self,
        program: list[Src],
        locations: dict[str, int],
        initial: dict[str, int] | None = None,
        unroll: int = UNROLL,
        where: str = "<program>",
    ) -> None:
        self.program = program
        self.locations = locations
        self.by_value = {v: k for k, v in locations.items()}
        self.initial = {canonical(k): v for k, v in (initial or {}).items()}
        self.unroll = unroll
        self.where = where
        self.labels: dict[str, int] = {}
        for i, src in enumerate(program):
            if src.op == "LABEL":
                self.labels[src.args[0]] = i
        self.loops = False
        self.cut = False

    # ---- errors ---------------------------------------------------------------

    def refuse(self, src: Src, why: str) -> UnsupportedError:
        return UnsupportedError(
            f"not expressible in the machine engine: {why}",
            Position(src.source or self.where, src.line, src.column),
        )

    # ---- registers ------------------------------------------------------------

    def read(self, w: _Walk, name: str) -> rx.Expr:
        reg = canonical(name)
        if reg == "XZR":
            return rx.const(0)
        value = w.regs.get(reg)
        if value is None:
            value = rx.const(self.initial.get(reg, 0))
        return _narrow(value) if width_of(name) == 32 else value

    def write(self, w: _Walk, name: str, value: rx.Expr) -> None:
        reg = canonical(name)
        if reg == "XZR":
            return
        w.regs[reg] = _narrow(value) if width_of(name) == 32 else value

    def slot(self, w: _Walk, name: str) -> str:
        """A fresh register slot for a load into ``name`` (renaming)."""
        reg = canonical(name)
        n = w.defs.get(reg, 0) + 1
        w.defs[reg] = n
        return slot_name(reg, n)

    def operand(self, w: _Walk, op: Operand, width: int, src: Src) -> rx.Expr:
        if op.kind == "imm":
            return rx.const(op.value)
        if op.kind == "loc":
            if op.name not in self.locations:
                raise self.refuse(src, f"unknown location {op.name!r}")
            return rx.const(self.locations[op.name])
        value = self.read(w, op.name)
        if op.ext in ("LSR", "ASR", "ROR"):  # C6.2 shifted-register forms: at the operation's width
            return rx.binary(op.ext, width, value, rx.const(op.amount))
        if op.ext in EXTENDS:  # C6.2 extended-register forms: extend, then shift left
            value = rx.binary(op.ext, 64, value, rx.const(0))
        if op.amount or op.ext == "LSL":
            value = rx.binary("LSL", 64, value, rx.const(op.amount))
        return value

    # ---- addresses ----------------------------------------------------------------

    def address(self, w: _Walk, addr: Address, src: Src) -> tuple[str, rx.Expr]:
        """The location an access goes to when it is fixed, else "", and the address
        expression (whose loads are the access's address dependencies, B2.3.6)."""
        if addr.writeback and not addr.offset:  # post-index: the access uses the base
            addr = Address(addr.base)
        if addr.base.kind == "loc" and addr.offset is None:
            if addr.base.name not in self.locations:
                raise self.refuse(src, f"unknown location {addr.base.name!r}")
            return addr.base.name, ()
        base = self.operand(w, addr.base, 64, src)
        if addr.offset is not None:
            base = rx.binary("ADD", 64, base, self.operand(w, addr.offset, 64, src))
        expr = base
        value = rx.constant(expr)
        if value is None:
            return "", expr
        loc = self.by_value.get(value)
        if loc is None:
            raise self.refuse(src, f"address {value:#x} is not the start of a location")
        return loc, expr

    # ---- emitting -------------------------------------------------------------------

    def emit(self, w: _Walk, src: Src, op: str, **kw: object) -> Instr:
        instr = Instr(op, text=src.text, line=src.line, column=src.column, source=src.source, **kw)  # type: ignore[arg-type]
        w.out.append(instr)
        return instr

    def load(self, w: _Walk, src: Src, rd: str, addr: Address, order: str, flags: int) -> str:
        loc, expr = self.address(w, addr, src)
        slot = self.slot(w, rd)
        kind = {"A": ACQUIRE, "Q": ACQUIRE_PC}.get(order, "")
        if canonical(rd) == "XZR":
            flags |= NORET
        self.emit(w, src, "LDR", kind=kind, loc=loc, reg=slot, addr=expr, flags=flags)
        self.write(w, rd, rx.reg(slot))
        return slot

    def store(
        self, w: _Walk, src: Src, addr: Address, data: rx.Expr, release: bool, flags: int,
        width: int = 64,
    ) -> None:
        loc, expr = self.address(w, addr, src)
        if width == 32:
            data = _narrow(data)
        kind = RELEASE if release else ""
        if data[0] == "c":  # a constant store, as before
            self.emit(w, src, "STR", kind=kind, loc=loc, value=data[1], addr=expr, flags=flags)
        else:
            self.emit(w, src, "STR", kind=kind, loc=loc, data=data, addr=expr, flags=flags)

    def assume(self, w: _Walk, src: Src, cond: rx.Expr, kind: str) -> str:
        name = ""
        if kind == PICK:
            w.picks += 1
            name = f"?{w.picks}"
        self.emit(w, src, "ASSUME", kind=kind, reg=name, data=cond)
        return name

    # ---- the walk -------------------------------------------------------------------------

    def elaborate(self) -> Elaborated:
        done: list[Path] = []
        stack = [_Walk(regs={})]
        while stack:
            w = stack.pop()
            while w.pc < len(self.program):
                src = self.program[w.pc]
                forks = self.step(w, src)
                if forks is None:  # the path is infeasible or cut
                    break
                stack.extend(forks)
                if len(done) + len(stack) > MAX_PATHS:
                    raise self.refuse(src, f"more than {MAX_PATHS} paths through the program")
            else:
                regs = dict(w.regs)
                for reg, value in self.initial.items():
                    regs.setdefault(reg, rx.const(value))
                done.append(Path(tuple(w.out), tuple(sorted(regs.items()))))
        return Elaborated(tuple(reversed(done)), self.cut, self.unroll, self.loops)

    def jump(self, w: _Walk, label: str, src: Src, bounded: bool = True) -> bool:
        """Move to ``label``; False when that exceeds the unrolling limit.  A conditional
        branch on concrete values (``bounded`` False) is followed to the loop's end, as
        herd does, up to ``CONCRETE_LOOPS`` backward branches a path."""
        dest = self.labels.get(label)
        if dest is None:
            raise self.refuse(src, f"label {label} not found")
        if dest <= w.pc and not bounded:
            self.loops = True
            w.concrete += 1
            if w.concrete > CONCRETE_LOOPS:
                self.cut = True
                return False
        elif dest <= w.pc:
            self.loops = True
            taken = w.taken.get(w.pc, 0) + 1
            if taken > self.unroll:
                self.cut = True
                return False
            w.taken[w.pc] = taken
        w.pc = dest
        return True

    def branch(self, w: _Walk, src: Src, cond: rx.Expr, label: str) -> list[_Walk] | None:
        """A conditional branch: follow it when its condition reads no load, else fork."""
        data, picks = rx.dependencies(cond)
        value = rx.constant(cond)
        if not data and not picks:
            if value:
                return [] if self.jump(w, label, src, bounded=w.reads_chosen) else None
            w.pc += 1
            return []
        forks: list[_Walk] = []
        if value is None or value == 0:  # not taken
            other = w.fork()
            self.assume(other, src, rx.negate(cond), BRANCH)
            other.pc += 1
            forks.append(other)
        if value is None or value != 0:  # taken
            self.assume(w, src, cond, BRANCH)
            if self.jump(w, label, src):
                forks.append(w)
        if not forks:
            return None
        first = forks.pop()
        if first is not w:  # continue with one of them in place
            w.__dict__.update(first.__dict__)
        return forks

    def step(self, w: _Walk, src: Src) -> list[_Walk] | None:
        """Elaborate one instruction; returns further paths to explore, or None when this
        one ends here (infeasible or cut)."""
        op = src.op
        if op == "LABEL":
            w.pc += 1
            return []
        w.reads_chosen = bool(w.chosen) and bool(w.chosen & _reads(src))
        if op in _CHOICE_FLOW:
            regs, flags = dict(w.regs), w.flags
            self.step_data(w, src)
            for reg, value in w.regs.items():
                if regs.get(reg) != value:
                    (w.chosen.add if w.reads_chosen else w.chosen.discard)(reg)
            if w.flags != flags:
                (w.chosen.add if w.reads_chosen else w.chosen.discard)("NZCV")
            w.pc += 1
            return []
        return self.step_other(w, src)

    def step_data(self, w: _Walk, src: Src) -> None:
        """Register arithmetic and flag setting (``_CHOICE_FLOW``)."""
        op, a = src.op, src.args
        if op == "MOV":
            rd, s = a
            self.write(w, rd, self.operand(w, s, width_of(rd), src))
        elif op == "ALU":
            name, rd, rn, s = a[:4]
            width = width_of(rd)
            x, y = self.read(w, rn), self.operand(w, s, width, src)
            if len(a) > 4 and a[4]:  # ADDS, SUBS, ANDS, BICS: also set the flags
                w.flags = ({"ADD": "ADD", "SUB": "SUB"}.get(name, "AND"), width, x, y)
                if name == "BIC":
                    w.flags = ("AND", width, x, rx.binary("NOT", width, y, rx.const(0)))
            if name in ("BIC", "ORN", "EON"):  # with the second operand inverted
                y = rx.binary("NOT", width, y, rx.const(0))
                name = {"BIC": "AND", "ORN": "ORR", "EON": "EOR"}[name]
            self.write(w, rd, rx.binary(name, width, x, y))
        elif op == "MAC":  # multiply-accumulate: rd = ra (+|-) (rn * rm), C6.2 MADD, SMSUBL, ...
            product, combine, rd, rn, rm, ra = a
            width = width_of(rd)
            mul = rx.binary(product, width, self.read(w, rn), self.read(w, rm))
            self.write(w, rd, rx.binary(combine, width, self.read(w, ra), mul))
        elif op == "MOVK":  # insert 16 bits, keep the rest (C6.2 MOVK)
            rd, imm, shift = a
            width = width_of(rd)
            keep = rx.binary("AND", width, self.read(w, rd), rx.const(~(0xFFFF << shift)))
            self.write(w, rd, rx.binary("ORR", width, keep, rx.const((imm & 0xFFFF) << shift)))
        elif op == "CMP":
            rn, s = a[:2]
            kind = a[2] if len(a) > 2 else "SUB"
            w.flags = (kind, width_of(rn), self.read(w, rn), self.operand(w, s, width_of(rn), src))
        elif op == "MRS_NZCV":  # MRS Xt, NZCV: N, Z, C, V in bits 31..28 (C5.2 NZCV)
            if w.flags is None:
                raise self.refuse(src, "reading the flags before any instruction sets them")
            kind, width, x, y = w.flags
            bits = [rx.binary("LSL", 64, rx.flags_cond(c, width, x, y, kind), rx.const(31 - k))
                    for k, c in enumerate(("MI", "EQ", "CS", "VS"))]
            value = bits[0]
            for b in bits[1:]:
                value = rx.binary("ORR", 64, value, b)
            self.write(w, a[0], value)
        elif op == "MSR_NZCV":  # MSR NZCV, Xt: the flags from bits 31..28 of Xt (C5.2 NZCV)
            w.flags = ("NZCV", 64, self.read(w, a[0]), rx.const(0))

    def step_other(self, w: _Walk, src: Src) -> list[_Walk] | None:
        """Every instruction but register arithmetic (see ``step``)."""
        op, a = src.op, src.args
        if op == "INSTR":
            if a[0].op != "NOP":  # no effect, and a step less to interleave
                w.out.append(a[0])
        elif op == "CSEL":
            return self.csel(w, src)
        elif op == "B":
            cond, label = a
            if not cond:
                return [] if self.jump(w, label, src) else None
            if w.flags is None:
                raise self.refuse(src, "a conditional branch before any CMP")
            kind, width, x, y = w.flags
            return self.branch(w, src, rx.flags_cond(cond, width, x, y, kind), label)
        elif op == "CBZ":
            reg, label, nonzero = a
            cond = rx.flags_cond("NE" if nonzero else "EQ", width_of(reg), self.read(w, reg), rx.const(0))
            return self.branch(w, src, cond, label)
        elif op == "TBZ":  # test one bit and branch (C6.2 TBZ/TBNZ)
            reg, bit, label, nonzero = a
            value = rx.binary("TBIT", 64, self.read(w, reg), rx.const(bit))
            cond = rx.flags_cond("NE" if nonzero else "EQ", 64, value, rx.const(0))
            return self.branch(w, src, cond, label)
        elif op == "LD":
            rd, addr, order, exclusive = a[:4]
            size, signed = (a[4], a[5]) if len(a) > 4 else (0, False)
            if len(a) > 6 and a[6]:
                self._non_temporal(w, addr, src)
            base = self._base(w, addr, src)
            slot = self.load(w, src, rd, addr, order, EXCLUSIVE if exclusive else 0)
            if signed:  # LDRSB/LDRSH/LDRSW: sign-extend the byte, halfword or word (C6.2)
                self.write(w, rd, rx.binary(_SIGN_EXTEND[size], width_of(rd), rx.reg(slot), rx.const(0)))
            if exclusive:
                w.monitor = (len(w.out) - 1, w.out[-1].loc)
            self._writeback(w, addr, base, src)
        elif op == "ST":
            s, addr, release = a[:3]
            size = a[3] if len(a) > 3 else 0
            width = width_of(s.name) if s.kind == "reg" else 64
            base = self._base(w, addr, src)
            data = self.operand(w, s, width, src)
            if size in _ZERO_EXTEND:  # STRB/STRH: the low byte or halfword (C6.2)
                data = rx.binary(_ZERO_EXTEND[size], 64, data, rx.const(0))
            self.store(w, src, addr, data, release, 0, width)
            self._writeback(w, addr, base, src)
        elif op == "STX":
            return self.store_exclusive(w, src)
        elif op in ("CAS", "SWP", "LDOP"):
            return self.atomic(w, src)
        elif op == "CASP":
            return self.cas_pair(w, src)
        else:
            raise self.refuse(src, f"instruction {src.text or op}")
        w.pc += 1
        return []

    def _non_temporal(self, w: _Walk, addr: Address, src: Src) -> None:
        """C3.2.5: "If an address dependency exists between two memory reads, and a Load
        Non-temporal Pair instruction generated the second read, then in the absence of any
        other barrier mechanism to achieve order, the memory accesses can be observed in
        any order".  The window cannot satisfy a read before its address is known (that
        needs Flat's value speculation), so such an LDNP is refused, never ordered."""
        _, expr = self.address(w, addr, src)
        data, picks = rx.dependencies(expr)
        if data or picks:
            raise self.refuse(src, "an LDNP whose address depends on a load (C3.2.5 lets its read "
                                   "pass that load, which the machine does not model)")

    def _base(self, w: _Walk, addr: Address, src: Src) -> rx.Expr | None:
        """The base register's value before the access, when the access writes it back."""
        return self.operand(w, addr.base, 64, src) if addr.writeback else None

    def _writeback(self, w: _Walk, addr: Address, base: rx.Expr | None, src: Src) -> None:
        """Pre- and post-indexed addressing write the base register after the access
        (C6.2 LDR/STR (immediate)); the new value depends on what the base depended on."""
        if base is None:
            return
        step = self.operand(w, addr.offset, 64, src) if addr.offset is not None else rx.const(addr.post)
        self.write(w, addr.base.name, rx.binary("ADD", 64, base, step))

    def csel(self, w: _Walk, src: Src) -> list[_Walk] | None:
        """CSEL, CSINC, CSINV, CSNEG (C6.2): the first source if the condition holds,
        else the second, incremented, inverted or negated."""
        rd, rn, rm, cond_code = src.args[:4]
        variant = src.args[4] if len(src.args) > 4 else "CSEL"
        width = width_of(rd)

        def otherwise(b: _Walk) -> rx.Expr:
            value = self.read(b, rm)
            if variant == "CSINC":
                return rx.binary("ADD", width, value, rx.const(1))
            if variant == "CSINV":
                return rx.binary("NOT", width, value, rx.const(0))
            if variant == "CSNEG":
                return rx.binary("SUB", width, rx.const(0), value)
            return value

        if w.flags is None:
            raise self.refuse(src, "CSEL before any CMP")
        kind, width, x, y = w.flags
        cond = rx.flags_cond(cond_code, width, x, y, kind)
        data, picks = rx.dependencies(cond)
        value = rx.constant(cond)
        if not data and not picks:
            self.write(w, rd, self.read(w, rn) if value else otherwise(w))
            w.pc += 1
            return []
        forks: list[_Walk] = []
        for holds in (True, False):
            if value is not None and bool(value) != holds:
                continue
            branch = w.fork()
            name = self.assume(branch, src, cond if holds else rx.negate(cond), PICK)
            chosen = self.read(branch, rn) if holds else otherwise(branch)
            self.write(branch, rd, rx.pick(name, chosen))
            branch.pc += 1
            forks.append(branch)
        first = forks.pop()
        w.__dict__.update(first.__dict__)
        return forks

    def store_exclusive(self, w: _Walk, src: Src) -> list[_Walk] | None:
        """STXR: fails at will (status 1, no write), or succeeds (status 0) when the last
        load-exclusive of the path was to the same location: herd's ``lxsx``, Arm ARM
        B2.9.2 Exclusive access instructions and the monitors.  The status register
        carries no dependency (herd: a choice, not a read)."""
        status, s, addr, release = src.args
        loc, _ = self.address(w, addr, src)
        fail = w.fork()
        self.write(fail, status, rx.const(1))
        fail.chosen.add(canonical(status))
        fail.monitor = None
        fail.pc += 1
        forks = [fail]
        monitor = w.monitor
        w.monitor = None
        if monitor is not None and loc and monitor[1] == loc:
            index, _ = monitor
            read = w.out[index]
            w.out[index] = replace(read, flags=read.flags | RMW_READ)
            width = width_of(s.name) if s.kind == "reg" else 64
            self.store(w, src, addr, self.operand(w, s, width, src), release, RMW_WRITE | EXCLUSIVE, width)
            self.write(w, status, rx.const(0))
            w.chosen.add(canonical(status))
            w.pc += 1
            return forks
        if monitor is not None and not loc:
            raise self.refuse(src, "a store-exclusive to an address computed at run time")
        w.__dict__.update(fail.__dict__)
        return []

    def atomic(self, w: _Walk, src: Src) -> list[_Walk] | None:
        """CAS, SWP and LDADD-style atomics: a read and a write of one location with no
        other observer's write between them (B2.2.1 Requirements for single-copy
        atomicity; herd's ``atomic`` axiom and ``rmw``).  Their register results and
        dependencies follow herd's AArch64 semantics (AArch64Sem.ml ``swp``, ``cas``,
        ``ldop``), as the axiomatic engine reads them (axiomatic/isa_memory.py)."""
        op = src.op
        if op == "LDOP":
            name, rs, rt, addr, acquire, release = src.args
        else:
            rs, rt, addr, acquire, release = src.args
            name = ""
        dest = rs if op == "CAS" else rt
        noret = canonical(dest) == "XZR"
        order = "A" if acquire and not noret else ""
        width = width_of(rs)
        loc, _ = self.address(w, addr, src)
        if op == "CAS":
            return self.cas(w, src, rs, rt, addr, order, release, noret, width)
        s_value = self.read(w, rs)
        slot = self.slot(w, f"{canonical(dest)}.mem" if noret else dest)
        flags = ATOMIC_READ | RMW_READ | (NORET if noret else 0)
        kind = ACQUIRE if order == "A" else ""
        aloc, aexpr = self.address(w, addr, src)
        self.emit(w, src, "LDR", kind=kind, loc=aloc, reg=slot, addr=aexpr, flags=flags)
        old = rx.reg(slot)
        data = s_value if op == "SWP" else rx.binary(name, width, old, s_value)
        wflags = RMW_WRITE | (AMO_AL if order == "A" and release else 0)
        self.store(w, src, addr, data, release, wflags, width)
        if not noret:
            self.write(w, dest, old)
        del loc
        w.pc += 1
        return []

    def cas(
        self, w: _Walk, src: Src, rs: str, rt: str, addr: Address, order: str, release: bool,
        noret: bool, width: int,
    ) -> list[_Walk] | None:
        """CAS Rs, Rt, [Xn]: read; if equal to Rs, write Rt.  Four paths, as herd has
        them (AArch64Sem.ml ``cas``, the axiomatic engine's ``_compare_and_swap``):
        success with Rs rewritten from the memory read (data dependency on it),
        success with Rs rewritten from its own value (data from Rs, pick on the read),
        failure without a write, and failure writing back the value read (an atomic
        read and write, a release for CASL/CASAL).  The write-back rewrites the value
        the location already holds with no other write between, so it adds no final
        state, but it is an execution of its own that herd counts (litmus_machine.py).
        Arm ARM C6.2 CAS: "If the comparison is not equal, the architecture permits
        writing the value read from the location to memory", atomically."""
        compare = self.read(w, rs)
        new = self.read(w, rt)
        aloc, aexpr = self.address(w, addr, src)
        kind = ACQUIRE if order == "A" else ""
        forks: list[_Walk] = []
        for outcome in ("fail", "fail-write-back", "from-register", "from-memory"):
            b = w.fork()
            slot = self.slot(b, f"{canonical(rs)}.mem" if noret else rs)
            flags = ATOMIC_READ | (NORET if noret else 0) | (0 if outcome == "fail" else RMW_READ)
            self.emit(b, src, "LDR", kind=kind, loc=aloc, reg=slot, addr=aexpr, flags=flags)
            old = rx.reg(slot)
            equal = rx.flags_cond("EQ", width, old, compare)
            if outcome == "fail":
                self.assume(b, src, rx.negate(equal), PICK)
                self.write(b, rs, old)
            elif outcome == "fail-write-back":
                name = self.assume(b, src, rx.negate(equal), PICK)
                wflags = RMW_WRITE | (AMO_AL if order and release else 0)
                self.store(b, src, addr, rx.pick(name, old), release, wflags, width)
                self.write(b, rs, old)
            else:
                name = self.assume(b, src, equal, PICK)
                wflags = RMW_WRITE | (AMO_AL if order and release else 0)
                self.store(b, src, addr, rx.pick(name, new), release, wflags, width)
                self.write(b, rs, rx.pick(name, compare) if outcome == "from-register" else old)
            b.pc += 1
            forks.append(b)
        first = forks.pop()
        w.__dict__.update(first.__dict__)
        return forks

    def cas_pair(self, w: _Walk, src: Src) -> list[_Walk] | None:
        """CASP Rs1, Rs2, Rt1, Rt2, [Xn] (C6.2.54): read the pair of cells at Xn; if both
        equal Rs1, Rs2, write Rt1, Rt2; if not, "the architecture permits writing the
        value read", and "if the writes are performed, the reads and writes occur
        atomically".  As herd builds it (AArch64Sem.ml ``casp``; the axiomatic engine's
        ``_compare_and_swap``): an atomic read and write per cell, each with its own
        reservation (machine/atomic.py) and the four outcomes of ``cas``, one pick on
        both comparisons; a value written or returned depends on both reads.  herd does
        not make the two writes one single-copy atomic access, so neither does this: a
        weaker model than a 2 x 64-bit single-copy atomic pair, never a stronger one."""
        rs1, rs2, rt1, rt2, addr, acquire, release = src.args
        width = width_of(rs1)
        if addr.writeback or addr.post or (addr.offset is not None and addr.offset.kind != "imm"):
            raise self.refuse(src, "addressing mode")
        at = addr.offset.value if addr.offset is not None else 0
        cells = [Address(addr.base, Operand("imm", value=at + k * width // 8)) for k in range(2)]
        compare = [self.read(w, rs1), self.read(w, rs2)]
        new = [self.read(w, rt1), self.read(w, rt2)]
        where = [self.address(w, cell, src) for cell in cells]
        kind = ACQUIRE if acquire else ""
        wflags = RMW_WRITE | (AMO_AL if acquire and release else 0)
        forks: list[_Walk] = []
        for outcome in ("fail", "fail-write-back", "from-register", "from-memory"):
            b = w.fork()
            olds: list[rx.Expr] = []
            for k, rs in enumerate((rs1, rs2)):
                slot = self.slot(b, rs)
                flags = ATOMIC_READ | (0 if outcome == "fail" else RMW_READ) | (PAIR_SECOND if k else 0)
                self.emit(b, src, "LDR", kind=kind, loc=where[k][0], reg=slot, addr=where[k][1], flags=flags)
                olds.append(rx.reg(slot))
            eq = [rx.flags_cond("EQ", width, o, c) for o, c in zip(olds, compare, strict=True)]
            equal = rx.binary("AND", 64, eq[0], eq[1])
            both = [_with(old, olds[1 - k], width) for k, old in enumerate(olds)]  # deps on both reads
            name = self.assume(b, src, equal if outcome.startswith("from") else rx.negate(equal), PICK)
            for k, cell in enumerate(cells):
                flags = wflags | (PAIR_SECOND if k else 0)
                if outcome == "fail-write-back":
                    self.store(b, src, cell, rx.pick(name, both[k]), release, flags, width)
                elif outcome != "fail":
                    self.store(b, src, cell, rx.pick(name, new[k]), release, flags, width)
            for k, rs in enumerate((rs1, rs2)):
                if outcome == "from-register":
                    self.write(b, rs, rx.pick(name, _with(compare[k], compare[1 - k], width)))
                else:
                    self.write(b, rs, both[k])
            b.pc += 1
            forks.append(b)
        first = forks.pop()
        w.__dict__.update(first.__dict__)
        return forks


# Register arithmetic and flag setting: what a store-exclusive's status flows through.
_CHOICE_FLOW = ("MOV", "ALU", "MAC", "MOVK", "CMP", "MRS_NZCV", "MSR_NZCV")
_DEST_ARG = {"MOV": 0, "ALU": 1, "MAC": 2, "MRS_NZCV": 0, "CSEL": 0}  # the register written


def _reads(src: Src) -> set[str]:
    """The registers (and "NZCV", the flags) that ``src`` reads."""
    names: set[str] = set()
    skip = _DEST_ARG.get(src.op, -1)
    for k, arg in enumerate(src.args):
        if k == skip:
            continue
        if isinstance(arg, str):
            names.add(canonical(arg))
        elif isinstance(arg, Operand) and arg.kind == "reg":
            names.add(canonical(arg.name))
        elif isinstance(arg, Address):
            regs = (o for o in (arg.base, arg.offset) if o is not None and o.kind == "reg")
            names.update(canonical(o.name) for o in regs)
    if src.op in ("B", "CSEL", "MRS_NZCV"):
        names.add("NZCV")
    return names


def _with(value: rx.Expr, other: rx.Expr, width: int) -> rx.Expr:
    """``value``, depending also on what ``other`` depends on (``other AND 0`` adds the
    sources and nothing to the value: B2.3.6 dependencies are through registers, not
    values)."""
    return rx.binary("ORR", width, value, rx.binary("AND", width, other, rx.const(0)))
