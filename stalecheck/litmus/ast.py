"""The litmus test as plain data: what the parser produces and both engines read.

Every node that a user can get wrong carries ``line`` and ``column`` so that a
later stage (the instruction semantics, the initial-state checks) can point at
the exact spot, the way herd prefixes its user errors with a position.  All
nodes are frozen so a parsed test can be shared between processes and cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ----------------------------------------------------------------- locations


@dataclass(frozen=True)
class RegLoc:
    """A register of one thread: ``0:X1``."""

    proc: int
    reg: str


@dataclass(frozen=True)
class SymRegLoc:
    """A symbolic register, ``%P0_x`` (herd's "telechat" variant); never modelled."""

    name: str


@dataclass(frozen=True)
class GlobalLoc:
    """A memory location by name (``x``), optionally an array element (``x[1]``)."""

    name: str
    index: int | None = None


@dataclass(frozen=True)
class CallLoc:
    """A location built by a function, ``PTE(x)`` or ``tag(y)`` (VMSA/MTE only)."""

    func: str
    arg: str


@dataclass(frozen=True)
class LabelLoc:
    """A code label of one thread, ``P1:L0``."""

    proc: int
    label: str


Location = RegLoc | SymRegLoc | GlobalLoc | CallLoc | LabelLoc

# ----------------------------------------------------------------- values


@dataclass(frozen=True)
class IntValue:
    """An integer constant as written (herd reads them as 64-bit)."""

    value: int


@dataclass(frozen=True)
class NameValue:
    """A symbolic address (``x``) or ``&x``; ``tag`` is an MTE colour if given."""

    name: str
    tag: str | None = None


@dataclass(frozen=True)
class LabelValue:
    """The address of a code label, ``P1:L0``."""

    proc: int
    label: str


@dataclass(frozen=True)
class ArrayValue:
    """An array initialiser or final array state, ``{1,2}``."""

    items: tuple[int, ...]


@dataclass(frozen=True)
class IndexValue:
    """The address of an array element, ``x[1]``."""

    name: str
    index: int


@dataclass(frozen=True)
class OtherValue:
    """A value form outside the user-level model (records, ``instr:"..."``, tags)."""

    text: str


@dataclass(frozen=True)
class CallValue:
    """A value built by a function, ``PA(x)`` or ``PTE(x)`` (herd's VMSA spellings)."""

    func: str
    args: tuple[Value, ...]

    @property
    def text(self) -> str:
        return f"{self.func}(...)"


@dataclass(frozen=True)
class RecordValue:
    """A record value, herd's page-table entry ``(oa:PA(x), valid:0)``."""

    fields: tuple[tuple[str, Value], ...]

    @property
    def text(self) -> str:
        return "(record)"


Value = IntValue | NameValue | LabelValue | ArrayValue | IndexValue | OtherValue | CallValue \
    | RecordValue

# ----------------------------------------------------------------- initial state


@dataclass(frozen=True)
class InitItem:
    """One entry of the ``{ }`` block: optional C-like type, a location, an optional value."""

    location: Location
    type_name: str | None
    pointer: bool
    value: Value | None
    line: int
    column: int


# ----------------------------------------------------------------- code


@dataclass(frozen=True)
class Reg:
    """A register operand (``W0``, ``X1``, ``WZR``, ``SP``) or a bare word (``EQ``, ``L0``)."""

    name: str


@dataclass(frozen=True)
class Imm:
    """An immediate (``#1``, ``#-4``, ``#0x10``)."""

    value: int


@dataclass(frozen=True)
class Shift:
    """A shift or extend with an amount, ``LSL #2`` / ``UXTW #3``."""

    kind: str
    amount: int


@dataclass(frozen=True)
class Mem:
    """A memory operand ``[base, ...]``; ``writeback`` is True for the pre-index ``!`` form."""

    parts: tuple[Operand, ...]
    writeback: bool


@dataclass(frozen=True)
class RelLabel:
    """A PC-relative target such as ``.+8`` (herd refuses these outside ``instr:``)."""

    offset: int


@dataclass(frozen=True)
class OperandList:
    """A ``{...}`` register list (SIMD); kept only to report it as unsupported."""

    items: tuple[Operand, ...]


Operand = Reg | Imm | Shift | Mem | RelLabel | OperandList


@dataclass(frozen=True)
class Instruction:
    """One instruction as written; ``text`` is the cell's text for messages."""

    mnemonic: str
    operands: tuple[Operand, ...]
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class CodeLine:
    """One cell of the code table: labels defined here, then maybe an instruction."""

    labels: tuple[str, ...]
    instruction: Instruction | None
    line: int


@dataclass(frozen=True)
class Thread:
    """The code of one processor ``P<n>``, in program order."""

    proc: int
    code: tuple[CodeLine, ...]
    handler: tuple[CodeLine, ...] = ()  # the ``P<n>.F`` column: its fault handler's code


# ----------------------------------------------------------------- condition


@dataclass(frozen=True)
class Eq:
    """``loc = value``."""

    location: Location
    value: Value


@dataclass(frozen=True)
class Not:
    """``~p`` / ``not p``."""

    prop: Prop


@dataclass(frozen=True)
class And:
    """``p /\\ q /\\ ...``."""

    props: tuple[Prop, ...]


@dataclass(frozen=True)
class Or:
    """``p \\/ q \\/ ...``."""

    props: tuple[Prop, ...]


@dataclass(frozen=True)
class Implies:
    """``p => q``."""

    left: Prop
    right: Prop


@dataclass(frozen=True)
class Const:
    """``true`` / ``false``."""

    value: bool


@dataclass(frozen=True)
class Call:
    """A predicate such as ``Fault(P0:L0,UndefinedInstruction)``."""

    name: str
    args: tuple[Value, ...] = ()


Prop = Eq | Not | And | Or | Implies | Const | Call


@dataclass(frozen=True)
class Condition:
    """The final quantifier (``exists``, ``~exists``, ``forall``) and its proposition."""

    quantifier: str
    prop: Prop
    line: int


@dataclass(frozen=True)
class LitmusTest:
    """A whole parsed ``.litmus`` file."""

    arch: str
    name: str
    info: tuple[tuple[str, str], ...]
    init: tuple[InitItem, ...]
    threads: tuple[Thread, ...]
    locations: tuple[Location, ...]
    filter: Prop | None
    condition: Condition | None
    path: str = ""
    source: str = field(default="", repr=False, compare=False)
    info_lines: tuple[int, ...] = ()  # source line of each ``info`` entry
    locations_line: int = 0  # where ``locations [...]`` starts, for its errors
    filter_line: int = 0  # where ``filter`` starts

    def info_value(self, key: str) -> tuple[str, int] | None:
        """The first ``key=value`` header line, key matched case-insensitively as herd
        does (``MiscParser.key_match``), with its line number (0 if unknown)."""
        for k, (name, value) in enumerate(self.info):
            if name.upper() == key.upper():
                return value, self.info_lines[k] if k < len(self.info_lines) else 0
        return None

    def source_line(self, line: int) -> str | None:
        """The text of a 1-based source line, for error carets."""
        lines = self.source.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else None
