"""AArch64 instruction semantics: run one thread and record its events.

Each thread is executed concretely.  Every read takes a value from a
*domain* (the values some write could put in that cell); the driver in
:func:`thread_traces` enumerates all choices by replaying the thread with a
growing list of read values, which keeps the instruction code free of any
search logic.  Traces whose read values no write can justify are dropped
later, when read-from is chosen.

Registers carry, besides their value, the two dependency sets described in
:mod:`stalecheck.axiomatic.events`, so address, data and control
dependencies fall out of ordinary execution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from stalecheck.axiomatic.events import Barrier, Event, ThreadTrace
from stalecheck.axiomatic.initial_state import InitialState, canonical_reg
from stalecheck.axiomatic.values import MASK64, Addr, CodeLabel, Val, mask, signed
from stalecheck.errors import InputError, Position, UnsupportedError
from stalecheck.litmus import ast

Cell = tuple[str, int]
Tainted = tuple[Val, int, int]  # value, dtrm sources, pick-dtrm sources

# A pseudo-source bit for values decided by a nondeterministic choice that is not a
# read (store-exclusive success).  It never names an event, so relations ignore it,
# but it makes a branch on such a value count as symbolic for loop unrolling.
CHOICE = 1 << 62

# herd7 reports every CAS execution twice in its witness counts (both of its
# semantic alternatives survive, with identical final states): observed on every
# CAS/CASP test of herd-instructions (L007: 4, A242: 16 for four CASPs).  Verdicts and
# states do not depend on it; only the Positive/Negative counts do.
HERD_CAS_MULTIPLICITY = 2

# An instruction's effect on the machine; a returned label or code address is a jump.
Handler = Callable[["_Machine", ast.Instruction], "str | CodeLabel | None"]

UNROLL = 2  # herd7's default -unroll: a backward branch is taken at most this often


class _NeedRead(Exception):
    """Raised by a read the current choice list does not cover yet."""

    def __init__(self, cell: Cell) -> None:
        super().__init__(cell)
        self.cell = cell


class _Poison(Exception):
    """The path does something herd rejects (e.g. a numeric address).

    herd only complains if an execution allowed by the model takes that path, so
    we end the path here and let the checker decide once consistency is known.
    """

    def __init__(self, error: InputError) -> None:
        super().__init__(error.message)
        self.error = error


class _Fault(Exception):
    """The instruction takes a synchronous exception; with no handler the thread stops."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _PathCut(Exception):
    """A loop exceeded the unrolling bound: herd drops such paths and prints ``Loop``."""


@dataclass
class _Context:
    proc: int
    layout: InitialState
    path: str
    programs: Mapping[int, Sequence[ast.CodeLine]] = field(default_factory=dict)
    nv2: bool = False  # herd's ``Variant=NV2``: EL1 system registers live in the VNCR page
    mixed: bool = False  # herd's ``Variant=mixed``: wider accesses may cover several cells


