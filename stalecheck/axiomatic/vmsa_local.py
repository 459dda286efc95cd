"""Thread-local order with walks, TLBIs and faults (herd's ``-variant vmsa``).

Explicit accesses keep the clauses of :mod:`~stalecheck.axiomatic.aarch64_local`.
This module adds the clauses of herd's ``aarch64hwreqs.cat`` whose source or
target is a walk (``Imp & TTD & R``), a TLBI, or an MMU fault
(``MMU & FAULT``), each citing the Arm ARM rule it implements (B2.3.5-B2.3.7,
the ordering relations; D8.2, translation table walks; D8.17, TLB maintenance):

* ``tr-ib``: a walk is before its own instruction's access or fault (B2.3.5
  "Translation-intrinsically-before");
* ``addr``: a read the address depends on is before the walk, and before a TLBI
  whose operand depends on it; ``ctrl`` and the pick dependencies reach TLBIs
  (B2.3.6; B2.3.7 "Dependency-ordered-before", "Pick-ordered-before");
* ``dob``/``lmws``: a walk is before every explicit write po-after its access, and
  before a later explicit write to the entry it read (B2.3.7);
* ``bob``: DMB, acquire and the write of an AL atomic order MMU faults like the
  accesses they order (B2.3.7 "Barrier-ordered-before"); DMB does not order TLBIs;
* ``DSB-ob``: a full DSB orders walks and TLBIs before it, and orders before
  everything after it but walks; nothing is ordered before a later walk by a DSB
  alone without FEAT_ETS2 (B2.3.7 "DSB-ordered-before"; D8.2.7);
* ``IFB-ob``: an ISB orders later walks after what ``ctrl``, ``addr; po`` or a DSB
  ordered before it, and after walks whose access precedes it (B2.3.7
  "Instruction-fetch-barrier-ordered-before").

Besides ``lob`` it returns, for each TLBI, what it is ``DSB-ob | IFB-ob`` before
(the model's ``TLBI-ob`` needs them), and which TLBIs a full DSB completes
(``C_TLBI`` in herd's ``enumerations.cat``).  A fault ends its thread (herd's
``fatal``), so nothing of its thread is after it.
"""

from __future__ import annotations

from stalecheck.axiomatic.aarch64_local import (
    LOB_CLAUSES,
    MaintainedOrder,
    ThreadView,
    explicit_view,
    ifb_ob,
    lob_reason,
    maintenance_reach,
    order_from,
    same_instruction,
)
from stalecheck.axiomatic.events import IFB_KINDS, Event, ThreadTrace

VmsaOrder = MaintainedOrder


def is_explicit(ev: Event) -> bool:
    return ev.kind in ("R", "W") and not ev.walk and not ev.hu


def _implicit_ttd(ev: Event) -> bool:
    """``Imp & TTD & M``: a walk or a hardware update, never a DSB-ob target."""
    return ev.walk or ev.hu


def _dsb_before(t: ThreadView, i: int, pos: int) -> str:
    """``DSB-ob`` from event ``i`` to a later point ``pos`` of its thread."""
    ei = t.events[i]
    kinds = {b.kind for b in t.barriers if ei.pos < b.pos < pos}
    if "dsb.full" in kinds and ei.kind in ("R", "W", "T"):
        return "dsb.full"  # [M | TLBI]; po; [dsb.full]; po -- walks included as sources
    if is_explicit(ei) and ei.is_read and not ei.noret and "dsb.ld" in kinds:
        return "dsb.ld"
    if is_explicit(ei) and ei.is_write and "dsb.st" in kinds:
        return "dsb.st"
    return ""


def _isbs(t: ThreadView, lo: int, hi: int) -> list[int]:
    """Positions of the context synchronization events (herd's ``IFB``) strictly between
    positions ``lo`` and ``hi``: ISBs, and MMU faults, which are exception entries
    (``EXC-ENTRY``; Arm ARM D1.3.5: taking an exception is context-synchronizing)."""
    return [b.pos for b in t.barriers if b.kind in IFB_KINDS and lo < b.pos < hi] + [
        ev.pos for ev in t.events if ev.kind == "F" and lo < ev.pos < hi]


def _fault_ifb_sources(t: ThreadView, f: int) -> int:
    """Reads ordered before everything after fault ``f`` by ``IFB-ob``: ``ctrl`` and
    ``addr; [Exp & M]; po`` into it (and their pick forms), and ``pick-addr-dep; tr-ib``
    through its own walk."""
    ev = t.events[f]
    mask = ev.ctrl_d | ev.ctrl_p | t.addr_before_d[f] | t.addr_before_p[f]
    for w in range(f - 1, -1, -1):
        ew = t.events[w]
        if ew.instance != ev.instance:
            break
        if ew.walk:
            mask |= ew.addr_d | ew.addr_p
    return mask


