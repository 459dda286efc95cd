"""Code as data: instruction values, code locations and the fetch set-up of one test.

herd's ifetch variant (``-variant ifetch``, or ``Variant=self`` in a test) makes
instructions memory: a code label whose address the test exports (a label used
as a value in the initial state, or the target of an ``ADR``) becomes a
location holding its instruction, which stores may overwrite, and every
execution of an instruction at such a label starts with a *fetch*, a read of
that location whose value is the instruction then executed (Arm ARM B2.3.1
"Implicit Instruction Memory Read Effects"; B2.2.5 CMODX).  Instructions at
labels no value names are executed as written, with no fetch event, as herd does.

Instruction values are compared in one canonical spelling (herd's: operands
joined by ``,``, branch targets to labels turned into ``.+N`` offsets), so
``instr:"B .+4"`` in a test equals the ``B L1`` written at the label before
``L1``.  The CTR_EL0 configuration (``CacheType=IDC`` / ``DIC``; DIC implies
IDC, as in herd's ``lib/cacheType.mll``; CTR_EL0.IDC/DIC in the Arm ARM) selects
which cache maintenance the model requires (B2.3.8 "IC-Coherence-before").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from stalecheck.axiomatic.values import CodeLabel, Instr
from stalecheck.errors import InputError, Position, StalecheckError, UnsupportedError
from stalecheck.litmus import ast

Cell = tuple[str, int]

# Branches whose target operand is a label; herd prints that operand as ``.+N``.
_LABEL_TARGET_AT = {"B": 0, "BL": 0, "CBZ": 1, "CBNZ": 1, "TBZ": 2, "TBNZ": 2, "ADR": 1}
# herd's ``can_overwrite``: a branch to an explicit label is never an overwriting value.
_LABEL_BRANCHES = {"B", "BL", "CBZ", "CBNZ", "TBZ", "TBNZ"}
IFETCH_VARIANTS = frozenset({"ifetch", "self"})


def _is_label_target(ins: ast.Instruction, k: int) -> bool:
    at = _LABEL_TARGET_AT.get(ins.mnemonic)
    if ins.mnemonic.startswith("B.") and at is None:
        at = 0
    return at == k and isinstance(ins.operands[k], ast.Reg)


def _operand_text(op: ast.Operand) -> str:
    if isinstance(op, ast.Reg):
        return op.name.upper()
    if isinstance(op, ast.Imm):
        return f"#{op.value}"
    if isinstance(op, ast.Shift):
        return f"{op.kind.upper()} #{op.amount}"
    if isinstance(op, ast.Mem):
        return "[" + ",".join(_operand_text(p) for p in op.parts) + "]" + ("!" if op.writeback else "")
    if isinstance(op, ast.RelLabel):
        return f".{op.offset:+d}"
    if isinstance(op, ast.OperandList):
        return "{" + ",".join(_operand_text(p) for p in op.items) + "}"
    return str(op)


def spell(ins: ast.Instruction, targets: Mapping[str, int] | None = None) -> str:
    """herd's spelling of an instruction; ``targets`` maps a label to its byte offset."""
    parts = []
    for k, op in enumerate(ins.operands):
        if targets is not None and _is_label_target(ins, k):
            assert isinstance(op, ast.Reg)
            if op.name in targets:
                parts.append(f".{targets[op.name]:+d}")
                continue
        parts.append(_operand_text(op))
    return ins.mnemonic + (" " + ",".join(parts) if parts else "")


@lru_cache(maxsize=256)
def parse_instruction(text: str) -> ast.Instruction:
    """One instruction from its text (an ``instr:"..."`` value), through the litmus grammar."""
    from stalecheck.litmus.parser import parse_litmus

    try:
        test = parse_litmus(f"AArch64 I\n{{ }}\n P0 ;\n {text} ;\n", "<instr>")
    except StalecheckError as exc:
        raise InputError(f'bad instruction value instr:"{text}": {exc.message}') from None
    code = [line.instruction for line in test.threads[0].code if line.instruction]
    if len(code) != 1:
        raise InputError(f'bad instruction value instr:"{text}"')
    return code[0]


def instr_value(text: str) -> Instr:
    """The canonical value of ``instr:"text"`` (or of a bare mnemonic such as ``NOP``)."""
    return Instr(spell(parse_instruction(text.strip())))


def instruction_positions(code: Sequence[ast.CodeLine]) -> dict[int, int]:
    """Code-line index -> instruction number (its byte address is 4 times that)."""
    return {pc: n for n, pc in enumerate(
        i for i, line in enumerate(code) if line.instruction is not None
    )}


def labels_of(code: Sequence[ast.CodeLine]) -> dict[str, int]:
    """Label -> number of the instruction it names (labels at the end name the end)."""
    out: dict[str, int] = {}
    n = 0
    for line in code:
        for label in line.labels:
            out[label] = n
        if line.instruction is not None:
            n += 1
    return out


