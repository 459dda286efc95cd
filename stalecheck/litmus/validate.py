"""Checks on a parsed litmus test that the grammar cannot express.

The grammar reads instructions and conditions generically, so a test can parse
and still be something herd7 refuses: a register that does not exist
(``MOV Wibble,#1``, ``LDR X99,...``), a condition on a thread the test does not
have, a label defined twice, a value that does not fit in 64 bits.  Each is an
``InputError`` at the spot, before any semantics run, so nothing is silently
wrapped, ignored or guessed.  Sizes are bounded here too (arrays, shifts): an
absurd size would otherwise cost gigabytes before anything could complain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from stalecheck.errors import InputError, Position
from stalecheck.litmus import ast

# Every value of a 64-bit register, written signed or unsigned (herd reads
# constants as 64-bit; more digits than that is a typo, not a value).
MIN_VALUE = -(1 << 63)
MAX_VALUE = (1 << 64) - 1
# A W register's 32 bits, for a MOV of a constant into one (C6.2, MOV (wide immediate)).
MIN_WORD = -(1 << 31)
MAX_WORD = (1 << 32) - 1
_MOVES = frozenset({"MOV", "MOVZ", "MOVN", "MOVK"})
# LDR/STR (immediate, unsigned offset) reach imm12 elements of the access size
# (Arm ARM C6.2, LDR (immediate)): an array a litmus test can address with
# immediates has at most 4096 elements.
MAX_ARRAY_ELEMENTS = 4096
# A shift amount is below the register width (C6.2, LSL (immediate): 0-63 for X).
MAX_SHIFT = 63
# MOVZ/MOVN/MOVK take LSL #0, #16, #32 or #48 (C6.2, MOVK: hw:'0000').
_WIDE_MOVES = frozenset({"MOVK", "MOVZ", "MOVN"})
_WIDE_SHIFTS = frozenset({0, 16, 32, 48})
_SHIFT_BY_IMMEDIATE = frozenset({"LSL", "LSR", "ASR", "ROR"})

# A general-purpose register name: W0-W30, X0-X30, WZR, XZR, WSP (SP has no W/X).
_GPR = re.compile(r"[WX](\d{1,2}|ZR)|WSP", re.IGNORECASE)
# Where an operand starting with W or X is meant as a register (system instructions
# name system registers and operations, which may start with either letter).
_LOOKS_LIKE_GPR = re.compile(r"[WX][0-9A-Z_]*", re.IGNORECASE)
_SYSTEM = frozenset({"MRS", "MSR", "SYS", "SYSL", "TLBI", "DC", "IC", "AT", "PRFM", "HINT"})


def _fail(message: str, test: ast.LitmusTest, line: int, column: int = 0) -> InputError:
    return InputError(message, Position(test.path, line, column), test.source_line(line))


def _is_gpr(name: str) -> bool:
    if not _GPR.fullmatch(name):
        return False
    digits = name[1:]
    return not digits.isdigit() or int(digits) <= 30


def _operands(ops: tuple[ast.Operand, ...]) -> Iterator[ast.Operand]:
    for op in ops:
        yield op
        if isinstance(op, ast.Mem | ast.OperandList):
            yield from _operands(op.parts if isinstance(op, ast.Mem) else op.items)


def _check_value(value: int, what: str, test: ast.LitmusTest, line: int, column: int = 0) -> None:
    if not MIN_VALUE <= value <= MAX_VALUE:
        raise _fail(
            f"{what} {value} does not fit in 64 bits ({MIN_VALUE} to {MAX_VALUE})", test, line, column
        )


def _check_instruction(ins: ast.Instruction, names: set[str], test: ast.LitmusTest) -> None:
    ops = ins.operands
    for op in _operands(ops):
        if isinstance(op, ast.Reg) and ins.mnemonic not in _SYSTEM:
            name = op.name
            if "%" in name or name in names:
                continue  # a symbolic register, a label or a location name
            if _LOOKS_LIKE_GPR.fullmatch(name) and not _is_gpr(name):
                raise _fail(
                    f"{name} is not an AArch64 register (W0-W30, X0-X30, WZR, XZR, SP, WSP)",
                    test, ins.line, ins.column,
                )
        elif isinstance(op, ast.Imm):
            _check_value(op.value, "immediate", test, ins.line, ins.column)
        elif isinstance(op, ast.Shift) and not 0 <= op.amount <= MAX_SHIFT:
            raise _fail(
                f"shift amount {op.amount} is out of range (0 to {MAX_SHIFT})", test, ins.line, ins.column
            )
    if (
        ins.mnemonic in _MOVES and len(ops) >= 2 and isinstance(ops[0], ast.Reg)
        and ops[0].name.upper().startswith("W") and isinstance(ops[1], ast.Imm)
        and not MIN_WORD <= ops[1].value <= MAX_WORD
    ):
        raise _fail(
            f"{ins.mnemonic} {ops[0].name},#{ops[1].value}: a W register holds 32 bits "
            f"({MIN_WORD} to {MAX_WORD})", test, ins.line, ins.column,
        )
    shifts = [op for op in ops if isinstance(op, ast.Shift) and op.kind == "LSL"]
    if ins.mnemonic in _WIDE_MOVES and any(s.amount not in _WIDE_SHIFTS for s in shifts):
        raise _fail(f"{ins.mnemonic} shifts by LSL #0, #16, #32 or #48 only", test, ins.line, ins.column)
    if (
        ins.mnemonic in _SHIFT_BY_IMMEDIATE and len(ops) == 3 and isinstance(ops[2], ast.Imm)
        and not 0 <= ops[2].value <= MAX_SHIFT
    ):
        raise _fail(
            f"{ins.mnemonic} by #{ops[2].value} is out of range (0 to {MAX_SHIFT})",
            test, ins.line, ins.column,
        )


def _check_code(test: ast.LitmusTest) -> None:
    labels = {lab for t in test.threads for line in t.code for lab in line.labels}
    names = labels | {n for n in _init_names(test)}
    for thread in test.threads:
        defined: set[str] = set()
        for line in thread.code:
            for label in line.labels:
                if label in defined:
                    raise _fail(f"label {label} is defined twice on P{thread.proc}", test, line.line)
                defined.add(label)
            if line.instruction is not None:
                _check_instruction(line.instruction, names, test)


def _init_names(test: ast.LitmusTest) -> Iterator[str]:
    for item in test.init:
        if isinstance(item.location, ast.GlobalLoc):
            yield item.location.name
        if isinstance(item.value, ast.NameValue | ast.IndexValue):
            yield item.value.name


def _check_index(index: int | None, name: str, test: ast.LitmusTest, line: int, column: int = 0) -> None:
    if index is not None and not 0 <= index < MAX_ARRAY_ELEMENTS:
        raise _fail(
            f"index {index} of {name} is out of range (arrays have at most {MAX_ARRAY_ELEMENTS} elements)",
            test, line, column,
        )


def _check_location(loc: ast.Location, test: ast.LitmusTest, line: int, column: int = 0) -> None:
    threads = len(test.threads)
    if isinstance(loc, ast.RegLoc | ast.LabelLoc) and loc.proc >= threads:
        raise _fail(
            f"thread {loc.proc} does not exist (the test has P0 to P{threads - 1})", test, line, column
        )
    if isinstance(loc, ast.GlobalLoc):
        _check_index(loc.index, loc.name, test, line, column)


def _check_value_node(value: ast.Value, test: ast.LitmusTest, line: int, column: int = 0) -> None:
    if isinstance(value, ast.IntValue):
        _check_value(value.value, "value", test, line, column)
    elif isinstance(value, ast.ArrayValue):
        if len(value.items) > MAX_ARRAY_ELEMENTS:
            raise _fail(f"more than {MAX_ARRAY_ELEMENTS} array elements", test, line, column)
        for item in value.items:
            _check_value(item, "value", test, line, column)
    elif isinstance(value, ast.IndexValue):
        _check_index(value.index, value.name, test, line, column)
    elif isinstance(value, ast.LabelValue) and value.proc >= len(test.threads):
        raise _fail(f"thread {value.proc} does not exist", test, line, column)
    elif isinstance(value, ast.OtherValue) and value.text.startswith('label:"'):
        inner = value.text[len('label:"'):].rstrip('"')
        if not re.fullmatch(r"P?\d+:[A-Za-z_][A-Za-z0-9_.]*", inner):
            raise _fail(f'label:"{inner}" must name a thread and a label, as in label:"P0:L1"',
                        test, line, column)
        proc = int(inner.split(":", 1)[0].lstrip("P"))
        if proc >= len(test.threads):
            raise _fail(f"thread {proc} does not exist", test, line, column)


def _props(prop: ast.Prop) -> Iterator[ast.Prop]:
    """Every node of a proposition, without recursion (a long ``/\\`` chain is fine)."""
    stack = [prop]
    while stack:
        p = stack.pop()
        yield p
        if isinstance(p, ast.Not):
            stack.append(p.prop)
        elif isinstance(p, ast.And | ast.Or):
            stack.extend(p.props)
        elif isinstance(p, ast.Implies):
            stack.extend((p.left, p.right))


def _check_prop(prop: ast.Prop, test: ast.LitmusTest, line: int) -> None:
    for p in _props(prop):
        if isinstance(p, ast.Eq):
            _check_location(p.location, test, line)
            _check_value_node(p.value, test, line)
        elif isinstance(p, ast.Call):
            for v in p.args:
                _check_value_node(v, test, line)


def _check_init(test: ast.LitmusTest) -> None:
    declared: dict[object, int] = {}
    for item in test.init:
        loc = item.location
        if isinstance(loc, ast.GlobalLoc) and item.type_name is not None and loc.index is not None:
            if not 1 <= loc.index <= MAX_ARRAY_ELEMENTS:
                raise _fail(
                    f"array {loc.name} has {loc.index} elements; an array has 1 to "
                    f"{MAX_ARRAY_ELEMENTS}", test, item.line, item.column,
                )
            key: object = loc.name
        else:
            _check_location(loc, test, item.line, item.column)
            # ``x`` and ``int x[2]`` declare the same name twice; ``x[1]=3`` sets one element.
            key = loc.name if isinstance(loc, ast.GlobalLoc) and loc.index is None else loc
        if key in declared and (item.type_name is not None or item.value is not None):
            raise _fail(
                f"{_spell(loc)} is already declared on line {declared[key]}", test, item.line, item.column
            )
        if item.type_name is not None or item.value is not None:
            declared[key] = item.line
        if item.value is not None:
            _check_value_node(item.value, test, item.line, item.column)


def _spell(loc: ast.Location) -> str:
    if isinstance(loc, ast.RegLoc):
        return f"{loc.proc}:{loc.reg}"
    if isinstance(loc, ast.GlobalLoc):
        return loc.name
    return str(loc)


def validate(test: ast.LitmusTest) -> None:
    """Raise ``InputError`` at the first construct herd7 would refuse (see the module doc)."""
    _check_init(test)
    _check_code(test)
    for loc in test.locations:
        _check_location(loc, test, test.locations_line)
    if test.filter is not None:
        _check_prop(test.filter, test, test.filter_line)
    if test.condition is not None:
        _check_prop(test.condition.prop, test, test.condition.line)
