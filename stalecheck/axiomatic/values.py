"""Run-time values of the axiomatic engine: 64-bit integers and symbolic addresses.

herd keeps addresses symbolic (``x``, ``x+8``) rather than numeric, so that a
test never depends on a memory layout; we do the same.  Integers are kept as
unsigned 64-bit Python ints; printing decides on signedness.
"""

from __future__ import annotations

from dataclasses import dataclass

MASK64 = (1 << 64) - 1


@dataclass(frozen=True, order=True)
class Addr:
    """A symbolic address: location ``base`` plus a byte ``offset``."""

    base: str
    offset: int = 0

    def __str__(self) -> str:
        return self.base if self.offset == 0 else f"{self.base}+{self.offset}"


@dataclass(frozen=True, order=True)
class CodeLabel:
    """The address of an instruction label of one thread (``P1:L0``)."""

    proc: int
    label: str

    def __str__(self) -> str:
        return f'label:"P{self.proc}:{self.label}"'


@dataclass(frozen=True, order=True)
class Instr:
    """An instruction encoding held as data (herd's ``instr:"NOP"``), in canonical spelling.

    Under herd's ifetch variant code is data: registers and code locations hold
    instructions, and a fetch decodes whatever its location holds.
    """

    text: str

    def __str__(self) -> str:
        return f'instr:"{self.text}"'


@dataclass(frozen=True, order=True)
class PteVal:
    """A page-table entry value under herd's VMSA variant (``(oa:PA(x), valid:0)``).

    The fields are herd's (lib/AArch64PteVal.ml): the output address ``oa`` (the
    physical page of a location, by its name; "" when a record names none), and the
    descriptor bits valid, AF, DB (dirty: AP[2] clear), DBM and the EL0 and execute
    permissions.  Defaults are the entry herd gives every location: valid, access
    flag and dirty bit set (Arm ARM D8.4, descriptor formats; D8.5.2, the dirty state).
    """

    oa: str
    valid: int = 1
    af: int = 1
    db: int = 1
    dbm: int = 0
    el0: int = 1
    x: int = 1

    def __str__(self) -> str:
        parts = [f"oa:PA({self.oa})"]
        for name, default in (("af", 1), ("db", 1), ("dbm", 0), ("valid", 1), ("el0", 1),
                              ("x", 1)):
            v = getattr(self, name)
            if v != default:
                parts.append(f"{name}:{v}")
        return "(" + ", ".join(parts) + ")"


PTE_FIELDS = ("valid", "af", "db", "dbm", "el0", "x")

Val = int | Addr | CodeLabel | Instr | PteVal


def pte_cell_base(name: str) -> str:
    """The cell base of the page-table entry of location ``name`` (herd's ``PTE(x)``)."""
    return f"PTE({name})"


def phys_base(name: str) -> str:
    """The address base of the physical page of ``name`` (herd's ``PA(x)``, ``phy_x``)."""
    return f"PA({name})"


def unwrap(base: str, func: str) -> str | None:
    """``x`` for ``func(x)``, else None."""
    if base.startswith(func + "(") and base.endswith(")"):
        return base[len(func) + 1:-1]
    return None


def mask(value: int, bits: int) -> int:
    """Truncate to ``bits`` (two's complement view)."""
    return value & ((1 << bits) - 1)


def signed(value: int, bits: int) -> int:
    """Interpret the low ``bits`` of ``value`` as a signed number."""
    value = mask(value, bits)
    return value - (1 << bits) if value >> (bits - 1) else value


def herd_int(value: int) -> int:
    """herd's reading of a value of its implicit ``int`` type.

    A value that fits in 32 bits, read either as unsigned (a W-register result) or as a
    sign-extended 64-bit number, is a 32-bit signed int; anything wider is shown as the
    unsigned 64-bit pattern.  This reproduces herd's printing of untyped locations.
    """
    v = value & MASK64
    if v < (1 << 32):
        return signed(v, 32)
    if v >= (1 << 64) - (1 << 31):
        return v - (1 << 64)
    return v


def show(value: Val, bits: int = 64, is_signed: bool = True, default: bool = False) -> str:
    """herd's spelling of a final value under the location's declared type."""
    if isinstance(value, int):
        if default:
            return str(herd_int(value))
        return str(signed(value, bits) if is_signed else mask(value, bits))
    return str(value)
