"""Register values as expressions over load results, so arithmetic costs no step.

A machine thread's registers hold only what its loads returned (``Thread.regs``);
every other register value (``MOV``, ``ADD``, ``EOR``, ``CSEL``, a comparison
for a branch) is an expression over those load results and constants, built
once when the program is elaborated (``machine/paths.py``) and evaluated when
an instruction needs it.  So arithmetic adds no interleavings, and the
dependencies of an access are simply the loads its expressions mention: Arm ARM
B2.3.6 (Dependency definitions) defines address, data and control dependencies
through registers, "Register data flow" through any data-processing
instruction, which is exactly "mentions the load's register".

Expressions are nested tuples (hashable, comparable, stable across processes):

- ``("c", value)``: a constant (64-bit unsigned);
- ``("r", name)``: the value a load wrote to register slot ``name``;
- ``("p", pick, e)``: the value of ``e``, chosen by the pick (``CSEL``, a
  ``CAS`` outcome) whose guess the ``ASSUME`` named ``pick`` checks: a *pick
  dependency* (herd's ``pick-dep``, aarch64deps.cat) rather than a data one;
- ``(op, width, a, b)`` for ``op`` in ``_BINARY``: ``width``-bit arithmetic;
- ``("cc", cond, width, a, b, kind)``: 1 when condition code ``cond`` holds for
  the flags of ``a - b`` (``kind`` "SUB": ``CMP``, ``SUBS``), ``a + b`` ("ADD":
  ``CMN``, ``ADDS``) or ``a AND b`` ("AND": ``TST``, ``ANDS``), or for the flags
  held in bits 31..28 of ``a`` ("NZCV": ``MSR NZCV``), else 0;
  ``("not", e)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MASK64 = (1 << 64) - 1

Expr = tuple[Any, ...]  # nested tuples, see the module doc
Eval = Callable[[tuple[int, ...]], int]


def _mask(value: int, width: int) -> int:
    return value & ((1 << width) - 1)


def _signed(value: int, width: int) -> int:
    value = _mask(value, width)
    return value - (1 << width) if value >> (width - 1) else value


_BINARY: dict[str, Callable[[int, int, int], int]] = {
    "ADD": lambda a, b, w: _mask(a + b, w),
    "SUB": lambda a, b, w: _mask(a - b, w),
    "EOR": lambda a, b, w: _mask(a ^ b, w),
    "AND": lambda a, b, w: _mask(a & b, w),
    "ORR": lambda a, b, w: _mask(a | b, w),
    "LSL": lambda a, b, w: _mask(a << (b % w), w),
    "LSR": lambda a, b, w: _mask(a, w) >> (b % w),
    "ASR": lambda a, b, w: _mask(_signed(a, w) >> (b % w), w),
    "MUL": lambda a, b, w: _mask(a * b, w),
    "NOT": lambda a, b, w: _mask(~a, w),  # b unused
    "TBIT": lambda a, b, w: (a >> b) & 1,  # bit b of a
    "SXTW": lambda a, b, w: _mask(_signed(a, 32), w),  # b unused: sign-extend a W value
    "UXTW": lambda a, b, w: _mask(a, 32),
    # The other extends of C6.2's extended-register forms (ADD/SUB (extended register)).
    "SXTB": lambda a, b, w: _mask(_signed(a, 8), w),
    "UXTB": lambda a, b, w: _mask(a, 8),
    "SXTH": lambda a, b, w: _mask(_signed(a, 16), w),
    "UXTH": lambda a, b, w: _mask(a, 16),
    "SXTX": lambda a, b, w: _mask(a, w),
    "UXTX": lambda a, b, w: _mask(a, w),
    "MASK": lambda a, b, w: _mask(a, w),  # a W register read: the low 32 bits
    # C6.2 ROR (shifted-register operand), ABS, RBIT, REV/REV16/REV32, SMULL/UMULL
    # (32 x 32 -> 64), UBFM/SBFM (``b`` is ``immr << 8 | imms``; UBFX, LSR #n, ... are aliases).
    "ROR": lambda a, b, w: _mask((_mask(a, w) >> (b % w)) | (a << (w - b % w)), w),
    "ABS": lambda a, b, w: _mask(abs(_signed(a, w)), w),
    "RBIT": lambda a, b, w: _reverse(_mask(a, w), w, 1),
    "REV": lambda a, b, w: _reverse(_mask(a, w), w, 8),
    "REV16": lambda a, b, w: _chunks(_mask(a, w), w, 16),
    "REV32": lambda a, b, w: _chunks(_mask(a, w), w, 32),
    "SMULL": lambda a, b, w: _mask(_signed(a, 32) * _signed(b, 32), w),
    "UMULL": lambda a, b, w: _mask(_mask(a, 32) * _mask(b, 32), w),
    "UBFM": lambda a, b, w: _bitfield(_mask(a, w), b >> 8, b & 0xFF, w, False),
    "SBFM": lambda a, b, w: _bitfield(_mask(a, w), b >> 8, b & 0xFF, w, True),
}


def _reverse(value: int, width: int, unit: int) -> int:
    """``value``'s ``width`` bits with the order of its ``unit``-bit pieces reversed."""
    out = 0
    for k in range(0, width, unit):
        out |= ((value >> k) & ((1 << unit) - 1)) << (width - unit - k)
    return out