def _access_pos(t: ThreadView, walk: int) -> int | None:
    """Position of the explicit access a walk translates for (its ``tr-ib; [Exp & M]``
    target), or None when the walk faulted."""
    inst = t.events[walk].instance
    for ev in t.events[walk + 1:]:
        if ev.instance != inst:
            break
        if is_explicit(ev):
            return ev.pos
    return None


def _ifb(t: ThreadView, i: int, j: int) -> str:
    """``IFB-ob`` into anything po-after an ISB or a fault (walks included)."""
    ei, pos_j = t.events[i], t.events[j].pos
    if is_explicit(ei):
        reason = ifb_ob(t, i, j)  # [Exp & R]; (ctrl | addr; [Exp & M]; po); [IFB]; po
        if reason:
            return reason
        if ei.is_read and any(ef.kind == "F" and ei.pos < ef.pos < pos_j
                              and _fault_ifb_sources(t, f) >> i & 1
                              for f, ef in enumerate(t.events)):
            return "dep+exc"  # ... [IFB]; po, the IFB being the fault
    if ei.walk and any(ef.kind == "F" and ef.instance == ei.instance and ef.pos < pos_j
                       for ef in t.events):
        return "tr-ib;exc"  # [Imp & TTD & R]; tr-ib; [IFB]; po
    access = _access_pos(t, i) if ei.walk else None
    if access is not None and _isbs(t, access, pos_j):
        return "tr-ib;isb"  # [Imp & TTD & R]; tr-ib; [Exp & M]; po; [IFB]; po
    if any(_dsb_before(t, i, pos) for pos in _isbs(t, ei.pos, pos_j)):
        return "dsb;isb"  # DSB-ob; [IFB]; po
    return ""


def _fault_bob(t: ThreadView, i: int, j: int) -> str:
    """``bob`` into ``MMU & FAULT``: what a DMB or acquire orders before an access."""
    ei = t.events[i]
    if t.between(i, j, "dmb.full"):
        return "dmb.full"
    if ei.is_read and not ei.noret and t.between(i, j, "dmb.ld"):
        return "dmb.ld"
    if ei.is_write and t.between(i, j, "dmb.st"):
        return "dmb.st"
    if i in t.al_writes:
        return "amo.al"
    if ei.is_read and (ei.acquire or ei.acquire_pc):
        return "acq"
    return ""


def _tlbi_dep(t: ThreadView, i: int, j: int) -> str:
    """``addr``, ``ctrl`` (dob) and their pick forms (pob) into a TLBI."""
    ej, bit = t.events[j], 1 << i
    if ej.addr_d & bit:
        return "addr"
    if ej.ctrl_d & bit:
        return "ctrl"
    if (ej.addr_p | ej.ctrl_p) & bit:
        return "pob"
    return ""


def _hu_target(t: ThreadView, i: int, j: int) -> str:
    """``dob``/``pob`` into a hardware update ([Exp & W | HU] targets), or ``IFB-ob``."""
    ej, bit = t.events[j], 1 << i
    if ej.addr_d & bit:
        return "addr"  # addr reaches HU
    if ej.ctrl_d & bit:
        return "ctrl"
    if t.addr_before_d[j] & bit:
        return "addr;po"
    if (ej.addr_p | ej.ctrl_p | t.addr_before_p[j]) & bit:
        return "pob"
    return _ifb(t, i, j)


def _explicit_pair(t: ThreadView, i: int, j: int) -> str:
    """The base clauses, but ``(addr | data); [Exp & M]; lmrs`` needs an explicit write:
    a hardware update in between is the po-latest write the read follows (herd's lmrs)."""
    reason = lob_reason(t, i, j)
    lm = t.events[j].lmrs_from
    if reason == "dep;lmrs" and lm >= 0 and t.events[lm].hu:
        return next((r for clause in LOB_CLAUSES[1:] if (r := clause(t, i, j))), "")
    return reason


