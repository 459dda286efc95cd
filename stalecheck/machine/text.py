"""Words shared by every witness line: who acts, and every copy of a line."""

from __future__ import annotations

from typing import Protocol

from stalecheck.machine.hierarchy import Hierarchy
from stalecheck.machine.spec import LineSpec, ThreadSpec
from stalecheck.machine.state import State


class Names(Protocol):
    """What the witness words need to know about a machine (a ``Layout`` or a ``Machine``)."""

    @property
    def h(self) -> Hierarchy: ...

    @property
    def nl(self) -> int: ...

    @property
    def lines(self) -> tuple[LineSpec, ...]: ...

    @property
    def threads(self) -> tuple[ThreadSpec, ...]: ...


def snapshot(m: Names, state: State, line: int) -> str:
    """Every copy of ``line``: ``X: L1.PE0=1* SC=1* mem=0``."""
    parts = []
    for inst in range(len(m.h.instances)):
        copy = state.copies[inst * m.nl + line]
        if copy:
            parts.append(f"{m.h.label(inst)}={values_text(copy[1])}{'*' if copy[0] else ''}")
    parts.append(f"mem={values_text(state.mem[line])}")
    return f"[{m.lines[line].name}: {' '.join(parts)}]"


def values_text(values: tuple[int, ...]) -> str:
    return "/".join(str(v) for v in values)


def actor_name(m: Names, state: State, t: int) -> str:
    th = state.threads[t]
    where = f"PE{th.pe}" if th.pe >= 0 else "DMA"
    mode = " [EL2 policy]" if th.hyp else ""
    return f"{where} {m.threads[t].name}{mode}"