def _chunks(value: int, width: int, chunk: int) -> int:
    """The bytes of each ``chunk``-bit piece of ``value`` reversed (REV16, REV32)."""
    out = 0
    for k in range(0, width, chunk):
        out |= _reverse((value >> k) & ((1 << chunk) - 1), chunk, 8) << k
    return out


def _bitfield(value: int, immr: int, imms: int, width: int, signed: bool) -> int:
    """UBFM/SBFM Rd, Rn, #immr, #imms (C6.2): with imms >= immr, bits imms..immr of Rn
    to the bottom of Rd (UBFX); otherwise bits imms..0 of Rn to bit width - immr (UBFIZ)."""
    if imms >= immr:
        length = imms - immr + 1
        field = (value >> immr) & ((1 << length) - 1)
        shift = 0
    else:
        length = imms + 1
        field = value & ((1 << length) - 1)
        shift = width - immr
    if signed:
        field = _signed(field, length)
    return _mask(field << shift, width)


def const(value: int) -> Expr:
    return ("c", value & MASK64)


def reg(name: str) -> Expr:
    return ("r", name)


def binary(op: str, width: int, a: Expr, b: Expr) -> Expr:
    """``a op b``, folded when both are constants (sources are unchanged by folding:
    ``dependencies`` reads the expression before any folding the caller does)."""
    return (op, width, a, b)


def flags_cond(cond: str, width: int, a: Expr, b: Expr, kind: str = "SUB") -> Expr:
    return ("cc", cond, width, a, b, kind)


def negate(e: Expr) -> Expr:
    return e[1] if e[0] == "not" else ("not", e)


def pick(name: str, e: Expr) -> Expr:
    return ("p", name, e)


def _condition(cond: str, a: int, b: int, width: int, kind: str = "SUB") -> bool:
    """Arm condition codes (C1.2.4 Condition code) on the NZCV flags that ``SUBS``
    (``a - b``), ``ADDS`` (``a + b``) or ``ANDS`` (``a AND b``) set (C6.2)."""
    ua, ub = _mask(a, width), _mask(b, width)
    if kind == "NZCV":  # flags written directly (MSR NZCV, Xt: C5.2 NZCV, bits 31..28)
        n, z, c, v = (ua >> 31 & 1, ua >> 30 & 1, ua >> 29 & 1, ua >> 28 & 1)
        return _table(cond, n, z, c, v)
    if kind == "AND":
        res = ua & ub
        c = v = 0
    elif kind == "ADD":
        res = _mask(ua + ub, width)
        c = int(ua + ub >= 1 << width)
        v = int(_signed(ua, width) + _signed(ub, width) != _signed(res, width))
    else:
        res = _mask(ua - ub, width)
        c = int(ua >= ub)
        v = int(_signed(ua, width) - _signed(ub, width) != _signed(res, width))
    n = res >> (width - 1) & 1
    z = int(res == 0)
    return _table(cond, n, z, c, v)


