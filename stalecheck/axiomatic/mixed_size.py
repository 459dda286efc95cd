"""herd's mixed-size semantics (``-variant mixed``): memory in granules, accesses in groups.

Under ``-variant mixed`` herd7 splits every memory access into one event per
*granule* of its footprint, little-endian (herd ``eventsMonad.ml``, module
``Mixed``: ``read_mixed``/``write_mixed``/``byte_eas``), and gives each
location's bytes their own initial writes (``initwrites_mixed``).  Read-from
and coherence are then per granule (``loc`` compares granule addresses), and
the granules of one access form one single-copy-atomic set, which the model
reads as ``sm``/``sca-class`` (``aarch64util.cat``; Arm ARM B2.2.1: an aligned
access is single-copy atomic).  A register receives the granules it read,
recomposed; a final memory value is its granules' coherence-last values.

The granule is herd's ``-byte auto`` choice (``test_herd.ml``
``compute_size``): the smallest of the sizes the test uses, or half of it when
the test uses one size only.  The sizes are those of the initialised global
locations' types and of the memory instructions (``AArch64Arch_herd.ml``
``mem_access_size``, where ``LDAR``/``LDAPR``/``LDXR``/``LDAXR`` on W/X
registers contribute nothing).  Granule counts change herd's witness counts,
so they are reproduced exactly.

What is not reproduced is refused as unsupported: accesses that are not
naturally aligned, or that are not a whole number of granules, or that leave
their location; locations holding addresses or code; and the instructions
whose mixed-size event structure we have not checked against herd (pairs,
CAS, system-register and cache-maintenance accesses).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stalecheck.axiomatic.initial_state import (
    DEFAULT_TYPE,
    POINTER_TYPE,
    CType,
    InitialState,
    parse_type,
)
from stalecheck.axiomatic.values import Addr, Val, mask
from stalecheck.errors import Position, UnsupportedError
from stalecheck.litmus import ast

Cell = tuple[str, int]

# Memory instructions whose herd event structure under -variant mixed is one split
# access per memory operand, with the size herd's ``mem_access_size`` gives it:
# a fixed size, "reg" (the width of the data register), or None (no contribution).
_FIXED = {"B": 1, "H": 2}
_PLAIN: dict[str, str | int | None] = {
    "LDR": "reg", "LDRB": 1, "LDRH": 2, "LDRSB": 1, "LDRSH": 2, "LDRSW": 4, "LDUR": "reg",
    "STR": "reg", "STRB": 1, "STRH": 2,
    "LDAR": None, "LDARB": 1, "LDARH": 2, "LDAPR": None, "LDAPRB": 1, "LDAPRH": 2,
    "LDXR": None, "LDXRB": 1, "LDXRH": 2, "LDAXR": None, "LDAXRB": 1, "LDAXRH": 2,
    "STLR": "reg", "STLRB": 1, "STLRH": 2,
    "STXR": "reg", "STXRB": 1, "STXRH": 2, "STLXR": "reg", "STLXRB": 1, "STLXRH": 2,
}
_ATOMIC_OPS = ("ADD", "CLR", "EOR", "SET", "SMAX", "SMIN", "UMAX", "UMIN")
# Mnemonics that touch memory but whose mixed-size events we do not build.
_REFUSED = ("LDP", "STP", "LDNP", "STNP", "LDPSW", "LDAP", "LDIAPP", "STLP", "STILP", "LDXP",
            "LDAXP", "STXP", "STLXP", "CAS", "DC", "IC", "LDAPUR", "STLUR",
            "STUR", "LDURB", "LDURH", "LDURSB", "LDURSH", "LDURSW", "STURB", "STURH")


def _atomic_size(mnemonic: str) -> str | int | bool | None:
    """Size rule of an SWP/LD<op>/ST<op> mnemonic, or False if it is not one."""
    for prefix in ("SWP", *(k + op for op in _ATOMIC_OPS for k in ("LD", "ST"))):
        if mnemonic.startswith(prefix):
            rest = mnemonic[len(prefix):]
            for order in ("AL", "A", "L"):
                if rest.startswith(order) and rest[len(order):] in ("", "B", "H"):
                    rest = rest[len(order):]
                    break
            if rest == "":
                return "reg"
            if rest in _FIXED:
                return _FIXED[rest]
    return False


def access_size_rule(mnemonic: str) -> str | int | bool | None:
    """herd's ``mem_access_size`` for a mnemonic we split: bytes, "reg", None (none);
    False if the mnemonic makes no memory access we model under mixed."""
    if mnemonic in _PLAIN:
        return _PLAIN[mnemonic]
    return _atomic_size(mnemonic)


def refused(mnemonic: str) -> bool:
    return mnemonic.startswith(_REFUSED) and access_size_rule(mnemonic) is False


def _reg_bytes(op: ast.Operand) -> int | None:
    if isinstance(op, ast.Reg):
        name = op.name.upper()
        if name.startswith("W"):
            return 4
        if name.startswith("X") or name in ("SP", "XZR"):
            return 8
    return None


def instruction_size(ins: ast.Instruction) -> int | None:
    """The size herd's ``mem_access_size`` records for one instruction (None: none)."""
    rule = access_size_rule(ins.mnemonic)
    if rule is False or rule is None:
        return None
    if isinstance(rule, int):
        return rule
    ops = ins.operands
    # the data register: the status register of a store-exclusive comes first
    data = ops[1] if ins.mnemonic.startswith(("STXR", "STLXR")) and len(ops) > 1 else (
        ops[0] if ops else None)
    return _reg_bytes(data) if data is not None else None


