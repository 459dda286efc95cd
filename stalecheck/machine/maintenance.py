"""Issuing cache maintenance: what a ``DC`` by VA or by set/way puts in the PE's buffer.

What the entry *does* when it completes is ``caches.clean_to``, ``invalidate_to``
and ``setway`` (called from ``complete.py``); this module decides the operation,
the point and the scope from the instruction, the memory type and the regime.
"""

from __future__ import annotations

from collections.abc import Sequence

from stalecheck.machine.hierarchy import Hierarchy
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.memtypes import MemType
from stalecheck.machine.spec import LineSpec
from stalecheck.machine.state import (
    DCVA,
    OP_CLEAN,
    OP_CLEAN_INVAL,
    OP_INVAL,
    SETWAY,
    DcEntry,
    Entry,
    SetWayEntry,
)

# DC by VA: operation and point (D7.5.9.5 to the PoC; D7.5.9.11 to the PoU).
DC_OPS = {
    "CVAC": (OP_CLEAN, "poc"),
    "CVAP": (OP_CLEAN, "poc"),  # persistence point treated as the PoC (no PoP modelled)
    "CVAU": (OP_CLEAN, "pou"),
    "CIVAC": (OP_CLEAN_INVAL, "poc"),
    "IVAC": (OP_INVAL, "poc"),
}
SW_OPS = {"CSW": OP_CLEAN, "CISW": OP_CLEAN_INVAL, "ISW": OP_INVAL}


def to_poc(kind: str) -> bool:
    """Whether ``DC <kind>`` operates to the PoC (HCR_EL2.TPCP traps those, TPU the others)."""
    return DC_OPS[kind][1] == "poc"


def expand_setway_loops(lines: Sequence[LineSpec], program: Sequence[Instr]) -> list[Instr]:
    """Expand ``SETWAY`` loops into one set/way instruction per line (so migration
    can fall between two iterations)."""
    out: list[Instr] = []
    for instr in program:
        if instr.op == "DCSW" and instr.loc == "*":
            for line in lines:
                out.append(
                    Instr(
                        Op.DCSW,
                        kind=instr.kind,
                        level=instr.level,
                        loc=line.name,
                        text=f"DC {instr.kind} {instr.level}, {line.name}",
                        line=instr.line,
                        column=instr.column,
                    )
                )
        else:
            out.append(instr)
    return out


def dc_entry(h: Hierarchy, kind: str, line: int, mt: MemType, under_stage2: bool, ident: int) -> Entry:
    """The buffer entry of ``DC <kind>`` on ``line`` accessed with type ``mt``."""
    dc_op, point = DC_OPS[kind]
    if dc_op == OP_INVAL and under_stage2:
        dc_op = OP_CLEAN_INVAL  # D7.5.9.2: at EL1 with HCR_EL2.VM=1, DC IVAC is DC CIVAC
    scope_all = int(mt.share != mt.share.NSH)
    depth = h.poc_depth if point == "poc" else (h.pouis_depth if scope_all else h.pou_depth)
    return DcEntry(DCVA, dc_op, line, mt.path, depth, scope_all, mt.cacheability_key, ident)


def setway_entry(
    h: Hierarchy, pe: int, kind: str, level_name: str, line: int, under_stage2: bool, ident: int
) -> Entry:
    """The buffer entry of ``DC <kind> <level>, <line>`` issued on ``pe``: it acts on the
    one cache instance of that level on the PE's path (D7.5.8.2.2 Cache maintenance
    instructions that operate by set/way)."""
    sw_op = SW_OPS[kind]
    if sw_op == OP_INVAL and under_stage2:
        sw_op = OP_CLEAN_INVAL  # D7.5.9.2: at EL1 with HCR_EL2.VM=1, DC ISW is DC CISW
    level = h.level_index(level_name)
    inst = (
        h.paths[pe][level]
        if h.levels[level].private
        else next(i for i in h.paths[pe] if h.instances[i].level == level)
    )
    return SetWayEntry(SETWAY, sw_op, inst, line, ident)
