"""The instructions of machine-engine programs, as plain frozen data.

One flat record for every instruction rather than a class per opcode: the
engine dispatches on ``op`` in one place (``machine/execute.py``), and the
record hashes cheaply when a hypervisor policy's emitted code sits in a state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Op(StrEnum):
    """Opcodes.  A ``StrEnum``: each member equals (and hashes as) its name, so an
    ``Instr`` hashes as before and code written with strings still compares equal."""

    STR = "STR"
    LDR = "LDR"
    AWAIT = "AWAIT"  # poll a location until it holds a value (one step: the exit)
    DC = "DC"  # data cache maintenance by VA
    DCSW = "DCSW"  # data cache maintenance by set/way
    IC = "IC"
    DMB = "DMB"
    DSB = "DSB"
    ISB = "ISB"
    MSR = "MSR"  # a write to an SCTLR_EL1 field
    SIGNAL = "SIGNAL"  # ghost events ordering threads (not hardware)
    WAIT = "WAIT"
    MAP = "MAP"  # install a page at stage 2 (hypervisor code)
    NOP = "NOP"
    EMSR = "EMSR"  # the hypervisor emulating a trapped MSR (in effect at ERET)
    HCR = "HCR"  # the hypervisor setting an HCR_EL2 bit
    EXEC = "EXEC"  # fetch and execute code at a location (its version into a register)
    TLBI = "TLBI"
    ATCHECK = "ATCHECK"  # the spurious-fault check of an abort handler (AT, ISB, read PAR_EL1)
    ASSUME = "ASSUME"  # a path's guess of a branch, CSEL or CAS outcome, checked (machine/paths.py)
    PATHS = "PATHS"  # a thread's first step when its program has several paths: choose one
    END = "END"  # the end of one path when a thread has several


# Memory-order kinds of ``LDR``/``STR`` (B2.3.7): LDAR, LDAPR, STLR.
ACQUIRE = "A"
ACQUIRE_PC = "Q"
RELEASE = "L"
_ORDERED_NAMES = {
    ("LDR", ACQUIRE): "LDAR",
    ("LDR", ACQUIRE_PC): "LDAPR",
    ("STR", RELEASE): "STLR",
    ("AWAIT", ACQUIRE): "AWAITA",
}


def mnemonic(instr: Instr) -> str:
    """The mnemonic as written: LDAR/LDAPR/STLR/AWAITA are LDR/STR/AWAIT with a memory-order kind."""
    return _ORDERED_NAMES.get((instr.op, instr.kind), instr.op)


@dataclass(frozen=True)
class Instr:
    """One instruction.  ``text`` is how the user wrote it (for witnesses); ``line``
    and ``column`` locate it in the source, 0 for code emitted by a policy."""

    op: Op
    kind: str = ""  # DC/IC operation, barrier option, system-register field, or LDR/STR order
    loc: str = ""  # location, line, page or event name
    reg: str = ""  # destination register (LDR) or source register (STR)
    value: int = 0  # immediate
    level: str = ""  # cache level for set/way
    # Register expressions (machine/regexpr.py), from machine/paths.py: the address of a
    # register-indirect access (its loads are address dependencies, also when ``loc`` is
    # fixed), the data of a store, or the condition of an ASSUME.
    addr: tuple[Any, ...] = ()
    data: tuple[Any, ...] = ()
    flags: int = 0  # paths.RMW_READ, RMW_WRITE, NORET, AMO_AL, EXCLUSIVE, ATOMIC_READ
    at_least: bool = False  # AWAIT: leave once the value read is >= ``value`` (else == ``value``)
    text: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)
    source: str = field(default="", compare=False)  # file the program was written in

    def __post_init__(self) -> None:
        if type(self.op) is not Op:  # written as a string: one of the opcodes, or an error
            object.__setattr__(self, "op", Op(self.op))

    def __str__(self) -> str:
        return self.text or render(self)


def render(instr: Instr) -> str:
    """Canonical text of an instruction (used for policy-emitted code)."""
    op = instr.op
    if op == "STR":
        return f"{mnemonic(instr)} {instr.loc}, {instr.reg or instr.value}"
    if op == "LDR":
        return f"{mnemonic(instr)} {instr.reg}, {instr.loc}"
    if op == "AWAIT":
        return f"{mnemonic(instr)} {instr.loc}, {'>=' if instr.at_least else ''}{instr.value}"
    if op == "DC":
        return f"DC {instr.kind} {instr.loc}"
    if op == "DCSW":
        return f"DC {instr.kind} {instr.level}, {instr.loc}"
    if op == "IC":
        return f"IC {instr.kind} {instr.loc}".rstrip()
    if op == "TLBI":
        return f"TLBI {instr.kind}, {instr.loc}" if instr.loc else f"TLBI {instr.kind}"
    if op == "EXEC":
        return f"EXEC {instr.reg}, {instr.loc}"
    if op == "ATCHECK":
        return f"AT S1E1R, {instr.loc}; ISB; check PAR_EL1 (spurious-fault check)"
    if op in ("DMB", "DSB"):
        return f"{op} {instr.kind}"
    if op in ("MSR", "EMSR"):
        name = "MSR" if op == "MSR" else "emulate MSR"
        return f"{name} SCTLR_EL1.{instr.kind}, {instr.value}"
    if op == "HCR":
        return f"set HCR_EL2.{instr.kind}={instr.value}"
    if op in ("SIGNAL", "WAIT", "MAP"):
        return f"{op} {instr.loc} {instr.kind}".rstrip()
    return op


def dc(kind: str, loc: str) -> Instr:
    return Instr(Op.DC, kind=kind, loc=loc)


def dc_sw(kind: str, level: str, loc: str) -> Instr:
    return Instr(Op.DCSW, kind=kind, level=level, loc=loc)


def dsb(option: str = "SY") -> Instr:
    return Instr(Op.DSB, kind=option)


def map_page(page: str) -> Instr:
    return Instr(Op.MAP, loc=page)


def emulate_sctlr(field_name: str, value: int) -> Instr:
    return Instr(Op.EMSR, kind=field_name, value=value)


def ic(kind: str, loc: str = "") -> Instr:
    return Instr(Op.IC, kind=kind, loc=loc)


def tlbi(kind: str, loc: str = "") -> Instr:
    return Instr(Op.TLBI, kind=kind, loc=loc)


def isb() -> Instr:
    return Instr(Op.ISB)


def awaits(instr: Instr, value: int) -> bool:
    """Whether a poll of ``instr`` (an ``AWAIT``) that reads ``value`` leaves the loop:
    ``while (READ_ONCE(x) != v)`` or, with ``at_least``, ``while (READ_ONCE(x) < v)``."""
    return value >= instr.value if instr.at_least else value == instr.value


def store(loc: str, value: int) -> Instr:
    return Instr(Op.STR, loc=loc, value=value)
