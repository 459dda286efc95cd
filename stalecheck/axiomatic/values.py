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
        return f"P{self.proc}:{self.label}"


Val = int | Addr | CodeLabel


def mask(value: int, bits: int) -> int:
    """Truncate to ``bits`` (two's complement view)."""
    return value & ((1 << bits) - 1)


def signed(value: int, bits: int) -> int:
    """Interpret the low ``bits`` of ``value`` as a signed number."""
    value = mask(value, bits)
    return value - (1 << bits) if value >> (bits - 1) else value


def show(value: Val, bits: int = 64, is_signed: bool = True) -> str:
    """herd's spelling of a final value: signed decimal unless declared unsigned."""
    if isinstance(value, int):
        return str(signed(value, bits) if is_signed else mask(value, bits))
    return str(value)
