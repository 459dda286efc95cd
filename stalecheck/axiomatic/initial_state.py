"""The ``{ }`` block of a litmus test turned into memory cells and register files.

A memory *cell* is one ``(base, offset)`` pair: a scalar location has one
cell, an array ``int x[2]`` has one per element.  We model accesses that hit
exactly one cell with the cell's size; anything that would straddle cells is
mixed-size, unsupported unless herd's ``-variant mixed`` is on, when
:mod:`~stalecheck.axiomatic.mixed_size` re-cuts the cells into granules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from stalecheck.axiomatic import vmsa_layout
from stalecheck.axiomatic.code_data import CodeLayout, instr_value
from stalecheck.axiomatic.values import (
    MASK64,
    Addr,
    CodeLabel,
    PteVal,
    Val,
    pte_cell_base,
    unwrap,
)
from stalecheck.errors import InputError, Position, UnsupportedError
from stalecheck.litmus import ast

_TYPE_SIZES = {
    "char": 1, "short": 2, "int": 4, "long": 8, "ins_t": 4, "pteval_t": 8,
}
_STDINT = re.compile(r"^(u?)int(8|16|32|64|128)_t$")

Cell = tuple[str, int]


@dataclass(frozen=True)
class CType:
    """A C-like type from the init block: element size in bytes and signedness."""

    size: int
    signed: bool
    default: bool = False  # herd's implicit ``int``: printed by herd's own rule

    @property
    def bits(self) -> int:
        return self.size * 8


DEFAULT_TYPE = CType(4, True, True)
POINTER_TYPE = CType(8, False)
INSTR_TYPE = CType(4, False)  # herd's ins_t: one instruction encoding
PTE_TYPE = CType(8, False)  # herd's pteval_t: one translation-table descriptor


def parse_type(name: str, item: ast.InitItem | None, path: str) -> CType:
    """Map ``int``, ``uint64_t``, ... to a :class:`CType`; unknown names are user errors."""
    m = _STDINT.match(name)
    if m:
        return CType(int(m.group(2)) // 8, m.group(1) != "u")
    if name in _TYPE_SIZES:
        return CType(_TYPE_SIZES[name], name != "ins_t")
    # herd accepts any other type name (even a typo such as ``unit64_t``) as its default.
    return DEFAULT_TYPE


@dataclass
class InitialState:
    """Cells, their types and initial values, and each thread's initial registers."""

    cell_types: dict[Cell, CType] = field(default_factory=dict)
    arrays: dict[str, int] = field(default_factory=dict)  # base -> element count
    memory: dict[Cell, Val] = field(default_factory=dict)
    registers: dict[int, dict[str, Val]] = field(default_factory=dict)
    symbolic_registers: dict[str, Val] = field(default_factory=dict)
    register_types: dict[tuple[int, str], CType] = field(default_factory=dict)

    def declare(self, base: str, ctype: CType = DEFAULT_TYPE, count: int | None = None) -> None:
        """Make ``base`` a location (array of ``count`` elements if given)."""
        if count is None:
            if (base, 0) not in self.cell_types:
                self.cell_types[(base, 0)] = ctype
                self.memory.setdefault((base, 0), 0)
            return
        self.arrays[base] = count
        for i in range(count):
            self.cell_types[(base, i * ctype.size)] = ctype
            self.memory.setdefault((base, i * ctype.size), 0)

    def cell_of(self, addr: Addr) -> Cell | None:
        """The cell an address names, or None when it falls outside every cell."""
        key = (addr.base, addr.offset)
        return key if key in self.cell_types else None

    def bases(self) -> list[str]:
        return sorted({b for b, _ in self.cell_types})


def system_symbol(name: str) -> str:
    """What a herd *system* symbol names, or "" for a plain location.

    herd reads ``pte_x`` as the page-table entry of ``x``, ``phy_x`` as its physical
    address and ``x.atag`` as its MTE tag (lib/constant.ml ``do_mk_sym``); none of
    them is ordinary memory, and we model none of them yet (VMSA, MTE).
    """
    if name.startswith("pte_"):
        return "page-table entry (VMSA)"
    if name.startswith("phy_"):
        return "physical address (VMSA)"
    if name.endswith(".atag"):
        return "memory tag (MTE)"
    return ""


