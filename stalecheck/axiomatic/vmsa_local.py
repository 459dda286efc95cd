"""Thread-local order with translation-table walks (herd's ``-variant vmsa``).

Explicit accesses keep the clauses of :mod:`~stalecheck.axiomatic.aarch64_local`.
This module adds the clauses of herd's ``aarch64hwreqs.cat`` whose source or
target is a walk (``Imp & TTD & R``), each citing the Arm ARM rule it
implements (B2.3.7, the ordering relations; D8.2, translation table walks):

* ``tr-ib``: a walk is before its own instruction's access (B2.3.5
  "Translation-intrinsically-before");
* ``addr``: a read the address depends on is before the walk (B2.3.6
  "Address dependency" reaches translation-table walks);
* ``dob``: a walk is before every explicit write po-after its access, and
  ``lmws`` before a later explicit write to the entry it read (B2.3.7
  "Dependency-ordered-before", "Local write successor");
* ``DSB-ob``: a walk is before whatever follows a full DSB, but nothing is
  ordered before a later walk by a DSB alone, without FEAT_ETS2 (B2.3.7
  "DSB-ordered-before"; D8.2.7: only a context synchronization event makes
  later walks observe earlier writes);
* ``IFB-ob``: a context synchronization event (ISB) orders later walks after
  what ``ctrl``, ``addr; po`` or a DSB ordered before it, and after walks whose
  access precedes it (B2.3.7 "Instruction-fetch-barrier-ordered-before").

Faults end their thread (``fatal``): a fault is ``ob``-after its walk and any
barrier before it, but nothing is after it, so it adds no cycle and is not an
event here; the walk remembers its fault for the model.
"""

from __future__ import annotations

from stalecheck.axiomatic.aarch64_local import (
    LocalOrder,
    ThreadView,
    ifb_ob,
    lob_reason,
    pick_lob,
)
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.relations import transitive_closure


def _view(trace: ThreadTrace) -> ThreadView:
    """The base view, with ``addr; [Exp & M]; po`` counting explicit accesses only."""
    base = ThreadView.of(trace)
    before_d = [0] * (len(trace.events) + 1)
    before_p = [0] * (len(trace.events) + 1)
    for k, ev in enumerate(trace.events):
        before_d[k + 1] = before_d[k] | (0 if ev.walk else ev.addr_d)
        before_p[k + 1] = before_p[k] | (0 if ev.walk else ev.addr_p)
    return ThreadView(base.events, base.barriers, base.rmw, base.rmw_rev, before_d, before_p,
                      base.al_writes)


def _dsb_before(t: ThreadView, i: int, pos: int) -> str:
    """``DSB-ob`` from event ``i`` to a point ``pos`` of its thread (aarch64hwreqs.cat)."""
    ei = t.events[i]
    kinds = {b.kind for b in t.barriers if ei.pos < b.pos < pos}
    if "dsb.full" in kinds:
        return "dsb.full"  # [M]; po; [dsb.full]; po -- walks included as sources
    if not ei.walk and ei.is_read and not ei.noret and "dsb.ld" in kinds:
        return "dsb.ld"
    if not ei.walk and ei.is_write and "dsb.st" in kinds:
        return "dsb.st"
    return ""


def _isb_after(t: ThreadView, lo: int, hi: int) -> list[int]:
    """Positions of ISBs strictly between ``lo`` and ``hi``."""
    return [b.pos for b in t.barriers if b.kind == "isb" and lo < b.pos < hi]


def _access_pos(t: ThreadView, walk: int) -> int:
    """Position of the access a walk translates (the next event of its instruction)."""
    ev = t.events[walk]
    nxt = walk + 1
    if nxt < len(t.events) and t.events[nxt].instance == ev.instance:
        return t.events[nxt].pos
    return ev.pos


def walk_source_reason(t: ThreadView, i: int, j: int) -> str:
    """Why walk ``i`` is locally before event ``j`` of a later instruction, or ""."""
    ej = t.events[j]
    if not ej.walk and ej.is_write:
        if ej.cell == t.events[i].cell:
            return "lmws"  # [Imp & TTD & R]; po-loc; [Exp & W]
        return "tr-ib;po"  # dob: [Imp & TTD & R]; tr-ib; [Exp & M]; po; [Exp & W]
    if not ej.walk and _dsb_before(t, i, ej.pos):
        return "dsb.full"  # DSB-ob, not into walks
    if _isb_after(t, _access_pos(t, i), ej.pos):
        return "tr-ib;isb"  # IFB-ob: [Imp & TTD & R]; tr-ib; [Exp & M]; po; [IFB]; po
    if any(_dsb_before(t, i, pos) for pos in _isb_after(t, t.events[i].pos, ej.pos)):
        return "dsb;isb"  # IFB-ob: DSB-ob; [IFB]; po
    return ""


def walk_target_reason(t: ThreadView, i: int, j: int) -> str:
    """Why explicit event ``i`` is locally before walk ``j`` of a later instruction, or ""."""
    ei, ej = t.events[i], t.events[j]
    if ei.is_read and ej.addr_d >> i & 1:
        return "addr"  # addr reaches Imp & TTD & R
    reason = ifb_ob(t, i, j)  # [Exp & R]; (ctrl | addr; [Exp & M]; po); [IFB]; po
    if reason:
        return reason
    if any(_dsb_before(t, i, pos) for pos in _isb_after(t, ei.pos, ej.pos)):
        return "dsb;isb"  # IFB-ob: DSB-ob; [IFB]; po
    return ""


def vmsa_local_order(trace: ThreadTrace) -> LocalOrder:
    """``lob`` and ``(lob | pick-lob)+`` of a thread path with walks."""
    t = _view(trace)
    events = t.events
    n = len(events)
    lob = [0] * n
    named: list[tuple[int, int, str]] = []
    for i in range(n):
        ei = events[i]
        for j in range(i + 1, n):
            ej = events[j]
            if ej.instance == ei.instance:
                # tr-ib: the walk is intrinsically before its instruction's access (B2.3.5).
                reason = "tr-ib" if ei.walk and not ej.walk else (
                    "rmw" if t.rmw.get(i) == j else "")
            elif ei.walk:
                reason = walk_source_reason(t, i, j)
            elif ej.walk:
                reason = walk_target_reason(t, i, j)
            else:
                reason = lob_reason(t, i, j)
            if reason:
                lob[i] |= 1 << j
                named.append((i, j, reason))
    for a, b in trace.iico_order:
        lob[a] |= 1 << b
        named.append((a, b, "iico_order"))
    lob_closed = transitive_closure(lob)
    hw = pick_lob(t, lob_closed, named)
    return LocalOrder(tuple(lob_closed), tuple(hw), tuple(named))