def _ets_ob(t: ThreadView, i: int, j: int, ets: str) -> str:
    """``ets-ob``: with FEAT_ETS2, an explicit access is before the walk of a po-later
    access that takes a Translation or Access flag fault; with FEAT_ETS3, any MMU fault
    (aarch64hwreqs.cat; Arm ARM D8.2.7, R_NBKNN/R_PTKRQ for ETS2 and ETS3)."""
    inst = t.events[j].instance
    for ev in t.events[j + 1:]:
        if ev.instance != inst:
            break
        if ev.kind == "F" and (ets == "ets3" or ev.cmo in ("MMU:Translation", "MMU:AccessFlag")):
            return "ets-ob"
    return ""


def _from_explicit(t: ThreadView, i: int, j: int, ets: str = "") -> str:
    ej = t.events[j]
    if is_explicit(ej):
        return _explicit_pair(t, i, j)
    if ets and _implicit_ttd(ej) and _dsb_before(t, i, ej.pos):
        return "dsb-ets"  # DSB-ob into Imp & TTD & M, with ETS2 or ETS3
    if ej.hu:
        return _hu_target(t, i, j)
    if ej.walk:
        if t.events[i].is_read and ej.addr_d >> i & 1:
            return "addr"  # addr reaches Imp & TTD & R
        return (ets and _ets_ob(t, i, j, ets)) or _ifb(t, i, j)
    if ej.kind == "F":
        return _fault_bob(t, i, j) or _dsb_before(t, i, ej.pos) or _ifb(t, i, j)
    return _tlbi_dep(t, i, j) or _dsb_before(t, i, ej.pos) or _ifb(t, i, j)  # a TLBI


def _from_walk(t: ThreadView, i: int, j: int, ets: str = "") -> str:
    ej = t.events[j]
    if ej.is_write:  # an explicit write or a hardware update
        if ej.cell == t.events[i].cell:
            return "lmws"  # [Imp & TTD & R]; po-loc; [Exp & W | HU]
        if _access_pos(t, i) is not None:
            return "tr-ib;po"  # dob: [Imp & TTD & R]; tr-ib; [Exp & M]; po; [Exp & W | HU]
    if (ets or not _implicit_ttd(ej)) and _dsb_before(t, i, ej.pos):
        return "dsb.full"
    return _ifb(t, i, j)


def _from_other(t: ThreadView, i: int, j: int, ets: str = "") -> str:
    """From a TLBI or a hardware update: ``DSB-ob`` (into walks or updates only with
    ETS2/ETS3), ``IFB-ob``."""
    ej = t.events[j]
    if (ets or not _implicit_ttd(ej)) and _dsb_before(t, i, ej.pos):
        return "dsb.full"
    return _ifb(t, i, j)


def vmsa_lob_reason(t: ThreadView, i: int, j: int, ets: str = "") -> str:
    """Why event ``i`` is locally-ordered-before ``j`` of a later instruction, or ""
    (``ets``: "ets2" or "ets3" when the PE has FEAT_ETS2/FEAT_ETS3)."""
    ei = t.events[i]
    if is_explicit(ei):
        return _from_explicit(t, i, j, ets)
    if ei.walk:
        return _from_walk(t, i, j, ets)
    if ei.kind == "T" or ei.hu:
        return _from_other(t, i, j, ets)
    return ""  # nothing is locally ordered after a fault but through IFB-ob


def _within_walk(t: ThreadView, i: int, j: int) -> str:
    """tr-ib: the walk is intrinsically before its access or fault (B2.3.5);
    aob: ``[Imp & TTD & R]; rmw; [HU]``, before the update it makes; else rmw."""
    ei, ej = t.events[i], t.events[j]
    if ei.walk and not ej.walk:
        return "rmw" if ej.hu else "tr-ib"
    return same_instruction(t, i, j)


def vmsa_local_order(trace: ThreadTrace, ets: str = "") -> VmsaOrder:
    """``lob`` and ``(lob | pick-lob)+`` of a thread path with walks, TLBIs and faults."""
    t = explicit_view(trace, is_explicit)
    events = t.events

    def across(t: ThreadView, i: int, j: int) -> str:
        return vmsa_lob_reason(t, i, j, ets)

    def reaches(k: int, j: int) -> bool:  # DSB-ob | IFB-ob (DSB-ob; [IFB]; po)
        ej = events[j]
        return ((bool(ets) or not _implicit_ttd(ej)) and bool(_dsb_before(t, k, ej.pos))) or any(
            _dsb_before(t, k, pos) for pos in _isbs(t, events[k].pos, ej.pos))

    reach, complete = maintenance_reach(t, lambda ev: ev.kind == "T", reaches)
    return VmsaOrder(order_from(t, trace, across, _within_walk), reach, complete)
