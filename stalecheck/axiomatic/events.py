"""Events of one thread's execution path, with the dependency facts the model needs.

herd builds register events and intra-instruction edges (``iico_data``,
``iico_ctrl``) and derives dependencies in the cat model.  We run each
thread concretely and summarise those chains as we go: for every memory
event we keep the sets of earlier reads that reach it through registers
(``*_d``: through ``dtrm``, i.e. data flow only; ``*_p``: through
``pick-dtrm``, which may also cross an ``iico_ctrl`` edge such as a CSEL
condition or a CAS comparison).  Sets are int bitmasks over the thread's
memory-event indices, which keeps the later relation algebra cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stalecheck.axiomatic.values import Val
from stalecheck.errors import InputError

Cell = tuple[str, int]


@dataclass(slots=True)
class Event:
    """One memory effect: an explicit access (Arm ARM: an *Explicit* read or write effect),
    or, under the ifetch variant, an instruction fetch or a cache-maintenance effect."""

    # "R" or "W"; "C" for a cache-maintenance effect (``cmo`` says which); under VMSA
    # "T" for a TLBI (``cmo``: "TLBI.VAAE1IS"; ``cell``: the page, or "" for all) and
    # "F" for an MMU fault (``cmo``: "MMU:Translation"; ``cell``: the virtual address)
    kind: str
    cell: Cell
    value: Val
    instance: int  # index of the executed instruction: same-instance
    pos: int  # program-order position among all events and barriers
    size: int = 0  # bytes accessed (0 for the initial writes)
    text: str = ""
    line: int = 0
    acquire: bool = False  # A: LDAR, LDAXR, SWPA, ...
    release: bool = False  # L: STLR, STLXR, SWPL, ...
    acquire_pc: bool = False  # Q: LDAPR
    exclusive: bool = False
    atomic: bool = False  # single-instruction read-modify-write (amo)
    noret: bool = False  # read of an atomic whose destination is the zero register
    addr_d: int = 0
    addr_p: int = 0
    data_d: int = 0
    data_p: int = 0
    ctrl_d: int = 0
    ctrl_p: int = 0
    intra_d: int = 0  # reads flowing into this event inside its own instruction
    intra_p: int = 0
    lmrs_from: int = -1  # po-latest earlier write to the same cell (local index)
    fetch: bool = False  # an instruction fetch (herd's Imp & Instr & R), not an explicit read
    cmo: str = ""  # "DC.CVAU", "IC.IVAU", "IC.IALLU", "IC.IALLUIS" for kind "C"
    walk: bool = False  # a translation-table walk (herd's Imp & TTD & R), not an explicit read
    walk_fault: str = ""  # the MMU fault this walk raised: "Translation", "AccessFlag", ...
    hu: bool = False  # a hardware update of a page-table entry (herd's HU = Imp & TTD & W)

    @property
    def is_read(self) -> bool:
        return self.kind == "R"

    @property
    def is_write(self) -> bool:
        return self.kind == "W"

    def src_d(self) -> int:
        """Reads that reach this event through ``dtrm`` (used to follow ``lmrs``)."""
        return self.addr_d | self.data_d | self.intra_d

    def src_p(self) -> int:
        return self.addr_p | self.data_p | self.intra_p


# Barrier kinds that are context synchronization events (herd's ``IFB``,
# aarch64hwreqs.cat: ``ISB | EXC-ENTRY-IFB | EXC-RET-IFB``): an ISB, and an exception
# entry or return (Arm ARM D1.3.5: both are context-synchronizing unless FEAT_ExS says
# otherwise).  ``exc.entry.noifb``/``exc.ret.noifb`` record one that FEAT_ExS makes not
# synchronizing (``-variant exs`` without ``eis``/``eos``): no model orders through it.
IFB_KINDS = frozenset({"isb", "exc.entry", "exc.ret"})


@dataclass(slots=True)
class Barrier:
    """A DMB/DSB/ISB in program order; ISB remembers which reads it is ordered after."""

    # "dmb.full", "dmb.ld", "dmb.st", "dsb.full", "dsb.ld", "dsb.st", "isb", and the
    # exception entries and returns "exc.entry", "exc.ret" (+ ".noifb", see IFB_KINDS)
    kind: str
    pos: int
    ctrl_d: int = 0
    ctrl_p: int = 0
    addr_before_d: int = 0  # reads with an address dependency to an access before it
    addr_before_p: int = 0


@dataclass(slots=True)
class ThreadTrace:
    """One complete path through one thread, with values chosen for every read."""

    proc: int
    events: list[Event] = field(default_factory=list)
    barriers: list[Barrier] = field(default_factory=list)
    rmw: list[tuple[int, int]] = field(default_factory=list)
    hu_rmw: list[tuple[int, int]] = field(default_factory=list)  # walk -> its AF/DB update
    iico_order: list[tuple[int, int]] = field(default_factory=list)  # intra-instruction order
    sca_groups: list[tuple[int, ...]] = field(default_factory=list)  # single-copy-atomic pairs
    registers: dict[str, Val] = field(default_factory=dict)
    # proc, label, kind, location ("" when the fault names none, e.g. UDF)
    faults: list[tuple[int, str, str, str]] = field(default_factory=list)
    cut: bool = False  # a loop hit the unrolling bound on this path
    poison: InputError | None = None  # path ended on an error herd reports if reachable