def refuse_system_symbol(name: str, pos: Position) -> None:
    """Refuse a ``pte_``/``phy_``/``.atag`` symbol as unsupported (never plain memory)."""
    what = system_symbol(name)
    if what:
        raise UnsupportedError(f"{name} names a {what}; not supported", pos)


@cache
def canonical_reg(name: str) -> str:
    """``W3``/``X3``/``x3`` -> ``X3``; ``SP``/``WSP`` -> ``SP``; ``WZR``/``XZR`` -> ``XZR``.

    A symbolic register (``%P0_x``, written ``X%P0_x`` or ``W%P0_x`` in code) keeps
    its name: herd binds it to a register of its choice, the same for every thread.
    """
    if "%" in name:
        return "%" + name.split("%", 1)[1]
    n = name.upper()
    if n in ("SP", "WSP"):
        return "SP"
    if n in ("XZR", "WZR"):
        return "XZR"
    if len(n) > 1 and n[0] in "XW" and n[1:].isdigit() and int(n[1:]) <= 30:
        return "X" + str(int(n[1:]))
    return n


def _value(
    state: InitialState, v: ast.Value, item: ast.InitItem, path: str, pending: list[str],
    is_mnemonic: Callable[[str], bool], vmsa: bool = False, entry: str = "",
) -> Val:
    """One initial value; under VMSA ``entry`` is the location a record's ``oa`` defaults to."""
    pos = Position(path, item.line, item.column)
    if isinstance(v, ast.IntValue):
        return v.value & MASK64
    if vmsa:
        addr = vmsa_layout.address_value(v, pos)
        if addr is not None:
            name = unwrap(addr.base, "PA") or unwrap(addr.base, "PTE")
            assert name is not None
            pending.append(name)
            return addr
        if isinstance(v, ast.RecordValue):
            pte = vmsa_layout.pte_value(v, entry, pos)
            if pte.oa:
                pending.append(pte.oa)
            return pte
    if isinstance(v, ast.NameValue):
        refuse_system_symbol(v.name, pos)
        if v.tag is not None:
            raise UnsupportedError("memory tags (MTE) are not supported", pos)
        if v.name.isupper() and is_mnemonic(v.name):
            # ``0:X0=NOP`` means the encoding of NOP (code as data), not a location.
            return instr_value(v.name)
        pending.append(v.name)
        return Addr(v.name, 0)
    if isinstance(v, ast.IndexValue):
        pending.append(v.name)
        return Addr(v.name, v.index)  # scaled once the element type is known
    if isinstance(v, ast.LabelValue):
        return CodeLabel(v.proc, v.label)
    if isinstance(v, ast.OtherValue):
        coded = typed_string_value(v.text)
        if coded is not None:
            return coded
    raise UnsupportedError(f"initial value {getattr(v, 'text', v)} is not supported", pos)


def typed_string_value(text: str) -> Val | None:
    """``instr:"NOP"`` -> an instruction value; ``label:"P1:L0"`` -> a code address.

    herd also reads ``label:"0:L0"`` (thread number without ``P``).
    """
    if text.startswith('instr:"'):
        return instr_value(text[len('instr:"'):].rstrip('"'))
    if text.startswith('label:"'):
        proc, _, label = text[len('label:"'):].rstrip('"').partition(":")
        proc = proc[1:] if proc.startswith("P") else proc
        if proc.isdigit() and label:
            return CodeLabel(int(proc), label)
    return None


