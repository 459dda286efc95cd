"""Parse the assembly-like program notation (lark grammar ``program.lark``).

Parsing happens once, when a scenario is built; errors carry the position of
the offending token so a user can jump to it.  The set/way loop macro expands
here, into one ``DC <op> <level>, <line>`` per line, so a migration between two
iterations is an ordinary interleaving.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from importlib import resources

from lark import Lark, Token, Transformer, UnexpectedInput, v_args

from stalecheck.errors import InputError, Position
from stalecheck.machine.isa import ACQUIRE, ACQUIRE_PC, RELEASE, Instr
from stalecheck.machine.paths import Address, Operand, Src

# Terminal names as a user would write them, for "expected one of" hints.
_TERMINALS = {
    "COMMA": "','",
    "DOT": "'.'",
    "LOC": "a location",
    "REG": "a register (r1, x2)",
    "INT": "a number",
    "NAME": "a name",
    "LEVEL": "a cache level (L1, L2)",
    "DCVA": "a DC by-VA op (CVAC, CIVAC, CVAU, IVAC)",
    "DCSW": "a set/way op (CSW, CISW, ISW)",
    "BOPT": "a barrier option (SY, ISH, ISHST, ...)",
    "FIELD": "an SCTLR_EL1 field",
    "SYSREG": "SCTLR_EL1",
    "_NL": "end of line",
    "AT_LEAST": "'>='",
}


@cache
def _parser() -> Lark:
    grammar = resources.files("stalecheck.machine").joinpath("program.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _int(token: Token) -> int:
    """Decimal (leading zeros allowed, as in assembly) or 0x hexadecimal."""
    text = str(token)
    negative = text.startswith("-")
    digits = text.lstrip("-")
    value = int(digits, 16) if digits.lower().startswith("0x") else int(digits, 10)
    return -value if negative else value


def _pos(token: Token) -> tuple[int, int]:
    return (token.line or 0, token.column or 0)


@v_args(meta=True, inline=True)
class _ToInstr(Transformer[Token, list[Instr | Src]]):
    def __init__(self, text: str) -> None:
        super().__init__()
        self._lines = text.splitlines()

    def _instr(self, meta: object, op: str, **kw: object) -> Instr:
        line = getattr(meta, "line", 0)
        column = getattr(meta, "column", 0)
        end = getattr(meta, "end_column", column)
        src = self._lines[line - 1][column - 1 : end - 1] if 0 < line <= len(self._lines) else ""
        return Instr(op, text=" ".join(src.split()), line=line, column=column, **kw)  # type: ignore[arg-type]

    def start(self, meta: object, *items: Instr | Src | list[Instr]) -> list[Instr | Src]:
        out: list[Instr | Src] = []
        for item in items:
            out.extend(item if isinstance(item, list) else [item])
        return out

    def imm(self, meta: object, tok: Token) -> tuple[str, int]:
        return ("", _int(tok))

    def regval(self, meta: object, tok: Token) -> tuple[str, int]:
        return (str(tok), 0)

    def store(
        self, meta: object, op: Token, loc: Token, operand: tuple[str, int] | Address
    ) -> Instr | Src:
        if isinstance(operand, Address):
            if loc.type != "REG":
                line, col = _pos(loc)
                raise InputError(
                    f"{loc} is not a register: STR reg, [reg] stores a register",
                    Position("<program>", line, col),
                    self._lines[line - 1] if 0 < line <= len(self._lines) else None,
                )
            return self._src(meta, "ST", Operand("reg", str(loc)), operand, str(op).upper() == "STLR")
        kind = RELEASE if str(op).upper() == "STLR" else ""
        return self._instr(meta, "STR", kind=kind, loc=str(loc), reg=operand[0], value=operand[1])

    def load(self, meta: object, op: Token, reg: Token, loc: Token | Address) -> Instr | Src:
        kind = {"LDAR": ACQUIRE, "LDAPR": ACQUIRE_PC}.get(str(op).upper(), "")
        if isinstance(loc, Address):
            return self._src(meta, "LD", str(reg), loc, {ACQUIRE: "A", ACQUIRE_PC: "Q"}.get(kind, ""), False)
        return self._instr(meta, "LDR", kind=kind, reg=str(reg), loc=str(loc))

    # ---- registers, branches and atomics (machine/paths.py) ----------------------------

    def _src(self, meta: object, op: str, *args: object) -> Src:
        line = getattr(meta, "line", 0)
        column = getattr(meta, "column", 0)
        end = getattr(meta, "end_column", column)
        text = self._lines[line - 1][column - 1 : end - 1] if 0 < line <= len(self._lines) else ""
        return Src(op, args, " ".join(text.split()), line, column)

    @staticmethod
    def _where(x: Token | Address) -> Address:
        return x if isinstance(x, Address) else Address(Operand("loc", str(x)))

    @staticmethod
    def _operand(x: Token | Operand) -> Operand:
        return x if isinstance(x, Operand) else Operand("reg", str(x))

    def imm_(self, meta: object, tok: Token) -> Operand:
        return Operand("imm", value=_int(tok))

    def mem(self, meta: object, base: Token, offset: Token | Operand | None = None) -> Address:
        return Address(Operand("reg", str(base)), None if offset is None else self._operand(offset))

    def label(self, meta: object, tok: Token) -> Src:
        return self._src(meta, "LABEL", str(tok)[:-1])

    def mov(self, meta: object, _kw: Token, rd: Token, value: Token | Operand) -> Src:
        return self._src(meta, "MOV", str(rd), self._operand(value))

    def adr(self, meta: object, _kw: Token, rd: Token, loc: Token) -> Src:
        return self._src(meta, "MOV", str(rd), Operand("loc", str(loc)))

    def alu(self, meta: object, op: Token, rd: Token, rn: Token, value: Token | Operand) -> Src:
        return self._src(meta, "ALU", str(op).upper(), str(rd), str(rn), self._operand(value))

    def cmp(self, meta: object, _kw: Token, rn: Token, value: Token | Operand) -> Src:
        return self._src(meta, "CMP", str(rn), self._operand(value))

    def csel(self, meta: object, _kw: Token, rd: Token, rn: Token, rm: Token, cond: Token) -> Src:
        return self._src(meta, "CSEL", str(rd), str(rn), str(rm), str(cond).upper())

    def branch(self, meta: object, _kw: Token, label: Token) -> Src:
        return self._src(meta, "B", "", str(label))

    def bcond(self, meta: object, op: Token, label: Token) -> Src:
        return self._src(meta, "B", str(op).upper()[2:], str(label))

    def cbz(self, meta: object, op: Token, reg: Token, label: Token) -> Src:
        return self._src(meta, "CBZ", str(reg), str(label), str(op).upper() == "CBNZ")

    def load_x(self, meta: object, op: Token, reg: Token, where: Token | Address) -> Src:
        order = "A" if str(op).upper() == "LDAXR" else ""
        return self._src(meta, "LD", str(reg), self._where(where), order, True)

    def store_x(
        self, meta: object, op: Token, status: Token, value: Token | Operand, where: Token | Address
    ) -> Src:
        release = str(op).upper() == "STLXR"
        return self._src(meta, "STX", str(status), self._operand(value), self._where(where), release)

    def cas(self, meta: object, op: Token, rs: Token, rt: Token, where: Token | Address) -> Src:
        acq, rel = _order_suffix(str(op)[3:])
        return self._src(meta, "CAS", str(rs), str(rt), self._where(where), acq, rel)

    def swp(self, meta: object, op: Token, rs: Token, rt: Token, where: Token | Address) -> Src:
        acq, rel = _order_suffix(str(op)[3:])
        return self._src(meta, "SWP", str(rs), str(rt), self._where(where), acq, rel)

    def ldop(self, meta: object, op: Token, rs: Token, rt: Token, where: Token | Address) -> Src:
        text = str(op).upper()
        name = next(n for n in _LDOPS if text.startswith("LD" + n))
        acq, rel = _order_suffix(text[2 + len(name) :])
        return self._src(meta, "LDOP", _LDOPS[name], str(rs), str(rt), self._where(where), acq, rel)

    def stop(self, meta: object, op: Token, rs: Token, where: Token | Address) -> Src:
        text = str(op).upper()
        name = next(n for n in _LDOPS if text.startswith("ST" + n))
        _, rel = _order_suffix(text[2 + len(name) :])
        return self._src(meta, "LDOP", _LDOPS[name], str(rs), "xzr", self._where(where), False, rel)

    def dc_va(self, meta: object, kind: Token, loc: Token) -> Instr:
        return self._instr(meta, "DC", kind=str(kind).upper(), loc=str(loc))

    def dc_sw(self, meta: object, kind: Token, level: Token, loc: Token) -> Instr:
        return self._instr(meta, "DCSW", kind=str(kind).upper(), level=str(level), loc=str(loc))

    def setway_loop(self, meta: object, kind: Token, *levels: Token) -> list[Instr]:
        # The loop's lines are only known when the scenario is built; ``*`` marks
        # "every line", expanded by ``expand_setway``.
        return [
            self._instr(meta, "DCSW", kind=str(kind).upper(), level=str(level), loc="*") for level in levels
        ]

    def ic(self, meta: object, kind: Token, loc: Token | None = None) -> Instr:
        return self._instr(meta, "IC", kind=str(kind).upper(), loc=str(loc) if loc else "")

    def exec(self, meta: object, reg: Token, loc: Token) -> Instr:
        return self._instr(meta, "EXEC", reg=str(reg), loc=str(loc))

    def tlbi(self, meta: object, kind: Token, loc: Token | None = None) -> Instr:
        return self._instr(meta, "TLBI", kind=str(kind).upper(), loc=str(loc) if loc else "")

    def barrier(self, meta: object, op: Token, option: Token) -> Instr:
        return self._instr(meta, str(op).upper(), kind=str(option).upper())

    def isb(self, meta: object) -> Instr:
        return self._instr(meta, "ISB")

    def msr(self, meta: object, reg: Token, fld: Token, value: Token) -> Instr:
        name = str(fld)
        if name not in ("M", "C", "I"):
            line, col = _pos(fld)
            raise InputError(
                f"SCTLR_EL1 field {name!r} is not modelled (M, C and I are)",
                Position("<program>", line, col),
                self._lines[line - 1] if 0 < line <= len(self._lines) else None,
            )
        v = _int(value)
        if v not in (0, 1):
            line, col = _pos(value)
            raise InputError(
                f"SCTLR_EL1.{name} is one bit; got {v}",
                Position("<program>", line, col),
                self._lines[line - 1] if 0 < line <= len(self._lines) else None,
            )
        return self._instr(meta, "MSR", kind=name, value=v)

    def signal(self, meta: object, name: Token) -> Instr:
        return self._instr(meta, "SIGNAL", loc=str(name))

    def wait(self, meta: object, name: Token) -> Instr:
        return self._instr(meta, "WAIT", loc=str(name))

    def map(self, meta: object, name: Token) -> Instr:
        return self._instr(meta, "MAP", loc=str(name))

    def await_(self, meta: object, op: Token, loc: Token, *rest: Token) -> Instr:
        kind = ACQUIRE if str(op).upper() == "AWAITA" else ""
        value, at_least = _int(rest[-1]), len(rest) == 2
        return self._instr(meta, "AWAIT", kind=kind, loc=str(loc), value=value, at_least=at_least)

    def nop(self, meta: object) -> Instr:
        return self._instr(meta, "NOP")


_LDOPS = {"ADD": "ADD", "EOR": "EOR", "SET": "ORR"}


def _order_suffix(suffix: str) -> tuple[bool, bool]:
    s = suffix.upper()
    return ("A" in s, "L" in s)


def parse_program(text: str, source: str = "<program>", first_line: int = 1) -> tuple[Instr, ...]:
    """Parse ``text`` into plain instructions (no registers, branches or atomics, which
    only a thread's program may have: ``parse_elements``)."""
    out: list[Instr] = []
    for item in parse_elements(text, source, first_line):
        if not isinstance(item, Instr):
            raise InputError(
                f"{item.text or item.op}: registers, branches and atomics are only allowed in "
                "a thread's program", Position(source, item.line, item.column),
            )
        out.append(item)
    return tuple(out)


def parse_elements(text: str, source: str = "<program>", first_line: int = 1) -> tuple[Instr | Src, ...]:
    """Parse ``text`` into instructions and, for registers, branches and atomics, the
    elements ``machine/paths.py`` elaborates; ``source``/``first_line`` place errors in
    the file the program came from (e.g. a scenario module's line)."""
    try:
        tree = _parser().parse(text)
        instrs = _ToInstr(text).transform(tree)
    except UnexpectedInput as err:
        line = getattr(err, "line", 0) or 0
        column = getattr(err, "column", 0) or 0
        lines = text.splitlines()
        src = lines[line - 1] if 0 < line <= len(lines) else None
        raw = getattr(err, "expected", None) or getattr(err, "allowed", None) or []
        expected = sorted(_TERMINALS.get(name, name) for name in raw)
        hint = f" (expected one of: {', '.join(expected[:8])})" if expected else ""
        raise InputError(
            f"cannot parse program{hint}",
            Position(source, line + first_line - 1 if line else 0, column),
            src,
        ) from None
    except Exception as err:  # lark wraps transformer errors in VisitError
        inner = getattr(err, "orig_exc", None)
        if isinstance(inner, InputError):
            pos = inner.position
            raise InputError(
                inner.message,
                Position(source, (pos.line + first_line - 1) if pos else 0, pos.column if pos else 0),
                inner.source_line,
            ) from None
        raise
    # Positions relative to the file the program sits in, so later checks
    # (unknown location, bad register) can point at the same spot.
    return tuple(
        (replace(i, line=i.line + first_line - 1, source=source) if i.line else replace(i, source=source))
        if isinstance(i, Instr)
        else i._replace(line=i.line + first_line - 1 if i.line else 0, source=source)
        for i in instrs
    )
