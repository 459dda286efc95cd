"""The instructions of machine-engine programs, as plain frozen data.

One flat record for every instruction rather than a class per opcode: the
engine dispatches on ``op`` in one place (``machine/execute.py``), and the
record hashes cheaply when a hypervisor policy's emitted code sits in a state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

    op: str  # STR LDR AWAIT DC DCSW IC DMB DSB ISB MSR SIGNAL WAIT MAP NOP EMSR EXEC TLBI ATCHECK
    kind: str = ""  # DC/IC operation, barrier option, system-register field, or LDR/STR order
    loc: str = ""  # location, line, page or event name
    reg: str = ""  # destination register (LDR) or source register (STR)
    value: int = 0  # immediate
    level: str = ""  # cache level for set/way
    at_least: bool = False  # AWAIT: leave once the value read is >= ``value`` (else == ``value``)
    text: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)
    source: str = field(default="", compare=False)  # file the program was written in

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
    return Instr("DC", kind=kind, loc=loc)


def dc_sw(kind: str, level: str, loc: str) -> Instr:
    return Instr("DCSW", kind=kind, level=level, loc=loc)


def dsb(option: str = "SY") -> Instr:
    return Instr("DSB", kind=option)


def map_page(page: str) -> Instr:
    return Instr("MAP", loc=page)


def emulate_sctlr(field_name: str, value: int) -> Instr:
    return Instr("EMSR", kind=field_name, value=value)


def ic(kind: str, loc: str = "") -> Instr:
    return Instr("IC", kind=kind, loc=loc)


def tlbi(kind: str, loc: str = "") -> Instr:
    return Instr("TLBI", kind=kind, loc=loc)


def isb() -> Instr:
    return Instr("ISB")


def awaits(instr: Instr, value: int) -> bool:
    """Whether a poll of ``instr`` (an ``AWAIT``) that reads ``value`` leaves the loop:
    ``while (READ_ONCE(x) != v)`` or, with ``at_least``, ``while (READ_ONCE(x) < v)``."""
    return value >= instr.value if instr.at_least else value == instr.value


def store(loc: str, value: int) -> Instr:
    return Instr("STR", loc=loc, value=value)