def line_value(code: Sequence[ast.CodeLine], pc: int) -> Instr:
    """The value of the instruction at code line ``pc`` as stored in its code location."""
    ins = code[pc].instruction
    assert ins is not None
    here = instruction_positions(code)[pc]
    targets = {lab: (n - here) * 4 for lab, n in labels_of(code).items()}
    return Instr(spell(ins, targets))


def can_overwrite(value: Instr) -> bool:
    """herd's ``can_overwrite``: any instruction but a branch to an explicit label."""
    ins = parse_instruction(value.text)
    return not any(_is_label_target(ins, k) for k in range(len(ins.operands))
                   if ins.mnemonic in _LABEL_BRANCHES or ins.mnemonic.startswith("B."))


def cache_type(test: ast.LitmusTest) -> tuple[bool, bool]:
    """(DIC, IDC) from the ``CacheType`` key; DIC implies IDC."""
    dic = idc = False
    for key, value in test.info:
        if key.lower() != "cachetype":
            continue
        for word in value.replace(",", " ").split():
            w = word.lower()
            if w == "dic":
                dic = idc = True
            elif w == "idc":
                idc = True
            else:
                raise InputError(f"'{word}' is not a cache-type key, keys are DIC, IDC",
                                 Position(test.path))
    return dic, idc


def _exported(test: ast.LitmusTest) -> set[tuple[int, str]]:
    """Labels whose address the test exports: label values in the init block, ADR targets."""
    out: set[tuple[int, str]] = set()
    for item in test.init:
        v = item.value
        if isinstance(v, ast.LabelValue):
            out.add((v.proc, v.label))
        elif isinstance(v, ast.OtherValue) and v.text.startswith('label:"'):
            proc, _, label = v.text[len('label:"'):].rstrip('"').partition(":")
            if proc.startswith("P") and proc[1:].isdigit():
                out.add((int(proc[1:]), label))
    for t in test.threads:
        for line in t.code:
            ins = line.instruction
            if ins is not None and ins.mnemonic == "ADR" and len(ins.operands) == 2 and \
                    isinstance(ins.operands[1], ast.Reg):
                out.add((t.proc, ins.operands[1].name))
    return out


@dataclass
class CodeLayout:
    """The code locations of one test, and where fetches happen.

    ``cells`` maps every label of an exported instruction to that instruction's one
    location (herd normalises the labels of one instruction to one of them);
    ``fetch_at`` maps (thread, code line) of each exported instruction to its cell.
    """

    fetching: bool
    dic: bool = False
    idc: bool = False
    cells: dict[tuple[int, str], Cell] = field(default_factory=dict)
    initial: dict[Cell, Instr] = field(default_factory=dict)
    fetch_at: dict[tuple[int, int], Cell] = field(default_factory=dict)
    original: dict[tuple[int, int], Instr] = field(default_factory=dict)
    overwriting: dict[Instr, ast.Instruction] = field(default_factory=dict)

    def cell_of(self, label: CodeLabel) -> Cell | None:
        return self.cells.get((label.proc, label.label))


def code_layout(test: ast.LitmusTest, variants: frozenset[str]) -> CodeLayout:
    """Code locations for the labels the test exports; fetch points if ifetch is on."""
    fetching = bool(variants & IFETCH_VARIANTS)
    dic, idc = cache_type(test)
    layout = CodeLayout(fetching, dic or "dic" in variants, idc or dic or bool(variants & {"idc", "dic"}))
    exported = _exported(test)
    for t in test.threads:
        pending: list[str] = []
        for pc, line in enumerate(t.code):
            pending.extend(line.labels)
            if line.instruction is None:
                continue
            names = [lab for lab in pending if (t.proc, lab) in exported]
            if names:
                canon = sorted(pending)[0]
                cell = (f"P{t.proc}:{canon}", 0)
                for lab in pending:
                    layout.cells[(t.proc, lab)] = cell
                value = line_value(t.code, pc)
                layout.initial[cell] = value
                layout.original[(t.proc, pc)] = value
                if fetching:
                    layout.fetch_at[(t.proc, pc)] = cell
            pending = []
    return layout


def add_overwriting(layout: CodeLayout, values: Sequence[object], path: str) -> None:
    """The instructions a fetch may decode besides the original: those of the init block."""
    for v in values:
        if isinstance(v, Instr) and v not in layout.overwriting and can_overwrite(v):
            try:
                layout.overwriting[v] = parse_instruction(v.text)
            except InputError as exc:
                raise UnsupportedError(exc.message, Position(path)) from None


def initial_values(layout: object) -> list[object]:
    """Every value of an initial state (registers and memory), for :func:`add_overwriting`."""
    regs = getattr(layout, "registers", {})
    memory = getattr(layout, "memory", {})
    return [v for r in regs.values() for v in r.values()] + list(memory.values())