class _Machine:
    """Architectural state of one thread during one replay."""

    def __init__(
        self, ctx: _Context, code: Sequence[ast.CodeLine], choices: Sequence[Val]
    ) -> None:
        self.ctx = ctx
        self.code = code
        self.choices = choices
        self.reads_done = 0
        regs = dict(ctx.layout.symbolic_registers)
        regs.update(ctx.layout.registers.get(ctx.proc, {}))
        self.regs: dict[str, Tainted] = {r: (v, 0, 0) for r, v in regs.items()}
        self.flags: tuple[int, int, int, int, int, int] | None = None  # N Z C V d p
        self.trace = ThreadTrace(ctx.proc)
        self.ctrl_d = 0
        self.ctrl_p = 0
        self.addr_seen_d = 0  # reads with an address dependency to some access so far
        self.addr_seen_p = 0
        self.pos = 0
        self.instance = 0
        self.last_write: dict[Cell, int] = {}
        self.monitor: tuple[Cell, int] | None = None  # open LDXR: cell, event index
        self.pair_monitor: list[tuple[Cell, int]] | None = None  # open LDXP
        self.labels = _labels_of(code)
        self.code_proc = ctx.proc
        self.pc = 0
        self.back_taken: dict[tuple[int, int], int] = {}
        # herd unrolls loops on concrete values completely; only an unconditional
        # backward branch or one whose condition depends on a read is bounded.
        self.branch_counts = True
        self.current: ast.Instruction | None = None

    # ------------------------------------------------------------ errors
    def unsupported(self, message: str) -> UnsupportedError:
        ins = self.current
        pos = Position(self.ctx.path, ins.line, ins.column) if ins else Position(self.ctx.path)
        return UnsupportedError(message, pos)

    def bad_input(self, message: str) -> InputError:
        ins = self.current
        pos = Position(self.ctx.path, ins.line, ins.column) if ins else Position(self.ctx.path)
        return InputError(message, pos)

    # ------------------------------------------------------------ registers
    def reg_width(self, name: str) -> int:
        n = name.upper()
        if n.startswith("%"):
            return 64
        if n.startswith("W"):
            return 32
        if n.startswith("X") or n in ("SP", "XZR"):
            return 64
        if n[:1] == "C" and n[1:].isdigit():
            raise self.unsupported(f"Morello capability register {name} is not supported")
        raise self.unsupported(f"register {name} is not supported")

    def get(self, op: ast.Operand) -> Tainted:
        if isinstance(op, ast.Imm):
            return (op.value & MASK64, 0, 0)
        if not isinstance(op, ast.Reg):
            raise self.unsupported(f"operand form {op} is not supported")
        reg = canonical_reg(op.name)
        width = self.reg_width(op.name)
        if reg == "XZR":
            return (0, 0, 0)
        if not (reg == "SP" or reg[0] == "%" or (reg[0] == "X" and reg[1:].isdigit())):
            raise self.unsupported(f"register {op.name} is not supported")
        if reg[0] == "%" and reg not in self.regs:
            raise self.bad_input(f"unexpected {op.name!r}: symbolic register without a value")
        value, d, p = self.regs.get(reg, (0, 0, 0))
        if width == 32 and isinstance(value, int):
            value = mask(value, 32)
        elif width == 32:
            raise _Poison(self.bad_input(f"illegal operation mask32 on {value}"))
        return (value, d, p)

    def set(self, op: ast.Operand, value: Val, d: int, p: int) -> None:
        if not isinstance(op, ast.Reg):
            raise self.bad_input("destination must be a register")
        reg = canonical_reg(op.name)
        width = self.reg_width(op.name)
        if reg == "XZR":
            return
        if isinstance(value, int):
            value = mask(value, width)
        elif width == 32:
            raise _Poison(self.bad_input(f"illegal operation mask32 on {value}"))
        self.regs[reg] = (value, d, p | d)

    # ------------------------------------------------------------ memory
    def address(self, ops: Sequence[ast.Operand], at: int) -> tuple[Addr, int, int, int]:
        """Decode the memory operand at ``at``; return address, deps and operands used.

        Handles ``[Xn]``, ``[Xn,#i]``, ``[Xn,Xm{,ext|shift}]``, pre-index ``[..]!`` and
        post-index ``[Xn],#i`` (the write-back happens here too).
        """
        if at >= len(ops) or not isinstance(ops[at], ast.Mem):
            raise self.bad_input("expected a memory operand [Xn, ...]")
        mem = ops[at]
        assert isinstance(mem, ast.Mem)
        parts = mem.parts
        if not parts:
            raise self.bad_input("empty memory operand")
        base_v, d, p = self.get(parts[0])
        offset = 0
        rest = list(parts[1:])
        if rest:
            first = rest.pop(0)
            if isinstance(first, ast.Imm):
                offset = first.value
            elif isinstance(first, ast.Reg):
                ov, od, op_ = self.get(first)
                if not isinstance(ov, int):
                    raise self.unsupported("register offset holding an address")
                ov = self.extend_shift(ov, first, rest)
                offset = ov
                d |= od
                p |= op_
                rest = []
            else:
                raise self.unsupported("memory operand form is not supported")
        if rest:
            raise self.unsupported("memory operand form is not supported")
        post = 0
        if at + 1 < len(ops) and isinstance(ops[at + 1], ast.Imm):
            imm = ops[at + 1]
            assert isinstance(imm, ast.Imm)
            post = imm.value
        addr = self.add_offset(base_v, offset)
        if mem.writeback:
            self.set(parts[0], addr, d, p)
        elif post:
            self.set(parts[0], self.add_offset(base_v, post), d, p)
        return addr, d, p, at + (2 if post else 1)

    def extend_shift(self, value: int, reg: ast.Reg, rest: list[ast.Operand]) -> int:
        width = self.reg_width(reg.name)
        if width == 32:
            value = mask(value, 32)
        amount = 0
        kind = ""
        if rest:
            mod = rest.pop(0)
            if isinstance(mod, ast.Shift):
                kind, amount = mod.kind, mod.amount
            elif isinstance(mod, ast.Reg):
                kind = mod.name.upper()
            else:
                raise self.unsupported("memory operand form is not supported")
        if kind in ("SXTW",):
            value = signed(value, 32) & MASK64
        elif kind in ("UXTW",):
            value = mask(value, 32)
        elif kind in ("SXTX", "UXTX", "LSL", ""):
            pass
        else:
            raise self.unsupported(f"extend {kind} is not supported")
        return (value << amount) & MASK64

    def add_offset(self, base: Val, offset: int) -> Addr:
        if isinstance(base, Addr):
            return Addr(base.base, signed(base.offset + offset, 64))
        if isinstance(base, int):
            raise _Poison(self.bad_input(f"non symbolic address: [{signed(base, 64)}]"))
        raise self.unsupported("reading or writing code as data (instruction fetch) is not supported")

    def cell(self, addr: Addr, size: int) -> Cell:
        layout = self.ctx.layout
        cell = layout.cell_of(addr)
        if cell is None:
            if addr.base in layout.arrays:
                raise self.bad_input(f"out of bounds access on array {addr.base}")
            raise self.unsupported(
                f"access to {addr} is mixed-size (not a whole location); not supported"
            )
        ctype = layout.cell_types[cell]
        if size > ctype.size and not ctype.default and not isinstance(
            layout.memory.get(cell), Addr | CodeLabel
        ):
            raise self.unsupported(
                f"{size}-byte access to {layout.cell_types[cell].size}-byte location "
                f"{addr.base} is mixed-size; not supported"
            )
        return cell

    def read_value(self, cell: Cell) -> Val:
        if self.reads_done < len(self.choices):
            v = self.choices[self.reads_done]
            self.reads_done += 1
            return v
        raise _NeedRead(cell)

    def read_choice_bool(self) -> bool:
        """A boolean choice (store-exclusive success), enumerated like a read value."""
        if self.reads_done < len(self.choices):
            v = self.choices[self.reads_done]
            self.reads_done += 1
            return bool(v)
        raise _NeedRead(("<stxr>", 0))

    def new_event(self, kind: str, cell: Cell, value: Val, d: int, p: int, **kw: object) -> int:
        ins = self.current
        ev = Event(
            kind, cell, value, self.instance, self.pos,
            text=ins.text if ins else "", line=ins.line if ins else 0,
            addr_d=d, addr_p=p, ctrl_d=self.ctrl_d, ctrl_p=self.ctrl_p,
        )
        for k, v in kw.items():
            setattr(ev, k, v)
        self.pos += 1
        idx = len(self.trace.events)
        self.trace.events.append(ev)
        if d or p:
            self.addr_seen_d |= d
            self.addr_seen_p |= p
        if kind == "R":
            ev.lmrs_from = self.last_write.get(cell, -1)
        else:
            self.last_write[cell] = idx
        return idx

    def _split(self, addr: Addr, size: int, plain: bool) -> list[Cell] | None:
        """Under herd's ``Variant=mixed``, the cells a wider plain access covers.

        Only a whole number of equal, declared cells (``uint8_t t[4]`` read or written
        as a word) is split; the parts form one single-copy-atomic group.
        """
        layout = self.ctx.layout
        first = layout.cell_of(addr)
        if not (self.ctx.mixed and plain and first is not None):
            return None
        ctype = layout.cell_types[first]
        if ctype.default or size <= ctype.size or size % ctype.size:
            return None
        cells = []
        for k in range(size // ctype.size):
            c = layout.cell_of(Addr(addr.base, addr.offset + k * ctype.size))
            if c is None or layout.cell_types[c].size != ctype.size:
                return None
            cells.append(c)
        return cells

    def load(
        self, addr: Addr, size: int, d: int, p: int, **kw: object
    ) -> tuple[Val, int, int, int]:
        """Read memory; return value and the (d, p) sources of the destination register."""
        parts = self._split(addr, size, not any(kw.values()))
        if parts is not None:
            part_bits = size * 8 // len(parts)
            value_int = 0
            out_d, out_p, first = d, p, -1
            group = []
            for k, c in enumerate(parts):
                v = self.read_value(c)
                if not isinstance(v, int):
                    raise self.unsupported("mixed-size access to an address value")
                idx = self.new_event("R", c, mask(v, part_bits), d, p)
                group.append(idx)
                first = idx if first < 0 else first
                value_int |= mask(v, part_bits) << (k * part_bits)
                out_d |= 1 << idx
                out_p |= 1 << idx
            self.trace.sca_groups.append(tuple(group))
            return value_int, out_d, out_p, first
        cell = self.cell(addr, size)
        value = self.read_value(cell)
        if isinstance(value, int):
            value = mask(value, size * 8)
        idx = self.new_event("R", cell, value, d, p, **kw)
        ev = self.trace.events[idx]
        out_d = (1 << idx) | d
        out_p = (1 << idx) | p
        if ev.lmrs_from >= 0:
            w = self.trace.events[ev.lmrs_from]
            out_d |= w.src_d()
            out_p |= w.src_p() | w.src_d()
        return value, out_d, out_p, idx

    def store(
        self, addr: Addr, size: int, value: Val, ad: int, ap: int, dd: int, dp: int,
        **kw: object,
    ) -> int:
        parts = self._split(addr, size, not any(kw.values()))
        if parts is not None:
            if not isinstance(value, int):
                raise self.unsupported("mixed-size store of an address value")
            part_bits = size * 8 // len(parts)
            group = [
                self.new_event(
                    "W", c, mask(value >> (k * part_bits), part_bits), ad, ap,
                    data_d=dd, data_p=dp | dd,
                )
                for k, c in enumerate(parts)
            ]
            self.trace.sca_groups.append(tuple(group))
            return group[0]
        cell = self.cell(addr, size)
        if isinstance(value, int):
            value = mask(value, size * 8)
        idx = self.new_event("W", cell, value, ad, ap, data_d=dd, data_p=dp | dd, **kw)
        return idx

    def barrier(self, kind: str) -> None:
        self.trace.barriers.append(
            Barrier(kind, self.pos, self.ctrl_d, self.ctrl_p, self.addr_seen_d, self.addr_seen_p)
        )
        self.pos += 1

    def _enter(self, target: CodeLabel) -> int:
        """Continue at a code address, possibly in another thread's code (herd allows it)."""
        if target.proc != self.code_proc:
            code = self.ctx.programs.get(target.proc) if self.ctx.programs else None
            if code is None:
                raise self.bad_input(f"no thread P{target.proc}")
            self.code = code
            self.code_proc = target.proc
            self.labels = _labels_of(code)
        if target.label.startswith("#"):
            return int(target.label[1:])
        dest = self.labels.get(target.label)
        if dest is None:
            raise self.bad_input(f"label {target.label} not found on P{target.proc}")
        return dest

    def _label_before(self, pc: int) -> str:
        """The label naming the instruction at ``pc`` (labels sit on lines before it)."""
        for line in reversed(self.code[:pc]):
            if line.instruction is not None:
                break
            if line.labels:
                return line.labels[0]
        return f"#{pc}"

    def code_label(self, name: str) -> CodeLabel:
        """The address of a label of the code being executed (for ADR)."""
        if name not in self.labels:
            raise self.bad_input(f"label {name} not found on P{self.code_proc}")
        return CodeLabel(self.code_proc, name)

    def return_address(self, pc: int) -> CodeLabel:
        """The address after the instruction at ``pc``: its label if it has one."""
        for line in self.code[pc + 1:]:
            if line.labels:
                return CodeLabel(self.code_proc, line.labels[0])
            if line.instruction is not None:
                break
        return CodeLabel(self.code_proc, f"#{pc + 1}")

    def _relative(self, pc: int, instructions: int) -> int | None:
        """Code index of the instruction ``instructions`` away from the one at ``pc``."""
        order = [i for i, line in enumerate(self.code) if line.instruction is not None]
        k = order.index(pc) + instructions
        if k == len(order):
            return len(self.code)
        return order[k] if 0 <= k < len(order) else None

    # ------------------------------------------------------------ run
    def run(self) -> ThreadTrace:
        pc = 0
        steps = 0
        while pc < len(self.code):
            steps += 1
            if steps > 10_000:
                raise _PathCut()
            line = self.code[pc]
            ins = line.instruction
            if ins is None:
                pc += 1
                continue
            self.current = ins
            handler = _HANDLERS.get(ins.mnemonic)
            if handler is None:
                handler = _family_handler(ins.mnemonic)
            if handler is None:
                raise self.unsupported(f"instruction {ins.mnemonic} is not supported")
            self.branch_counts = True
            self.pc = pc
            arity = _ARITY.get(ins.mnemonic)
            if arity is not None and not arity[0] <= len(ins.operands) <= arity[1]:
                raise self.bad_input(
                    f"{ins.mnemonic} takes {arity[0]}"
                    + (f" to {arity[1]}" if arity[1] != arity[0] else "")
                    + f" operands, not {len(ins.operands)}"
                )
            try:
                target = handler(self, ins)
            except _Poison as poison:
                self.trace.poison = poison.error
                break
            except _Fault as fault:
                label = line.labels[0] if line.labels else self._label_before(pc)
                self.trace.faults.append((self.code_proc, label, fault.kind))
                break
            self.instance += 1
            if target is None:
                pc += 1
                continue
            if isinstance(target, CodeLabel):
                dest = self._enter(target)
            else:
                dest = self.labels.get(target)
                if dest is None and target.startswith((".+", ".-")):
                    dest = self._relative(pc, int(target[1:]) // 4)
                if dest is None:
                    raise self.bad_input(f"label {target} not found on P{self.code_proc}")
            if dest <= pc and self.branch_counts:
                key = (self.code_proc, pc)
                taken = self.back_taken.get(key, 0) + 1
                if taken > UNROLL:
                    raise _PathCut()
                self.back_taken[key] = taken
            pc = dest
        self.trace.registers = {r: v for r, (v, _, _) in self.regs.items()}
        return self.trace


# ------------------------------------------------------------------ helpers


def _labels_of(code: Sequence[ast.CodeLine]) -> dict[str, int]:
    labels: dict[str, int] = {}
    for i, line in enumerate(code):
        for label in line.labels:
            labels[label] = i
    return labels


def _ops(m: _Machine, ins: ast.Instruction, n: int | tuple[int, ...]) -> tuple[ast.Operand, ...]:
    allowed = (n,) if isinstance(n, int) else n
    if len(ins.operands) not in allowed:
        raise m.bad_input(f"{ins.mnemonic} takes {' or '.join(map(str, allowed))} operands")
    return ins.operands


def _width(m: _Machine, op: ast.Operand) -> int:
    if not isinstance(op, ast.Reg):
        raise m.bad_input("expected a register")
    return m.reg_width(op.name)


def _shifted(m: _Machine, ops: Sequence[ast.Operand], at: int, width: int) -> Tainted:
    """Operand 2 of a data-processing instruction: immediate, or register with shift/extend."""
    v, d, p = m.get(ops[at])
    if at + 1 < len(ops):
        mod = ops[at + 1]
        if not isinstance(v, int):
            raise m.unsupported("shifting an address")
        if isinstance(mod, ast.Shift):
            v = _apply_shift(m, mod.kind, v, mod.amount, width)
        elif isinstance(mod, ast.Reg):
            v = _apply_shift(m, mod.name.upper(), v, 0, width)
        else:
            raise m.bad_input("bad shift operand")
    return (v, d, p)


def _apply_shift(m: _Machine, kind: str, v: int, amount: int, width: int) -> int:
    v = mask(v, width)
    if kind == "LSL":
        return mask(v << amount, width)
    if kind == "LSR":
        return v >> amount
    if kind == "ASR":
        return mask(signed(v, width) >> amount, width)
    if kind == "ROR":
        amount %= width
        return mask((v >> amount) | (v << (width - amount)), width)
    ext = {"UXTB": (8, False), "UXTH": (16, False), "UXTW": (32, False), "UXTX": (64, False),
           "SXTB": (8, True), "SXTH": (16, True), "SXTW": (32, True), "SXTX": (64, True)}
    if kind in ext:
        bits, sgn = ext[kind]
        x = signed(v, bits) if sgn else mask(v, bits)
        return mask(x << amount, width)
    raise m.unsupported(f"shift {kind} is not supported")


def _nzcv(result: int, width: int, carry: int, overflow: int) -> tuple[int, int, int, int]:
    r = mask(result, width)
    return (r >> (width - 1) & 1, int(r == 0), carry, overflow)


def _add_with_flags(a: int, b: int, width: int, carry_in: int = 0) -> tuple[int, tuple[int, ...]]:
    ua, ub = mask(a, width), mask(b, width)
    total = ua + ub + carry_in
    res = mask(total, width)
    c = int(total >> width != 0)
    sa, sb, sr = signed(ua, width), signed(ub, width), signed(res, width)
    v = int(sa + sb + carry_in != sr)
    return res, _nzcv(res, width, c, v)


def _arith(
    m: _Machine, a: Val, b: Val, op: str, width: int
) -> tuple[Val, tuple[int, ...] | None]:
    """ADD/SUB (and their flag-setting forms) over ints and symbolic addresses."""
    if isinstance(a, int) and isinstance(b, int):
        if op == "add":
            return _add_with_flags(a, b, width)
        return _add_with_flags(a, mask(~b, width), width, 1)
    if isinstance(a, Addr) and isinstance(b, int):
        delta = signed(b, width) if op == "add" else -signed(b, width)
        return Addr(a.base, a.offset + delta), None
    if isinstance(a, int) and isinstance(b, Addr) and op == "add":
        return Addr(b.base, b.offset + signed(a, width)), None
    if isinstance(a, Addr) and isinstance(b, Addr) and op == "sub" and a.base == b.base:
        diff = (a.offset - b.offset) & MASK64
        return _add_with_flags(diff, 0, width)
    if a == b and op == "sub":
        return 0, (0, 1, 1, 0)
    if op == "sub":
        return 1, (0, 0, 1, 0)  # distinct symbols compare unequal (herd: Z clear)
    raise m.unsupported("arithmetic on addresses is not supported")


_CONDS: dict[str, Callable[[int, int, int, int], bool]] = {
    "EQ": lambda n, z, c, v: z == 1,
    "NE": lambda n, z, c, v: z == 0,
    "CS": lambda n, z, c, v: c == 1,
    "HS": lambda n, z, c, v: c == 1,
    "CC": lambda n, z, c, v: c == 0,
    "LO": lambda n, z, c, v: c == 0,
    "MI": lambda n, z, c, v: n == 1,
    "PL": lambda n, z, c, v: n == 0,
    "VS": lambda n, z, c, v: v == 1,
    "VC": lambda n, z, c, v: v == 0,
    "HI": lambda n, z, c, v: c == 1 and z == 0,
    "LS": lambda n, z, c, v: not (c == 1 and z == 0),
    "GE": lambda n, z, c, v: n == v,
    "LT": lambda n, z, c, v: n != v,
    "GT": lambda n, z, c, v: z == 0 and n == v,
    "LE": lambda n, z, c, v: not (z == 0 and n == v),
    "AL": lambda n, z, c, v: True,
    "NV": lambda n, z, c, v: True,
}


def _cond(m: _Machine, name: str) -> tuple[bool, int, int]:
    """Evaluate a condition code on NZCV: (holds, dtrm sources, pick sources)."""
    code = name.upper()
    if code not in _CONDS:
        raise m.bad_input(f"unknown condition {name}")
    if m.flags is None:
        n = z = c = v = 0
        d = p = 0
    else:
        n, z, c, v, d, p = m.flags
    return _CONDS[code](n, z, c, v), d, p


def _set_flags(m: _Machine, flags: tuple[int, ...] | None, d: int, p: int) -> None:
    if flags is None:
        raise m.unsupported("condition flags from address arithmetic")
    n, z, c, v = flags
    m.flags = (n, z, c, v, d, p | d)


def _label(m: _Machine, op: ast.Operand) -> str:
    if isinstance(op, ast.Reg):
        return op.name
    if isinstance(op, ast.RelLabel):
        if op.offset % 4:
            raise m.bad_input(f"branch offset .{op.offset:+d} is not a multiple of 4")
        return f".{op.offset:+d}"
    raise m.unsupported("branch target form is not supported (only labels)")


# ------------------------------------------------------------------ data processing


def _mov(m: _Machine, ins: ast.Instruction) -> None:
    ops = _ops(m, ins, 2)
    v, d, p = m.get(ops[1])
    m.set(ops[0], v, d, p)


def _movz(m: _Machine, ins: ast.Instruction) -> None:
    ops = _ops(m, ins, (2, 3))
    v, _, _ = m.get(ops[1])
    shift = ops[2].amount if len(ops) == 3 and isinstance(ops[2], ast.Shift) else 0
    assert isinstance(v, int)
    val = v << shift
    if ins.mnemonic == "MOVN":
        val = ~val
    m.set(ops[0], val & MASK64, 0, 0)


def _movk(m: _Machine, ins: ast.Instruction) -> None:
    ops = _ops(m, ins, (2, 3))
    old, d, p = m.get(ops[0])
    imm, _, _ = m.get(ops[1])
    shift = ops[2].amount if len(ops) == 3 and isinstance(ops[2], ast.Shift) else 0
    if not isinstance(old, int) or not isinstance(imm, int):
        raise m.unsupported("MOVK on an address")
    val = (old & ~(0xFFFF << shift)) | ((imm & 0xFFFF) << shift)
    m.set(ops[0], val, d, p)


def _logic(m: _Machine, ins: ast.Instruction) -> None:
    ops = ins.operands
    mn = ins.mnemonic
    setflags = mn in ("ANDS", "BICS")
    if len(ops) < 3:
        raise m.bad_input(f"{mn} takes 3 operands")
    width = _width(m, ops[0])
    a, ad, ap = m.get(ops[1])
    b, bd, bp = _shifted(m, ops, 2, width)
    base = mn.rstrip("S") if mn in ("ANDS", "BICS") else mn
    if isinstance(a, Addr) or isinstance(b, Addr):
        if base == "EOR" and a == b:
            res: Val = 0
        elif base == "ORR" and isinstance(a, int) and mask(a, width) == 0 and \
                ops[1] != ops[2] and isinstance(ops[1], ast.Reg) and \
                canonical_reg(ops[1].name) == "XZR":
            res = b
        else:
            raise m.unsupported(f"{mn} on an address is not supported")
    else:
        assert isinstance(a, int) and isinstance(b, int)
        if base in ("BIC", "ORN", "EON"):
            b = mask(~b, width)
        op = {"AND": "&", "BIC": "&", "ORR": "|", "ORN": "|", "EOR": "^", "EON": "^"}[base]
        res = a & b if op == "&" else a | b if op == "|" else a ^ b
        res = mask(res, width)
    d, p = ad | bd, ap | bp
    m.set(ops[0], res, d, p)
    if setflags:
        assert isinstance(res, int)
        _set_flags(m, _nzcv(res, width, 0, 0), d, p)


def _addsub(m: _Machine, ins: ast.Instruction) -> None:
    ops = ins.operands
    mn = ins.mnemonic
    if len(ops) < 3:
        raise m.bad_input(f"{mn} takes 3 operands")
    width = _width(m, ops[0])
    a, ad, ap = m.get(ops[1])
    b, bd, bp = _shifted(m, ops, 2, width)
    res, flags = _arith(m, a, b, "add" if mn.startswith("ADD") else "sub", width)
    d, p = ad | bd, ap | bp
    m.set(ops[0], res, d, p)
    if mn.endswith("S"):
        _set_flags(m, flags, d, p)


def _cmp(m: _Machine, ins: ast.Instruction) -> None:
    ops = ins.operands
    if len(ops) < 2:
        raise m.bad_input(f"{ins.mnemonic} takes 2 operands")
    width = _width(m, ops[0])
    a, ad, ap = m.get(ops[0])
    b, bd, bp = _shifted(m, ops, 1, width)
    if ins.mnemonic == "TST":
        if not isinstance(a, int) or not isinstance(b, int):
            raise m.unsupported("TST on an address")
        _set_flags(m, _nzcv(a & b, width, 0, 0), ad | bd, ap | bp)
        return
    _, flags = _arith(m, a, b, "sub" if ins.mnemonic == "CMP" else "add", width)
    _set_flags(m, flags, ad | bd, ap | bp)


def _neg(m: _Machine, ins: ast.Instruction) -> None:
    ops = ins.operands
    width = _width(m, ops[0])
    b, bd, bp = _shifted(m, ops, 1, width)
    if not isinstance(b, int):
        raise m.unsupported("NEG of an address")
    res, flags = _add_with_flags(0, mask(~b, width), width, 1)
    m.set(ops[0], res, bd, bp)
    if ins.mnemonic == "NEGS":
        _set_flags(m, flags, bd, bp)


def _mvn(m: _Machine, ins: ast.Instruction) -> None:
    ops = ins.operands
    width = _width(m, ops[0])
    b, bd, bp = _shifted(m, ops, 1, width)
    if not isinstance(b, int):
        raise m.unsupported("MVN of an address")
    m.set(ops[0], mask(~b, width), bd, bp)


def _shift_ins(m: _Machine, ins: ast.Instruction) -> None:
    ops = _ops(m, ins, 3)
    width = _width(m, ops[0])
    a, ad, ap = m.get(ops[1])
    b, bd, bp = m.get(ops[2])
    if not isinstance(a, int) or not isinstance(b, int):
        raise m.unsupported("shifting an address")
    amount = b % width
    m.set(ops[0], _apply_shift(m, ins.mnemonic, a, amount, width), ad | bd, ap | bp)


def _mul(m: _Machine, ins: ast.Instruction) -> None:
    ops = ins.operands
    width = _width(m, ops[0])
    vals = [m.get(o) for o in ops[1:]]
    if any(not isinstance(v, int) for v, _, _ in vals):
        raise m.unsupported("multiplying an address")
    d = p = 0
    for _, vd, vp in vals:
        d |= vd
        p |= vp
    x = [v for v, _, _ in vals]
    mn = ins.mnemonic
    if mn == "MUL":
        res = x[0] * x[1]
    elif mn == "MNEG":
        res = -(x[0] * x[1])
    elif mn == "MADD":
        res = x[2] + x[0] * x[1]
    elif mn == "MSUB":
        res = x[2] - x[0] * x[1]
    else:
        sgn = mn.startswith("S")
        a = signed(x[0], 32) if sgn else mask(x[0], 32)
        b = signed(x[1], 32) if sgn else mask(x[1], 32)
        if mn.endswith("MULL"):
            res = a * b
        elif mn.endswith("MNEGL"):
            res = -(a * b)
        elif mn.endswith("MADDL"):
            res = x[2] + a * b
        else:
            res = x[2] - a * b
    m.set(ops[0], mask(res, width), d, p)


def _csel(m: _Machine, ins: ast.Instruction) -> None:
    """CSEL family: the result flows from the chosen source (data) and the flags (pick)."""
    mn = ins.mnemonic
    ops = ins.operands
    if mn in ("CSET", "CSETM"):
        ops = (ops[0], ast.Reg("XZR"), ast.Reg("XZR"), ops[1])
        mn = "CSINC" if ins.mnemonic == "CSET" else "CSINV"
        ops = (ops[0], ops[1], ops[2], ast.Reg(_invert(m, ops[3])))
    elif mn in ("CINC", "CINV", "CNEG"):
        ops = (ops[0], ops[1], ops[1], ast.Reg(_invert(m, ops[2])))
        mn = {"CINC": "CSINC", "CINV": "CSINV", "CNEG": "CSNEG"}[mn]
    if len(ops) != 4 or not isinstance(ops[3], ast.Reg):
        raise m.bad_input(f"{ins.mnemonic}: bad operands")
    width = _width(m, ops[0])
    holds, fd, fp = _cond(m, ops[3].name)
    if holds:
        v, d, p = m.get(ops[1])
    else:
        v, d, p = m.get(ops[2])
        if not isinstance(v, int) and mn != "CSEL":
            raise m.unsupported(f"{mn} of an address")
        if mn == "CSINC":
            assert isinstance(v, int)
            v = mask(v + 1, width)
        elif mn == "CSINV":
            assert isinstance(v, int)
            v = mask(~v, width)
        elif mn == "CSNEG":
            assert isinstance(v, int)
            v = mask(-v, width)
    m.set(ops[0], v, d, p | fd | fp)


def _invert(m: _Machine, op: ast.Operand) -> str:
    if not isinstance(op, ast.Reg):
        raise m.bad_input("expected a condition")
    inv = {"EQ": "NE", "NE": "EQ", "CS": "CC", "HS": "LO", "CC": "CS", "LO": "HS", "MI": "PL",
           "PL": "MI", "VS": "VC", "VC": "VS", "HI": "LS", "LS": "HI", "GE": "LT", "LT": "GE",
           "GT": "LE", "LE": "GT"}
    code = op.name.upper()
    if code not in inv:
        raise m.bad_input(f"unknown condition {op.name}")
    return inv[code]


def _sxtw(m: _Machine, ins: ast.Instruction) -> None:
    ops = _ops(m, ins, 2)
    v, d, p = m.get(ops[1])
    if not isinstance(v, int):
        raise m.unsupported("extending an address")
    bits = {"SXTW": 32, "SXTH": 16, "SXTB": 8, "UXTH": 16, "UXTB": 8}[ins.mnemonic]
    val = signed(v, bits) if ins.mnemonic.startswith("S") else mask(v, bits)
    m.set(ops[0], val & MASK64, d, p)


def _bitfield(m: _Machine, ins: ast.Instruction) -> None:
    """UBFM/SBFM (and so LSL/LSR/ASR/UBFX/SBFX/UXTB... as herd spells them)."""
    ops = _ops(m, ins, 4)
    width = _width(m, ops[0])
    v, d, p = m.get(ops[1])
    immr, _, _ = m.get(ops[2])
    imms, _, _ = m.get(ops[3])
    if not isinstance(v, int) or not isinstance(immr, int) or not isinstance(imms, int):
        raise m.unsupported("bitfield move of an address")
    v = mask(v, width)
    if imms >= immr:
        length = imms - immr + 1
        field = (v >> immr) & ((1 << length) - 1)
        res = signed(field, length) if ins.mnemonic == "SBFM" else field
    else:
        length = imms + 1
        field = v & ((1 << length) - 1)
        if ins.mnemonic == "SBFM":
            field = signed(field, length)
        res = field << (width - immr)
    m.set(ops[0], mask(res, width), d, p)


def _unary_bits(m: _Machine, ins: ast.Instruction) -> None:
    """ABS, RBIT and the byte reversals: pure functions of one register."""
    ops = _ops(m, ins, 2)
    width = _width(m, ops[0])
    v, d, p = m.get(ops[1])
    if not isinstance(v, int):
        raise m.unsupported(f"{ins.mnemonic} of an address")
    v = mask(v, width)
    mn = ins.mnemonic
    if mn == "ABS":
        res = abs(signed(v, width))
    elif mn == "RBIT":
        res = int(format(v, f"0{width}b")[::-1], 2)
    else:
        chunk = {"REV": width, "REV64": 64, "REV32": 32, "REV16": 16}[mn]
        res = 0
        for start in range(0, width, chunk):
            part = (v >> start) & ((1 << chunk) - 1)
            part = int.from_bytes(part.to_bytes(chunk // 8, "little"), "big")
            res |= part << start
    m.set(ops[0], mask(res, width), d, p)


# FEAT_NV2: with VNCR_EL2 set, EL1 accesses to these registers become loads and
# stores at VNCR_EL2 + offset (Arm ARM D8, "VNCR_EL2-relative offsets"; the same
# table as Linux's asm/vncr_mapping.h).  Only registers with a known offset.
_VNCR_OFFSETS = {
    "VTTBR_EL2": 0x020, "VTCR_EL2": 0x040, "VMPIDR_EL2": 0x050, "CNTVOFF_EL2": 0x060,
    "HCR_EL2": 0x078, "HSTR_EL2": 0x080, "VPIDR_EL2": 0x088, "TPIDR_EL2": 0x090,
    "HCRX_EL2": 0x0A0, "VNCR_EL2": 0x0B0, "CPACR_EL1": 0x100, "CONTEXTIDR_EL1": 0x108,
    "SCTLR_EL1": 0x110, "ELR_EL1": 0x230,
}


def _vncr_address(m: _Machine, op: ast.Operand) -> Addr | None:
    """Where an NV2-redirected system register lives, or None if it is not redirected."""
    if not (m.ctx.nv2 and isinstance(op, ast.Reg)):
        return None
    offset = _VNCR_OFFSETS.get(op.name.upper())
    base = m.regs.get("VNCR_EL2", (0, 0, 0))[0]
    if offset is None or not isinstance(base, Addr):
        return None
    return Addr(base.base, base.offset + offset)


def _mrs(m: _Machine, ins: ast.Instruction) -> None:
    ops = _ops(m, ins, 2)
    addr = _vncr_address(m, ops[1])
    if addr is not None:
        value, d, p, _ = m.load(addr, 8, 0, 0)
        m.set(ops[0], value, d, p)
        return
    if not (isinstance(ops[1], ast.Reg) and ops[1].name.upper() == "NZCV"):
        raise m.unsupported(f"system register {ops[1]} is not supported")
    n, z, c, v, d, p = m.flags if m.flags is not None else (0, 0, 0, 0, 0, 0)
    m.set(ops[0], (n << 31) | (z << 30) | (c << 29) | (v << 28), d, p)


def _msr(m: _Machine, ins: ast.Instruction) -> None:
    ops = _ops(m, ins, 2)
    addr = _vncr_address(m, ops[0])
    if addr is not None:
        v, d, p = m.get(ops[1])
        m.store(addr, 8, v, 0, 0, d, p)
        return
    if not (isinstance(ops[0], ast.Reg) and ops[0].name.upper() == "NZCV"):
        raise m.unsupported(f"system register {ops[0]} is not supported")
    v, d, p = m.get(ops[1])
    if not isinstance(v, int):
        raise m.unsupported("MSR of an address")
    m.flags = ((v >> 31) & 1, (v >> 30) & 1, (v >> 29) & 1, (v >> 28) & 1, d, p | d)


# ------------------------------------------------------------------ branches and barriers


def _nop(m: _Machine, ins: ast.Instruction) -> None:
    return None


def _b(m: _Machine, ins: ast.Instruction) -> str | None:
    ops = _ops(m, ins, 1)
    return _label(m, ops[0])


def _bcond(m: _Machine, ins: ast.Instruction) -> str | None:
    ops = _ops(m, ins, 1)
    holds, d, p = _cond(m, ins.mnemonic.split(".", 1)[1])
    m.branch_counts = bool(d | p)
    m.ctrl_d |= d
    m.ctrl_p |= p | d
    return _label(m, ops[0]) if holds else None


def _cbz(m: _Machine, ins: ast.Instruction) -> str | None:
    ops = _ops(m, ins, 2)
    v, d, p = m.get(ops[0])
    m.branch_counts = bool(d | p)
    m.ctrl_d |= d
    m.ctrl_p |= p | d
    zero = isinstance(v, int) and v == 0
    take = zero if ins.mnemonic == "CBZ" else not zero
    return _label(m, ops[1]) if take else None


def _tbz(m: _Machine, ins: ast.Instruction) -> str | None:
    ops = _ops(m, ins, 3)
    v, d, p = m.get(ops[0])
    bit, _, _ = m.get(ops[1])
    if not isinstance(v, int) or not isinstance(bit, int):
        raise m.unsupported("testing a bit of an address")
    m.branch_counts = bool(d | p)
    m.ctrl_d |= d
    m.ctrl_p |= p | d
    clear = (v >> bit) & 1 == 0
    take = clear if ins.mnemonic == "TBZ" else not clear
    return _label(m, ops[2]) if take else None


def _udf(m: _Machine, ins: ast.Instruction) -> None:
    raise _Fault("UndefinedInstruction")


def _svc(m: _Machine, ins: ast.Instruction) -> None:
    raise _Fault("SupervisorCall")


def _adr(m: _Machine, ins: ast.Instruction) -> None:
    ops = _ops(m, ins, 2)
    if not isinstance(ops[1], ast.Reg):
        raise m.bad_input(f"replace offset by label in instruction {ins.text}")
    m.set(ops[0], m.code_label(ops[1].name), 0, 0)


def _bl(m: _Machine, ins: ast.Instruction) -> str | None:
    ops = _ops(m, ins, 1)
    target = _label(m, ops[0])
    m.set(ast.Reg("X30"), m.return_address(m.pc), 0, 0)
    return target


def _indirect(m: _Machine, ins: ast.Instruction) -> CodeLabel:
    """BR/BLR/RET: jump to a code address held in a register."""
    ops = ins.operands
    reg = ops[0] if ops else ast.Reg("X30")
    v, d, p = m.get(reg)
    if ins.mnemonic == "RET" and v == 0 and not ops:
        return CodeLabel(m.code_proc, f"#{len(m.code)}")  # return from the test: thread ends
    if not isinstance(v, CodeLabel):
        # Only an error if a consistent execution really branches there (cf. numeric addresses).
        raise _Poison(m.bad_input(f"{ins.mnemonic} to a non-code address {v}"))
    m.branch_counts = bool(d | p)
    m.ctrl_d |= d
    m.ctrl_p |= p | d
    if ins.mnemonic == "BLR":
        m.set(ast.Reg("X30"), m.return_address(m.pc), 0, 0)
    return v


_FENCE_KIND = {
    "SY": "full", "ISH": "full", "OSH": "full", "NSH": "full",
    "LD": "ld", "ISHLD": "ld", "OSHLD": "ld", "NSHLD": "ld",
    "ST": "st", "ISHST": "st", "OSHST": "st", "NSHST": "st",
}


def _dmb(m: _Machine, ins: ast.Instruction) -> None:
    ops = _ops(m, ins, 1)
    opt = ops[0].name.upper() if isinstance(ops[0], ast.Reg) else ""
    if opt not in _FENCE_KIND:
        raise m.bad_input(f"unknown barrier option {opt or ops[0]}")
    m.barrier(f"{ins.mnemonic.lower()}.{_FENCE_KIND[opt]}")


def _isb(m: _Machine, ins: ast.Instruction) -> None:
    m.barrier("isb")


# ------------------------------------------------------------------ memory instructions


@dataclass(frozen=True)
class _MemSpec:
    """What a load/store mnemonic means: size, sign, ordering and exclusivity."""

    size: int | None  # bytes; None: from the register
    signed: bool = False
    acquire: bool = False
    acquire_pc: bool = False
    release: bool = False
    exclusive: bool = False


def _size_of(m: _Machine, spec: _MemSpec, reg: ast.Operand) -> int:
    return spec.size if spec.size is not None else _width(m, reg) // 8


def _load_family(spec: _MemSpec) -> Callable[[_Machine, ast.Instruction], None]:
    def handler(m: _Machine, ins: ast.Instruction) -> None:
        ops = ins.operands
        if len(ops) < 2:
            raise m.bad_input(f"{ins.mnemonic} takes a register and an address")
        size = _size_of(m, spec, ops[0])
        addr, d, p, _ = m.address(ops, 1)
        kw: dict[str, object] = {}
        if spec.acquire:
            kw["acquire"] = True
        if spec.acquire_pc:
            kw["acquire_pc"] = True
        if spec.exclusive:
            kw["exclusive"] = True
        value, od, op_, idx = m.load(addr, size, d, p, **kw)
        if spec.signed and isinstance(value, int):
            value = signed(value, size * 8) & MASK64
        if spec.exclusive:
            m.monitor = (m.trace.events[idx].cell, idx)
        m.set(ops[0], value, od, op_)

    return handler


def _store_family(spec: _MemSpec) -> Callable[[_Machine, ast.Instruction], None]:
    def handler(m: _Machine, ins: ast.Instruction) -> None:
        ops = ins.operands
        status: ast.Operand | None = None
        if spec.exclusive:
            if len(ops) < 3:
                raise m.bad_input(f"{ins.mnemonic} takes a status register, a value, an address")
            status, ops = ops[0], ops[1:]
        if len(ops) < 2:
            raise m.bad_input(f"{ins.mnemonic} takes a register and an address")
        size = _size_of(m, spec, ops[0])
        value, vd, vp = m.get(ops[0])
        if spec.exclusive:
            assert status is not None
            # herd lets a store-exclusive fail whenever it likes: enumerate both outcomes.
            succeed = m.read_choice_bool()
            monitor = m.monitor
            m.monitor = None
            addr, d, p, _ = m.address(ops, 1)
            if succeed:
                if monitor is None:
                    raise _PathCut()
                cell = m.cell(addr, size)
                if cell != monitor[0]:
                    raise _PathCut()
                idx = m.store(addr, size, value, d, p, vd, vp, exclusive=True,
                              release=spec.release)
                m.trace.rmw.append((monitor[1], idx))
            m.set(status, 0 if succeed else 1, CHOICE, CHOICE)
            return
        addr, d, p, _ = m.address(ops, 1)
        m.store(addr, size, value, d, p, vd, vp, release=spec.release)

    return handler




@dataclass(frozen=True)
class _PairSpec:
    """A pair load/store: element size, sign, ordering, and herd's intra-pair order."""

    load: bool
    size: int | None = None  # None: from the register
    signed: bool = False
    acquire: bool = False
    acquire_pc: bool = False
    release: bool = False
    ordered: bool = False  # LDIAPP/STILP: the access at the lower address comes first


def _pair_family(spec: _PairSpec) -> Callable[[_Machine, ast.Instruction], None]:
    def handler(m: _Machine, ins: ast.Instruction) -> None:
        ops = ins.operands
        if len(ops) < 3:
            raise m.bad_input(f"{ins.mnemonic} takes two registers and an address")
        size = spec.size if spec.size is not None else _width(m, ops[0]) // 8
        first, second = ops[0], ops[1]
        if spec.load:
            addr, d, p, _ = m.address(ops, 2)
            kw: dict[str, object] = {}
            if spec.acquire:
                kw["acquire"] = True
            if spec.acquire_pc:
                kw["acquire_pc"] = True
            results = []
            for k in range(2):
                value, od, op_, idx = m.load(Addr(addr.base, addr.offset + k * size),
                                             size, d, p, **kw)
                if spec.signed and isinstance(value, int):
                    value = signed(value, size * 8) & MASK64
                results.append((value, od, op_, idx))
            for reg, (value, od, op_, _) in zip((first, second), results, strict=True):
                m.set(reg, value, od, op_)
            if spec.ordered:
                m.trace.iico_order.append((results[0][3], results[1][3]))
            return
        v1, d1, p1 = m.get(first)
        v2, d2, p2 = m.get(second)
        addr, d, p, _ = m.address(ops, 2)
        i1 = m.store(addr, size, v1, d, p, d1, p1, release=spec.release)
        i2 = m.store(Addr(addr.base, addr.offset + size), size, v2, d, p, d2, p2,
                     release=spec.release)
        if spec.ordered:
            # herd orders STILP's writes low-then-high, but high-then-low for the
            # write-back forms (its stp_wback composes them the other way round).
            mem = ops[2]
            wback = (isinstance(mem, ast.Mem) and mem.writeback) or len(ops) > 3
            m.trace.iico_order.append((i2, i1) if wback else (i1, i2))

    return handler


_ATOMIC_OPS: dict[str, Callable[[int, int, int], int]] = {
    "ADD": lambda a, b, w: mask(a + b, w),
    "CLR": lambda a, b, w: a & ~b & ((1 << w) - 1),
    "EOR": lambda a, b, w: a ^ b,
    "SET": lambda a, b, w: a | b,
    "SMAX": lambda a, b, w: a if signed(a, w) >= signed(b, w) else b,
    "SMIN": lambda a, b, w: a if signed(a, w) <= signed(b, w) else b,
    "UMAX": lambda a, b, w: max(a, b),
    "UMIN": lambda a, b, w: min(a, b),
}


def _ordering(suffix: str) -> tuple[bool, bool, str]:
    """Split ``AL``/``A``/``L`` ordering letters off the front of a size suffix."""
    for letters, acq, rel in (("AL", True, True), ("A", True, False), ("L", False, True)):
        if suffix.startswith(letters):
            return acq, rel, suffix[len(letters):]
    return False, False, suffix


def _atomic(kind: str, op: str | None, suffix: str) -> Callable[[_Machine, ast.Instruction], None]:
    acq, rel, size_suffix = _ordering(suffix)
    fixed = {"B": 1, "H": 2, "": None}.get(size_suffix, -1)

    def handler(m: _Machine, ins: ast.Instruction) -> None:
        if fixed == -1:
            raise m.unsupported(f"instruction {ins.mnemonic} is not supported")
        ops = ins.operands
        if kind == "ST":
            if len(ops) != 2:
                raise m.bad_input(f"{ins.mnemonic} takes a register and an address")
            ops = (ops[0], ast.Reg("XZR" if _width(m, ops[0]) == 64 else "WZR"), ops[1])
        if len(ops) != 3:
            raise m.bad_input(f"{ins.mnemonic} takes two registers and an address")
        size = fixed if fixed is not None else _width(m, ops[0]) // 8
        bits = size * 8
        addr, ad, ap, _ = m.address(ops, 2)
        dest = ops[0] if kind == "CAS" else ops[1]
        noret = isinstance(dest, ast.Reg) and canonical_reg(dest.name) == "XZR"
        s_val, sd, sp = m.get(ops[0])
        if kind == "CAS":
            t_val, td, tp = m.get(ops[1])
        r_kw: dict[str, object] = {"atomic": True, "noret": noret}
        if acq and not noret:
            r_kw["acquire"] = True
        old, od, op_, ridx = m.load(addr, size, ad, ap, **r_kw)
        w_kw: dict[str, object] = {"atomic": True}
        if rel:
            w_kw["release"] = True
        bit = 1 << ridx
        if kind == "SWP":
            widx = m.store(addr, size, s_val, ad, ap, sd, sp, **w_kw)
            m.trace.rmw.append((ridx, widx))
        elif kind == "CAS":
            m.trace.weight *= HERD_CAS_MULTIPLICITY
            expected = mask(s_val, bits) if isinstance(s_val, int) else s_val
            if old == expected:
                widx = m.store(addr, size, t_val, ad, ap, td, tp | sp | sd, **w_kw)
                m.trace.events[widx].intra_p = bit | sd | sp
                m.trace.rmw.append((ridx, widx))
        else:
            assert op is not None
            if not isinstance(old, int) or not isinstance(s_val, int):
                raise m.unsupported(f"{ins.mnemonic} on an address")
            new = _ATOMIC_OPS[op](mask(old, bits), mask(s_val, bits), bits)
            widx = m.store(addr, size, new, ad, ap, sd, sp, **w_kw)
            m.trace.events[widx].intra_d = bit
            m.trace.events[widx].intra_p = bit
            m.trace.rmw.append((ridx, widx))
        m.set(dest, old, od, op_)

    return handler


def _casp(suffix: str) -> Callable[[_Machine, ast.Instruction], None]:
    acq, rel, rest = _ordering(suffix)

    def handler(m: _Machine, ins: ast.Instruction) -> None:
        if rest:
            raise m.unsupported(f"instruction {ins.mnemonic} is not supported")
        ops = _ops(m, ins, 5)
        size = _width(m, ops[0]) // 8
        bits = size * 8
        addr, ad, ap, _ = m.address(ops, 4)
        m.trace.weight *= HERD_CAS_MULTIPLICITY
        s_vals = [m.get(ops[0]), m.get(ops[1])]
        t_vals = [m.get(ops[2]), m.get(ops[3])]
        reads = []
        for k in range(2):
            kw: dict[str, object] = {"atomic": True}
            if acq:
                kw["acquire"] = True
            reads.append(m.load(Addr(addr.base, addr.offset + k * size), size, ad, ap, **kw))
        equal = all(
            old == (mask(sv, bits) if isinstance(sv, int) else sv)
            for (old, _, _, _), (sv, _, _) in zip(reads, s_vals, strict=True)
        )
        if equal:
            sd = s_vals[0][1] | s_vals[1][1]
            sp = s_vals[0][2] | s_vals[1][2]
            for k in range(2):
                tv, td, tp = t_vals[k]
                ridx = reads[k][3]
                widx = m.store(Addr(addr.base, addr.offset + k * size), size, tv, ad, ap, td,
                               tp | sp | sd, atomic=True, release=rel)
                m.trace.events[widx].intra_p = (1 << reads[0][3]) | (1 << reads[1][3]) | sd | sp
                m.trace.rmw.append((ridx, widx))
        for reg, (old, od, op_, _) in zip(ops[:2], reads, strict=True):
            m.set(reg, old, od, op_)

    return handler


def _load_exclusive_pair(acquire: bool) -> Callable[[_Machine, ast.Instruction], None]:
    def handler(m: _Machine, ins: ast.Instruction) -> None:
        ops = _ops(m, ins, 3)
        size = _width(m, ops[0]) // 8
        addr, d, p, _ = m.address(ops, 2)
        kw: dict[str, object] = {"exclusive": True}
        if acquire:
            kw["acquire"] = True
        reads = [m.load(Addr(addr.base, addr.offset + k * size), size, d, p, **kw)
                 for k in range(2)]
        m.pair_monitor = [(m.trace.events[r[3]].cell, r[3]) for r in reads]
        m.trace.sca_groups.append((reads[0][3], reads[1][3]))
        m.monitor = None
        for reg, (value, od, op_, _) in zip(ops[:2], reads, strict=True):
            m.set(reg, value, od, op_)

    return handler


def _store_exclusive_pair(release: bool) -> Callable[[_Machine, ast.Instruction], None]:
    def handler(m: _Machine, ins: ast.Instruction) -> None:
        ops = _ops(m, ins, 4)
        status = ops[0]
        size = _width(m, ops[1]) // 8
        vals = [m.get(ops[1]), m.get(ops[2])]
        succeed = m.read_choice_bool()
        monitor = m.pair_monitor
        m.pair_monitor = None
        addr, d, p, _ = m.address(ops, 3)
        if succeed:
            if monitor is None:
                raise _PathCut()
            first = len(m.trace.events)
            m.trace.sca_groups.append((first, first + 1))
            for k in range(2):
                a = Addr(addr.base, addr.offset + k * size)
                if m.cell(a, size) != monitor[k][0]:
                    raise _PathCut()
                v, vd, vp = vals[k]
                idx = m.store(a, size, v, d, p, vd, vp, exclusive=True, release=release)
                m.trace.rmw.append((monitor[k][1], idx))
        m.set(status, 0 if succeed else 1, CHOICE, CHOICE)

    return handler


def _family_handler(mnemonic: str) -> Handler | None:
    """Atomics are a family (op x ordering x size); build their handlers on demand."""
    if mnemonic in _FAMILY_CACHE:
        return _FAMILY_CACHE[mnemonic]
    handler: Handler | None = None
    if mnemonic.startswith("SWP"):
        handler = _atomic("SWP", None, mnemonic[3:])
    elif mnemonic.startswith("CASP"):
        handler = _casp(mnemonic[4:])
    elif mnemonic.startswith("CAS") and not mnemonic.startswith("CASP"):
        handler = _atomic("CAS", None, mnemonic[3:])
    else:
        for op in _ATOMIC_OPS:
            for kind in ("LD", "ST"):
                if mnemonic.startswith(kind + op):
                    suffix = mnemonic[len(kind + op):]
                    if kind == "ST" and suffix.startswith("A"):
                        continue
                    handler = _atomic(kind, op, suffix)
                    break
            if handler:
                break
    _FAMILY_CACHE[mnemonic] = handler
    return handler


_FAMILY_CACHE: dict[str, Handler | None] = {}

_HANDLERS: dict[str, Handler] = {
    "MOV": _mov, "MOVZ": _movz, "MOVN": _movz, "MOVK": _movk, "MVN": _mvn,
    "AND": _logic, "ANDS": _logic, "ORR": _logic, "EOR": _logic, "EON": _logic,
    "ORN": _logic, "BIC": _logic, "BICS": _logic,
    "ADD": _addsub, "ADDS": _addsub, "SUB": _addsub, "SUBS": _addsub,
    "CMP": _cmp, "CMN": _cmp, "TST": _cmp, "NEG": _neg, "NEGS": _neg,
    "LSL": _shift_ins, "LSR": _shift_ins, "ASR": _shift_ins, "ROR": _shift_ins,
    "MUL": _mul, "MNEG": _mul, "MADD": _mul, "MSUB": _mul,
    "SMULL": _mul, "UMULL": _mul, "SMADDL": _mul, "UMADDL": _mul, "SMSUBL": _mul,
    "UMSUBL": _mul, "SMNEGL": _mul, "UMNEGL": _mul,
    "CSEL": _csel, "CSINC": _csel, "CSINV": _csel, "CSNEG": _csel, "CSET": _csel,
    "CSETM": _csel, "CINC": _csel, "CINV": _csel, "CNEG": _csel,
    "SXTW": _sxtw, "SXTH": _sxtw, "SXTB": _sxtw, "UXTH": _sxtw, "UXTB": _sxtw,
    "UBFM": _bitfield, "SBFM": _bitfield, "ABS": _unary_bits, "RBIT": _unary_bits,
    "REV": _unary_bits, "REV16": _unary_bits, "REV32": _unary_bits, "REV64": _unary_bits,
    "MRS": _mrs, "MSR": _msr,
    "UDF": _udf, "SVC": _svc,
    "ADR": _adr, "BL": _bl, "BLR": _indirect, "BR": _indirect, "RET": _indirect,
    "NOP": _nop, "B": _b, "CBZ": _cbz, "CBNZ": _cbz, "TBZ": _tbz, "TBNZ": _tbz,
    "DMB": _dmb, "DSB": _dmb, "ISB": _isb,
}
for _cc in _CONDS:
    _HANDLERS[f"B.{_cc}"] = _bcond

for _name, _spec in {
    "LDR": _MemSpec(None), "LDUR": _MemSpec(None),
    "LDRB": _MemSpec(1), "LDURB": _MemSpec(1), "LDRH": _MemSpec(2), "LDURH": _MemSpec(2),
    "LDRSB": _MemSpec(1, signed=True), "LDRSH": _MemSpec(2, signed=True),
    "LDRSW": _MemSpec(4, signed=True), "LDURSB": _MemSpec(1, signed=True),
    "LDURSH": _MemSpec(2, signed=True), "LDURSW": _MemSpec(4, signed=True),
    "LDAR": _MemSpec(None, acquire=True), "LDARB": _MemSpec(1, acquire=True),
    "LDARH": _MemSpec(2, acquire=True),
    "LDAPR": _MemSpec(None, acquire_pc=True), "LDAPRB": _MemSpec(1, acquire_pc=True),
    "LDAPRH": _MemSpec(2, acquire_pc=True), "LDAPUR": _MemSpec(None, acquire_pc=True),
    "LDXR": _MemSpec(None, exclusive=True), "LDXRB": _MemSpec(1, exclusive=True),
    "LDXRH": _MemSpec(2, exclusive=True),
    "LDAXR": _MemSpec(None, acquire=True, exclusive=True),
    "LDAXRB": _MemSpec(1, acquire=True, exclusive=True),
    "LDAXRH": _MemSpec(2, acquire=True, exclusive=True),
}.items():
    _HANDLERS[_name] = _load_family(_spec)

for _name, _spec in {
    "STR": _MemSpec(None), "STUR": _MemSpec(None), "STRB": _MemSpec(1), "STURB": _MemSpec(1),
    "STRH": _MemSpec(2), "STURH": _MemSpec(2),
    "STLR": _MemSpec(None, release=True), "STLRB": _MemSpec(1, release=True),
    "STLRH": _MemSpec(2, release=True), "STLUR": _MemSpec(None, release=True),
    "STXR": _MemSpec(None, exclusive=True), "STXRB": _MemSpec(1, exclusive=True),
    "STXRH": _MemSpec(2, exclusive=True),
    "STLXR": _MemSpec(None, release=True, exclusive=True),
    "STLXRB": _MemSpec(1, release=True, exclusive=True),
    "STLXRH": _MemSpec(2, release=True, exclusive=True),
}.items():
    _HANDLERS[_name] = _store_family(_spec)


for _name, _pspec in {
    "LDP": _PairSpec(True), "LDNP": _PairSpec(True), "LDPSW": _PairSpec(True, 4, signed=True),
    "LDAP": _PairSpec(True, acquire=True), "LDIAPP": _PairSpec(True, acquire_pc=True, ordered=True),
    "STP": _PairSpec(False), "STNP": _PairSpec(False), "STLP": _PairSpec(False, release=True),
    "STILP": _PairSpec(False, release=True, ordered=True),
}.items():
    _HANDLERS[_name] = _pair_family(_pspec)


_HANDLERS["LDXP"] = _load_exclusive_pair(False)
_HANDLERS["LDAXP"] = _load_exclusive_pair(True)
_HANDLERS["STXP"] = _store_exclusive_pair(False)
_HANDLERS["STLXP"] = _store_exclusive_pair(True)

# Operand counts of the data-processing and control instructions (memory
# instructions check their own operands), so a malformed line is an input error.
_ARITY: dict[str, tuple[int, int]] = {
    "MOV": (2, 2), "MOVZ": (2, 3), "MOVN": (2, 3), "MOVK": (2, 3), "MVN": (2, 3),
    "NEG": (2, 3), "NEGS": (2, 3), "CMP": (2, 3), "CMN": (2, 3), "TST": (2, 3),
    "LSL": (3, 3), "LSR": (3, 3), "ASR": (3, 3), "ROR": (3, 3),
    "MUL": (3, 3), "MNEG": (3, 3), "MADD": (4, 4), "MSUB": (4, 4),
    "SMULL": (3, 3), "UMULL": (3, 3), "SMNEGL": (3, 3), "UMNEGL": (3, 3),
    "SMADDL": (4, 4), "UMADDL": (4, 4), "SMSUBL": (4, 4), "UMSUBL": (4, 4),
    "CSEL": (4, 4), "CSINC": (4, 4), "CSINV": (4, 4), "CSNEG": (4, 4),
    "CSET": (2, 2), "CSETM": (2, 2), "CINC": (3, 3), "CINV": (3, 3), "CNEG": (3, 3),
    "UBFM": (4, 4), "SBFM": (4, 4), "ISB": (0, 1), "NOP": (0, 0), "RET": (0, 1),
    "BR": (1, 1), "BLR": (1, 1), "UDF": (0, 1), "SVC": (0, 1),
}
for _m in ("AND", "ANDS", "ORR", "EOR", "EON", "ORN", "BIC", "BICS", "ADD", "ADDS", "SUB", "SUBS"):
    _ARITY[_m] = (3, 4)

SUPPORTED_MNEMONICS = frozenset(_HANDLERS)


def is_supported(mnemonic: str) -> bool:
    """Whether we model this mnemonic at all (operand forms may still be refused)."""
    return mnemonic in _HANDLERS or _family_handler(mnemonic) is not None


def check_supported(thread: ast.Thread, path: str) -> None:
    """Refuse a thread up front if it names an instruction we do not model."""
    for line in thread.code:
        ins = line.instruction
        if ins is not None and not is_supported(ins.mnemonic):
            raise UnsupportedError(
                f"instruction {ins.mnemonic} is not supported ({ins.text})",
                Position(path, ins.line, ins.column),
            )


@dataclass
class ThreadPaths:
    """All paths of one thread under a value domain; ``cut`` if a loop bound pruned some."""

    traces: list[ThreadTrace]
    cut: bool


def thread_traces(
    thread: ast.Thread,
    layout: InitialState,
    domain: Mapping[Cell, Sequence[Val]],
    path: str,
    programs: Mapping[int, Sequence[ast.CodeLine]] | None = None,
    nv2: bool = False,
    mixed: bool = False,
) -> ThreadPaths:
    """Every path of ``thread`` with each read taking each value of its cell's domain."""
    ctx = _Context(
        thread.proc, layout, path, programs or {thread.proc: thread.code}, nv2, mixed
    )
    out: list[ThreadTrace] = []
    cut = False
    stack: list[list[Val]] = [[]]
    while stack:
        choices = stack.pop()
        machine = _Machine(ctx, thread.code, choices)
        try:
            out.append(machine.run())
        except _NeedRead as need:
            if need.cell[0] == "<stxr>":
                options: Sequence[Val] = (1, 0)
            else:
                options = domain.get(need.cell, (0,))
            for v in reversed(list(options)):
                stack.append([*choices, v])
        except _PathCut:
            if machine.back_taken and any(c >= UNROLL for c in machine.back_taken.values()):
                cut = True
    return ThreadPaths(out, cut)


__all__ = ["CodeLabel", "ThreadPaths", "check_supported", "thread_traces"]