def _table(cond: str, n: int, z: int, c: int, v: int) -> bool:
    """C1.2.4 Condition code: whether ``cond`` holds for the flags N, Z, C, V."""
    table = {
        "EQ": z == 1, "NE": z == 0, "CS": c == 1, "HS": c == 1, "CC": c == 0, "LO": c == 0,
        "MI": n == 1, "PL": n == 0, "VS": v == 1, "VC": v == 0,
        "HI": c == 1 and z == 0, "LS": not (c == 1 and z == 0),
        "GE": n == v, "LT": n != v, "GT": z == 0 and n == v, "LE": not (z == 0 and n == v),
        "AL": True, "NV": True,
    }
    return table[cond]


CONDITIONS = frozenset(
    ("EQ", "NE", "CS", "HS", "CC", "LO", "MI", "PL", "VS", "VC", "HI", "LS", "GE", "LT", "GT", "LE", "AL")
)


def evaluate(e: Expr, value_of: Callable[[str], int]) -> int:
    """The value of ``e`` given the load results ``value_of(slot)``."""
    tag = e[0]
    if tag == "c":
        return int(e[1])
    if tag == "r":
        return value_of(e[1])
    if tag == "p":
        return evaluate(e[2], value_of)
    if tag == "not":
        return int(not evaluate(e[1], value_of))
    if tag == "cc":
        _, cond, width, a, b, kind = e
        return int(_condition(cond, evaluate(a, value_of), evaluate(b, value_of), width, kind))
    op, width, a, b = e
    return _BINARY[op](evaluate(a, value_of), evaluate(b, value_of), width)


def fold(e: Expr) -> Expr:
    """``e`` with every load-free subexpression computed, and the algebraic identities
    that make herd's false dependencies constant (``x EOR x``, ``x SUB x``, ``x AND 0``).
    Used for *where* an access goes, never for *what it depends on*."""
    tag = e[0]
    if tag in ("c", "r"):
        return e
    if tag == "p":
        return fold(e[2])
    if tag == "not":
        inner = fold(e[1])
        return const(int(not inner[1])) if inner[0] == "c" else ("not", inner)
    if tag == "cc":
        _, cond, width, a, b, kind = e
        fa, fb = fold(a), fold(b)
        if fa[0] == "c" and fb[0] == "c":
            return const(int(_condition(cond, fa[1], fb[1], width, kind)))
        if fa == fb and kind == "SUB":  # the flags of x - x do not depend on x
            return const(int(_condition(cond, 0, 0, width)))
        return ("cc", cond, width, fa, fb, kind)
    op, width, a, b = e
    fa, fb = fold(a), fold(b)
    if fa[0] == "c" and fb[0] == "c":
        return const(_BINARY[op](fa[1], fb[1], width))
    if fa == fb and op in ("EOR", "SUB"):
        return const(0)
    if op == "AND" and (fa == ("c", 0) or fb == ("c", 0)):
        return const(0)
    return (op, width, fa, fb)


def constant(e: Expr) -> int | None:
    """The value of ``e`` when it does not depend on any load result."""
    f = fold(e)
    return int(f[1]) if f[0] == "c" else None


def dependencies(e: Expr) -> tuple[frozenset[str], frozenset[str]]:
    """The register slots ``e`` reads (B2.3.6 Register data flow) and the picks it
    went through: ``(data, picks)``."""
    data: set[str] = set()
    picks: set[str] = set()

    def walk(x: Expr) -> None:
        tag = x[0]
        if tag == "c":
            return
        if tag == "r":
            data.add(x[1])
        elif tag == "p":
            picks.add(x[1])
            walk(x[2])
        elif tag == "not":
            walk(x[1])
        elif tag == "cc":
            walk(x[3])
            walk(x[4])
        else:
            walk(x[2])
            walk(x[3])

    walk(e)
    return frozenset(data), frozenset(picks)


def compile_expr(e: Expr, slots: dict[str, int]) -> Eval:
    """``e`` as a function of a thread's register tuple (``Thread.regs``), for speed."""
    folded = fold(e)
    if folded[0] == "c":
        value = int(folded[1])
        return lambda regs: value
    if folded[0] == "r":
        slot = slots[folded[1]]
        return lambda regs: regs[slot]
    names = {name: slots[name] for name in dependencies(folded)[0]}
    return lambda regs: evaluate(folded, lambda name: regs[names[name]])
