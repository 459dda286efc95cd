"""Helpers shared by the instruction semantics: operands, shifts, flags, conditions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stalecheck.axiomatic.machine import Tainted, ThreadMachine
from stalecheck.axiomatic.values import MASK64, Addr, Val, mask, signed
from stalecheck.litmus import ast


def expect_operands(
    m: ThreadMachine, ins: ast.Instruction, n: int | tuple[int, ...]
) -> tuple[ast.Operand, ...]:
    allowed = (n,) if isinstance(n, int) else n
    if len(ins.operands) not in allowed:
        raise m.bad_input(f"{ins.mnemonic} takes {' or '.join(map(str, allowed))} operands")
    return ins.operands


def width_of(m: ThreadMachine, op: ast.Operand) -> int:
    if not isinstance(op, ast.Reg):
        raise m.bad_input("expected a register")
    return m.reg_width(op.name)


def shifted_operand(m: ThreadMachine, ops: Sequence[ast.Operand], at: int, width: int) -> Tainted:
    """Operand 2 of a data-processing instruction: immediate, or register with shift/extend."""
    v, d, p = m.get(ops[at])
    if at + 1 < len(ops):
        mod = ops[at + 1]
        if not isinstance(v, int):
            raise m.unsupported("shifting an address")
        if isinstance(mod, ast.Shift):
            v = apply_shift(m, mod.kind, v, mod.amount, width)
        elif isinstance(mod, ast.Reg):
            v = apply_shift(m, mod.name.upper(), v, 0, width)
        else:
            raise m.bad_input("bad shift operand")
    return (v, d, p)


def apply_shift(m: ThreadMachine, kind: str, v: int, amount: int, width: int) -> int:
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


def nzcv(result: int, width: int, carry: int, overflow: int) -> tuple[int, int, int, int]:
    r = mask(result, width)
    return (r >> (width - 1) & 1, int(r == 0), carry, overflow)


def add_with_flags(a: int, b: int, width: int, carry_in: int = 0) -> tuple[int, tuple[int, ...]]:
    ua, ub = mask(a, width), mask(b, width)
    total = ua + ub + carry_in
    res = mask(total, width)
    c = int(total >> width != 0)
    sa, sb, sr = signed(ua, width), signed(ub, width), signed(res, width)
    v = int(sa + sb + carry_in != sr)
    return res, nzcv(res, width, c, v)


def arith(
    m: ThreadMachine, a: Val, b: Val, op: str, width: int
) -> tuple[Val, tuple[int, ...] | None]:
    """ADD/SUB (and their flag-setting forms) over ints and symbolic addresses."""
    if isinstance(a, int) and isinstance(b, int):
        if op == "add":
            return add_with_flags(a, b, width)
        return add_with_flags(a, mask(~b, width), width, 1)
    if isinstance(a, Addr) and isinstance(b, int):
        delta = signed(b, width) if op == "add" else -signed(b, width)
        return Addr(a.base, a.offset + delta), None
    if isinstance(a, int) and isinstance(b, Addr) and op == "add":
        return Addr(b.base, b.offset + signed(a, width)), None
    if isinstance(a, Addr) and isinstance(b, Addr) and op == "sub" and a.base == b.base:
        diff = (a.offset - b.offset) & MASK64
        return add_with_flags(diff, 0, width)
    if a == b and op == "sub":
        return 0, (0, 1, 1, 0)
    if op == "sub":
        return 1, (0, 0, 1, 0)  # distinct symbols compare unequal (herd: Z clear)
    raise m.unsupported("arithmetic on addresses is not supported")


CONDITIONS: dict[str, Callable[[int, int, int, int], bool]] = {
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


def condition_holds(m: ThreadMachine, name: str) -> tuple[bool, int, int]:
    """Evaluate a condition code on NZCV: (holds, dtrm sources, pick sources)."""
    code = name.upper()
    if code not in CONDITIONS:
        raise m.bad_input(f"unknown condition {name}")
    if m.flags is None:
        n = z = c = v = 0
        d = p = 0
    else:
        n, z, c, v, d, p = m.flags
    return CONDITIONS[code](n, z, c, v), d, p


def set_flags(m: ThreadMachine, flags: tuple[int, ...] | None, d: int, p: int) -> None:
    if flags is None:
        raise m.unsupported("condition flags from address arithmetic")
    n, z, c, v = flags
    m.flags = (n, z, c, v, d, p | d)


def branch_target(m: ThreadMachine, op: ast.Operand) -> str:
    if isinstance(op, ast.Reg):
        return op.name
    if isinstance(op, ast.RelLabel):
        if op.offset % 4:
            raise m.bad_input(f"branch offset .{op.offset:+d} is not a multiple of 4")
        return f".{op.offset:+d}"
    raise m.unsupported("branch target form is not supported (only labels)")