def build_initial_state(
    test: ast.LitmusTest,
    is_mnemonic: Callable[[str], bool] = lambda _name: False,
    code: CodeLayout | None = None,
    vmsa: bool = False,
) -> InitialState:
    """Evaluate the init block; unknown forms are unsupported, contradictions are input errors.

    ``is_mnemonic`` tells an instruction name used as a value (herd's ``instr``
    values) from a location name; the instruction table supplies it.  ``code``
    adds the code locations (exported labels, holding their instructions).  With
    ``vmsa`` (herd's VMSA variant) page-table entries and physical pages are
    locations too, and every location gets its entry (:func:`add_page_tables`).
    """
    state = InitialState()
    path = test.path
    pending: list[str] = []
    index_fixups: list[tuple[int, str, Addr]] = []
    memory_inits: list[tuple[ast.InitItem, str, int | None, Val | tuple[int, ...] | None]] = []
    val: Val | tuple[int, ...] | None  # one name for a register's, a cell's and an array's value
    for item in test.init:
        pos = Position(path, item.line, item.column)
        ctype = POINTER_TYPE if item.pointer else (
            parse_type(item.type_name, item, path) if item.type_name else None
        )
        loc = item.location
        if isinstance(loc, ast.RegLoc):
            reg = canonical_reg(loc.reg)
            if reg != "SP" and not reg.startswith("X") and reg != "VNCR_EL2":
                raise UnsupportedError(f"register {loc.reg} is not supported", pos)
            regs = state.registers.setdefault(loc.proc, {})
            if item.value is None:
                regs.setdefault(reg, 0)
            else:
                if isinstance(item.value, ast.ArrayValue):
                    raise InputError("a register cannot hold an array", pos)
                val = _value(state, item.value, item, path, pending, is_mnemonic, vmsa)
                if isinstance(item.value, ast.IndexValue) and isinstance(val, Addr):
                    index_fixups.append((loc.proc, reg, val))
                regs[reg] = val
            if ctype is not None:
                state.register_types[(loc.proc, reg)] = ctype
            continue
        if vmsa and isinstance(loc, ast.CallLoc):
            loc = ast.GlobalLoc(vmsa_layout.call_location_base(loc.func, loc.arg, pos))
        elif vmsa and isinstance(loc, ast.GlobalLoc):
            loc = ast.GlobalLoc(vmsa_layout.location_base(loc.name) or loc.name, loc.index)
        if isinstance(loc, ast.GlobalLoc):
            if not vmsa:
                refuse_system_symbol(loc.name, pos)
            entry = vmsa_layout.entry_of(loc.name) or "" if vmsa else ""
            is_decl = loc.index is not None and item.type_name is not None
            if loc.index is not None and not is_decl:
                if item.value is None or isinstance(item.value, ast.ArrayValue):
                    raise InputError("an array element needs a scalar value", pos)
                val = _value(state, item.value, item, path, pending, is_mnemonic, vmsa, entry)
                memory_inits.append((item, loc.name, loc.index, val))
                continue
            init: Val | tuple[int, ...] | None = None
            if isinstance(item.value, ast.ArrayValue):
                init = item.value.items
            elif item.value is not None:
                init = _value(state, item.value, item, path, pending, is_mnemonic, vmsa, entry)
            memory_inits.append((item, loc.name, None, init))
            continue
        if isinstance(loc, ast.SymRegLoc):
            if item.value is None:
                state.symbolic_registers.setdefault(canonical_reg(loc.name), 0)
            elif isinstance(item.value, ast.ArrayValue):
                raise InputError("a register cannot hold an array", pos)
            else:
                state.symbolic_registers[canonical_reg(loc.name)] = _value(
                    state, item.value, item, path, pending, is_mnemonic
                )
            continue
        what = {
            ast.CallLoc: "page-table or tag locations",
            ast.LabelLoc: "code locations",
        }.get(type(loc), "this location form")
        raise UnsupportedError(f"{what} are not supported", pos)

    # Declarations first (sizes/arrays), then values.
    array_sizes = _array_sizes(test)
    for item, name, index, val in memory_inits:
        if index is not None:
            continue
        ctype = POINTER_TYPE if item.pointer else (
            parse_type(item.type_name, item, path) if item.type_name else DEFAULT_TYPE
        )
        if name in array_sizes:
            state.declare(name, ctype, array_sizes[name])
        elif isinstance(val, tuple):
            if not val:
                # herd7 gives an array at least one cell; an empty brace list has no size to take.
                raise InputError(f"array {name} needs a size or at least one initial value",
                                 Position(path, item.line, item.column))
            state.declare(name, ctype, len(val))
        else:
            state.declare(name, ctype)
    for item, name, index, val in memory_inits:
        pos = Position(path, item.line, item.column)
        if index is not None:
            if name not in state.arrays:
                state.declare(name, DEFAULT_TYPE, index + 1)
            size = state.cell_types[(name, 0)].size
            if index >= state.arrays[name]:
                raise InputError(f"index {index} out of bounds for array {name}", pos)
            assert not isinstance(val, tuple)  # an element's value is a scalar (refused when read)
            state.memory[(name, index * size)] = _fit(val if val is not None else 0, size)
        elif isinstance(val, tuple):
            count = state.arrays.get(name, len(val))
            if len(val) > count:
                raise InputError(f"too many initial values for array {name}", pos)
            size = state.cell_types[(name, 0)].size
            for i, v in enumerate(val):
                state.memory[(name, i * size)] = _fit(v, size)
        elif val is not None:
            state.memory[(name, 0)] = _fit(val, state.cell_types[(name, 0)].size)
    for name in pending:
        if not any(b == name for b, _ in state.cell_types):
            state.declare(name)
    for proc, reg, addr in index_fixups:
        size = state.cell_types.get((addr.base, 0), DEFAULT_TYPE).size
        state.registers[proc][reg] = Addr(addr.base, addr.offset * size)
    for cell, val in list(state.memory.items()):
        if isinstance(val, Addr) and (val.base, 0) not in state.cell_types:
            state.declare(val.base)
        del cell
    if vmsa:
        add_page_tables(state, path)
    if code is not None:
        for cell, instr in code.initial.items():
            state.cell_types[cell] = INSTR_TYPE
            state.memory[cell] = instr
    return state