def _init_size(item: ast.InitItem, path: str) -> int:
    """herd's ``mem_access_size_of_t`` for a global location of the init block."""
    if item.pointer:
        return POINTER_TYPE.size
    if item.type_name:
        return parse_type(item.type_name, item, path).size
    if isinstance(item.value, ast.NameValue | ast.IndexValue):
        return POINTER_TYPE.size  # herd: an untyped location holding an address is a pointer
    return DEFAULT_TYPE.size


def granule_size(test: ast.LitmusTest) -> int:
    """herd's ``-byte auto`` granule (``test_herd.ml`` ``compute_size``)."""
    sizes: set[int] = set()
    for item in test.init:
        if isinstance(item.location, ast.GlobalLoc):
            sizes.add(_init_size(item, test.path))
    for thread in test.threads:
        for line in thread.code:
            ins = line.instruction
            if ins is not None:
                size = instruction_size(ins)
                if size is not None:
                    sizes.add(size)
    if not sizes:
        return 1
    ordered = sorted(sizes)
    if len(ordered) == 1:
        return max(1, ordered[0] // 2)  # MachSize.pred: Byte and Short give Byte
    return ordered[0]


@dataclass(frozen=True)
class Granules:
    """The granule size, each location's extent, and the cells the condition reads."""

    size: int
    extents: Mapping[str, int]  # base -> bytes the location spans
    elements: Mapping[Cell, int]  # the layout's cells (scalars, array elements) -> size

    def cells(self, addr: Addr, size: int) -> tuple[Cell, ...] | str:
        """The granule cells of a ``size``-byte access at ``addr``, or why it is refused."""
        extent = self.extents.get(addr.base)
        if extent is None:
            return f"access to {addr}, which is not a location"
        if size % self.size:
            return f"{size}-byte access to {addr} is smaller than herd's {self.size}-byte granule"
        if addr.offset % size:
            return f"{size}-byte access to {addr} is not aligned"
        if addr.offset < 0 or addr.offset + size > extent:
            return f"{size}-byte access to {addr} leaves the {extent}-byte location {addr.base}"
        return tuple((addr.base, addr.offset + k) for k in range(0, size, self.size))

    def split(self, value: int, size: int) -> list[int]:
        """A value as its granules, least significant first (herd's ``explode``)."""
        bits = self.size * 8
        return [mask(value >> (k * bits), bits) for k in range(size // self.size)]

    def join(self, parts: Iterable[int]) -> int:
        """Granule values (least significant first) as one value (herd's ``recompose``)."""
        bits = self.size * 8
        return sum(mask(p, bits) << (k * bits) for k, p in enumerate(parts))

    def initial(self, layout: InitialState) -> dict[Cell, Val]:
        """The initial writes, one per granule."""
        out: dict[Cell, Val] = {}
        for (base, off), size in self.elements.items():
            value = layout.memory.get((base, off), 0)
            assert isinstance(value, int)  # checked by granules()
            for k, part in enumerate(self.split(value, size)):
                out[(base, off + k * self.size)] = part
        return out

    def whole(self, memory: Mapping[Cell, Val]) -> dict[Cell, Val]:
        """Final granule values recomposed into the layout's cells, for the condition."""
        out: dict[Cell, Val] = {}
        for (base, off), size in self.elements.items():
            parts = []
            for k in range(0, size, self.size):
                v = memory.get((base, off + k), 0)
                parts.append(v if isinstance(v, int) else 0)
            out[(base, off)] = self.join(parts)
        return out


def granules_of(test: ast.LitmusTest, layout: InitialState) -> Granules:
    """The test's granules; what herd splits in a way we do not reproduce is refused."""
    pos = Position(test.path)
    for thread in test.threads:
        for line in thread.code:
            ins = line.instruction
            if ins is not None and refused(ins.mnemonic):
                raise UnsupportedError(
                    f"{ins.mnemonic} under herd's mixed-size semantics is not supported",
                    Position(test.path, ins.line, ins.column),
                )
    size = granule_size(test)
    extents: dict[str, int] = {}
    elements: dict[Cell, int] = {}
    for (base, off), ctype in sorted(layout.cell_types.items()):
        value = layout.memory.get((base, off), 0)
        if not isinstance(value, int):
            raise UnsupportedError(
                f"location {base} holds {value} initially: addresses and code in memory under "
                "herd's mixed-size semantics are not supported", pos)
        if off % size or ctype.size % size:
            raise UnsupportedError(
                f"location {base}+{off} ({ctype.size} bytes) is not a whole number of herd's "
                f"{size}-byte granules; not supported", pos)
        elements[(base, off)] = ctype.size
        extents[base] = max(extents.get(base, 0), off + ctype.size)
    return Granules(size, extents, elements)


def granule_layout(layout: InitialState, g: Granules) -> InitialState:
    """The layout the thread machine and the candidates see: one cell per granule."""
    memory = g.initial(layout)
    return InitialState(
        cell_types={c: CType(g.size, False) for c in memory},
        arrays=dict(layout.arrays),
        memory=memory,
        registers=layout.registers,
        symbolic_registers=layout.symbolic_registers,
        register_types=layout.register_types,
    )
