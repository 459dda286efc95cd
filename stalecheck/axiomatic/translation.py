"""Address translation under herd's VMSA variant: the walk, its checks, and MMU faults.

An explicit access to a virtual address ``x`` is preceded, in the same
instruction, by a translation-table walk: an implicit read (herd's
``Imp & TTD & R``) of the entry ``PTE(x)`` (Arm ARM D8.2, the translation
table walk; one level here, as in herd).  The entry read decides what
happens next (herd: AArch64Sem.ml ``check_ptw``, without hardware updates of
the access flag or dirty state):

* not valid: a Translation fault (D8.15.1, R_LLSZN: an invalid descriptor);
* valid with the access flag clear: an Access flag fault (D8.5.1, without
  FEAT_HAFDBS updates; R_SHQBS);
* a write to a valid entry whose dirty bit (``db``, AP[2] clear) is clear: a
  Permission fault (D8.5.2: the dirty state is write permission);
* from EL0, an entry with the EL0 permission clear: a Permission fault (D8.4.1).

With hardware management (FEAT_HAFDBS, herd's ``TTHM`` key) an Access flag
fault becomes an update of the entry by the walk, and so does a Permission
fault on a writable-clean (DBM) entry: the walk and the update are one atomic
read-modify-write (herd's ``HU``, an implicit write; D8.5.1, D8.5.2).

Otherwise the access goes to the physical page the entry names, at the same
offset.  An access whose address is already physical (``PA(x)``) is not
translated; one to an entry itself (``PTE(x)``) is not translated either, but
faults from EL0 (herd: user code cannot touch the page tables).

A walk is an event of the instruction it translates: one walk per
instruction, shared by the read and write of an atomic (herd lifts the whole
instruction once; the check is the write's).  A fault ends the path
(:class:`Fault`); its kind is herd's
``MMU:<kind>`` and its location the virtual address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import NamedTuple, Protocol

from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.values import Addr, PteVal, Val, pte_cell_base, unwrap
from stalecheck.errors import UnsupportedError

PTE_SIZE = 8
Cell = tuple[str, int]


class Fault(Exception):
    """The instruction takes a synchronous exception; with no handler the thread stops."""

    def __init__(self, kind: str, loc: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.loc = loc  # the virtual address of a memory fault


class PathDropped(Exception):
    """herd discards the path (a second fault after a ``handled`` one: mem.ml add_fault)."""


class Walker(Protocol):
    """What a walk needs of the thread machine (machine.ThreadMachine)."""

    instance: int
    translations: dict[tuple[int, str], str]
    trace: ThreadTrace

    def read_value(self, cell: Cell) -> Val: ...

    def new_event(
        self, kind: str, cell: Cell, value: Val, size: int, d: int, p: int, **kw: object
    ) -> int: ...

    def unsupported(self, message: str) -> UnsupportedError: ...


class Hardware(NamedTuple):
    """FEAT_HAFDBS for one thread (herd's ``TTHM`` key): ``ha`` hardware Access flag
    updates (TCR_ELx.HA), ``hd`` hardware dirty state updates (TCR_ELx.HD, which herd
    takes to imply HA)."""

    ha: bool = False
    hd: bool = False


NO_HARDWARE = Hardware()


def fault_kind(pte: PteVal, write: bool, el0: bool, hw: Hardware = NO_HARDWARE) -> str:
    """The MMU fault a walk that read ``pte`` raises, or "" (herd's ``check_ptw``)."""
    if not pte.valid:
        return "Translation"  # D8.15.1: invalid descriptor
    if not pte.af and not hw.ha:
        return "AccessFlag"  # D8.5.1: AF clear and no hardware AF update
    if write and not pte.db and not (hw.hd and pte.dbm):
        return "Permission"  # D8.5.2: clean and not writable by hardware (DBM) is read-only
    if el0 and not pte.el0:
        return "Permission"  # D8.4.1: no EL0 access
    return ""


def hardware_update(pte: PteVal, write: bool, hw: Hardware) -> PteVal | None:
    """The entry the walk writes back, or None (herd: set_af / set_afdb after the checks).

    D8.5.1 (R_PQMNC): with HA the PE sets the Access flag itself; D8.5.2 (R_LLNXK):
    with HD a write to a writable-clean (DBM) page sets the dirty state, and, herd
    takes it, the Access flag with it.
    """
    if hw.hd and write and (not pte.af or not pte.db):
        return replace(pte, af=1, db=1)
    if hw.ha and not pte.af:
        return replace(pte, af=1)
    return None


def fault_event(m: Walker, kind: str, cell: Cell) -> None:
    """The fault as an event of its instruction (herd's ``MMU & FAULT``), after its walk:
    barriers order it (B2.3.7 bob, DSB-ob) and TLBI-ob orders from it."""
    m.new_event("F", cell, 0, 0, 0, 0, cmo=kind)


def translate(
    m: Walker, addr: Addr, write: bool, d: int, p: int, el0: bool,
    cells: Mapping[Cell, object], hw: Hardware = NO_HARDWARE,
) -> Addr:
    """The address ``addr`` designates in physical memory, after a walk if it is virtual.

    ``d``/``p`` are the address's dependency sources: the walk is
    address-dependent on them exactly as the access is (herd's ``addr`` reaches
    ``Imp & TTD & R``).  ``el0``: the thread runs at EL0; ``cells``: the test's
    locations.  Raises ``Fault`` when the walk faults.
    """
    physical = unwrap(addr.base, "PA")
    if physical is not None:
        return Addr(physical, addr.offset)
    if unwrap(addr.base, "PTE") is not None:
        if el0:
            fault_event(m, "MMU:Permission", (addr.base, addr.offset))
            raise Fault("MMU:Permission", addr.base)
        return addr
    key = (m.instance, addr.base)
    hit = m.translations.get(key)
    if hit is not None:
        return Addr(hit, addr.offset)
    cell = (pte_cell_base(addr.base), 0)
    if cell not in cells:
        raise m.unsupported(f"access to {addr.base}, which has no page-table entry")
    value = m.read_value(cell)
    idx = m.new_event("R", cell, value, PTE_SIZE, 0, 0, walk=True)
    walk = m.trace.events[idx]
    walk.addr_d, walk.addr_p, walk.lmrs_from = d, p, -1
    if not isinstance(value, PteVal):
        raise m.unsupported(f"a walk of {cell[0]} read {value}, which is not a page-table entry")
    kind = fault_kind(value, write, el0, hw)
    if kind:
        walk.walk_fault = kind
        fault_event(m, f"MMU:{kind}", (addr.base, addr.offset))
        raise Fault(f"MMU:{kind}", addr.base)
    if not value.oa:
        raise m.unsupported(f"a walk of {cell[0]} read an entry with no output address")
    update = hardware_update(value, write, hw)
    if update is not None:  # an atomic update of the entry the walk read (aob: rmw; [HU])
        hu = m.new_event("W", cell, update, PTE_SIZE, 0, 0, hu=True)
        m.trace.events[hu].addr_d, m.trace.events[hu].addr_p = d, p  # addr reaches HU
        m.trace.hu_rmw.append((idx, hu))
    m.translations[key] = value.oa
    return Addr(value.oa, addr.offset)


# Descriptor bits as herd places them (AArch64PteVal.ml; Arm ARM D8.3.1, stage 1 VMSAv8-64
# block and page descriptors): valid bit 0, AP[1] (EL0) bit 6, AP[2] (read-only, the
# inverse of ``db``) bit 7, AF bit 10, DBM bit 51, UXN/XN bit 54 (the inverse of ``x``).
_BITS = {"valid": 1 << 0, "el0": 1 << 6, "db": 1 << 7, "af": 1 << 10, "dbm": 1 << 51,
         "x": 1 << 54}
_INVERTED = frozenset({"db", "x"})  # a set bit means the field is 0
_ALL = sum(_BITS.values())


def pte_logic(op: str, pte: PteVal, mask: int) -> Val | None:
    """``ORR``/``AND``/``BIC`` of a descriptor with a constant, bit by bit (herd: orop,
    andop, andnot2); None where herd refuses the operation (a bit it does not model)."""
    if op == "ORR" and mask == 0:
        return pte
    if op != "AND" and mask & ~_ALL:
        return None
    fields: dict[str, int] = {}
    result = 0
    for name, bit in _BITS.items():
        if not mask & bit:
            continue
        inverted = name in _INVERTED
        if op == "ORR":
            fields[name] = 0 if inverted else 1
        elif op == "BIC":
            fields[name] = 1 if inverted else 0
        elif getattr(pte, name) == (0 if inverted else 1):  # AND: the bit as stored
            result |= bit
    if op == "AND":
        return result
    return replace(pte, valid=fields.get("valid", pte.valid), el0=fields.get("el0", pte.el0),
                   db=fields.get("db", pte.db), af=fields.get("af", pte.af),
                   dbm=fields.get("dbm", pte.dbm), x=fields.get("x", pte.x))