def add_page_tables(state: InitialState, path: str) -> None:
    """Give every location its page-table entry, herd's default where the test sets none.

    herd maps each location to its own physical page through a valid entry with the
    access flag and dirty bit set (eventsMonad.ml ``add_initpte``).  An entry's cell
    holds a :class:`PteVal` (an 8-byte descriptor, Arm ARM D8.3).
    """
    for base in state.bases():
        if vmsa_layout.entry_of(base) is not None:
            continue
        cell = (pte_cell_base(base), 0)
        if cell not in state.cell_types:
            state.cell_types[cell] = PTE_TYPE
            state.memory[cell] = PteVal(base)
    for base in state.bases():
        name = vmsa_layout.entry_of(base)
        if name is None:
            continue
        cell = (base, 0)
        state.cell_types[cell] = PTE_TYPE
        value = state.memory.get(cell, 0)
        if isinstance(value, Addr) and unwrap(value.base, "PA") is not None:
            state.memory[cell] = PteVal(unwrap(value.base, "PA") or "")  # pte_x=phy_y
        elif not isinstance(value, PteVal):
            raise UnsupportedError(f"page-table entry {base} holding {value} is not supported",
                                   Position(path))
        if (name, 0) not in state.cell_types:
            state.declare(name)


def _fit(value: Val, size: int) -> Val:
    """An initial value as the cell holds it: integers truncated to the cell's width."""
    return value & ((1 << (8 * size)) - 1) if isinstance(value, int) else value


def _array_sizes(test: ast.LitmusTest) -> dict[str, int]:
    """Array lengths declared as ``int x[2]`` (the grammar reads them as indexed locations)."""
    sizes: dict[str, int] = {}
    for item in test.init:
        loc = item.location
        if (
            isinstance(loc, ast.GlobalLoc)
            and loc.index is not None
            and item.type_name is not None
        ):
            sizes[loc.name] = loc.index
    return sizes
