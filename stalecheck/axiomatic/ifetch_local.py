"""Thread-local order with instruction fetches and cache maintenance (herd's ``-variant ifetch``).

The explicit accesses keep the clauses of :mod:`~stalecheck.axiomatic.aarch64_local`;
this module adds the clauses of ``aarch64hwreqs.cat`` whose sources or
targets are fetches (``Imp & Instr & R``) or cache-maintenance effects
(``DC.CVAU``, ``IC``), each citing the clause it implements:

* ``f-ib``/``f-ob``: a fetch is before every effect of its instruction and every
  later non-fetch effect of its thread (Arm ARM B2.3.5 "Fetch-intrinsically-before",
  B2.3.7 "Fetch-ordered-before");
* ``dob``/``pob``: ``addr``, ``ctrl`` and their pick forms reach ``DC.CVAU`` and ``IC``;
* ``bob``: ``DMB`` (full) orders ``DC.CVAU`` with explicit accesses and other ``DC.CVAU``;
* ``po-scl-ob``: ``DC.CVAU`` is ordered with po-earlier/later accesses of the same
  line (B2.3.7 "Same-Cache-Line-ordered-before");
* ``DSB-ob``: a full ``DSB`` orders every memory or maintenance effect before it
  with every later effect but fetches (B2.3.7 "DSB-ordered-before");
* ``IFB-ob``: ``DSB-ob; [ISB]; po`` and ``ctrl``/``addr`` into an ``ISB`` also
  order later *fetches* (B2.3.7 "Instruction-fetch-barrier-ordered-before").

Besides ``lob`` it returns, for each complete ``IC``, the effects it is
``DSB-ob | IFB-ob`` before: the model's ``IC-ob`` needs them.
"""

from __future__ import annotations

from stalecheck.axiomatic.aarch64_local import (
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

FetchOrder = MaintainedOrder


def is_explicit(ev: Event) -> bool:
    return ev.kind in ("R", "W") and not ev.fetch


def _dsb_ob(t: ThreadView, i: int, pos_j: int) -> str:
    """``DSB-ob`` from event i to a later point (aarch64hwreqs.cat; target not a fetch)."""
    ei = t.events[i]
    lo = ei.pos
    kinds = {b.kind for b in t.barriers if lo < b.pos < pos_j}
    if "dsb.full" in kinds:
        return "dsb.full"  # [M | DC.CVAU | IC]; po; [dsb.full]; po
    if is_explicit(ei) and ei.is_read and not ei.noret and "dsb.ld" in kinds:
        return "dsb.ld"
    if is_explicit(ei) and ei.is_write and "dsb.st" in kinds:
        return "dsb.st"
    return ""


def dsb_ob(t: ThreadView, i: int, j: int) -> str:
    """``DSB-ob`` (aarch64hwreqs.cat): never into a fetch."""
    if t.events[j].fetch:
        return ""
    return _dsb_ob(t, i, t.events[j].pos)


def ifb_ob_fetch(t: ThreadView, i: int, j: int) -> str:
    """``IFB-ob`` (aarch64hwreqs.cat): ``(ctrl | addr; po | DSB-ob); [ISB]; po``, into anything."""
    reason = ifb_ob(t, i, j)
    if reason:
        return reason
    lo, hi = t.events[i].pos, t.events[j].pos
    for b in t.barriers:
        if b.kind in IFB_KINDS and lo < b.pos < hi and _dsb_ob(t, i, b.pos):
            return "dsb;isb"
    return ""


def cmo_dependency(t: ThreadView, i: int, j: int) -> str:
    """``dob``/``pob``: ``addr`` and ``ctrl`` (and pick forms) into ``DC.CVAU | IC``."""
    ej, bit = t.events[j], 1 << i
    if ej.kind != "C":
        return ""
    if ej.addr_d & bit:
        return "addr"
    if ej.ctrl_d & bit:
        return "ctrl"
    if (ej.addr_p | ej.ctrl_p) & bit:
        return "pob"
    return ""


def _dc_or_explicit(ev: Event) -> bool:
    return is_explicit(ev) or ev.cmo == "DC.CVAU"


def dc_bob(t: ThreadView, i: int, j: int) -> str:
    """``bob``: ``[Exp & M | DC.CVAU]; po; [dmb.full]; po; [Exp & M | DC.CVAU]``."""
    ei, ej = t.events[i], t.events[j]
    if _dc_or_explicit(ei) and _dc_or_explicit(ej) and t.between(i, j, "dmb.full"):
        return "dmb.full"
    return ""


def po_scl_ob(t: ThreadView, i: int, j: int) -> str:
    """``po-scl-ob``: ``DC.CVAU`` and explicit accesses of the same cache line, in po."""
    ei, ej = t.events[i], t.events[j]
    if _dc_or_explicit(ei) and _dc_or_explicit(ej) and ei.cell == ej.cell:
        return "po-scl"
    return ""


def fetch_lob_reason(t: ThreadView, i: int, j: int) -> str:
    """Why i is locally-ordered-before j when a fetch or maintenance effect is involved."""
    ei, ej = t.events[i], t.events[j]
    if ei.fetch and not ej.fetch:
        return "f-ob"
    for clause in (cmo_dependency, dc_bob, po_scl_ob, dsb_ob, ifb_ob_fetch):
        reason = clause(t, i, j)
        if reason:
            return reason
    return ""


def _within_fetch(t: ThreadView, i: int, j: int) -> str:
    """f-ib: the fetch is intrinsically before its instruction's effects; else rmw."""
    return "f-ib" if t.events[i].fetch and not t.events[j].fetch else same_instruction(t, i, j)


def _across_fetch(t: ThreadView, i: int, j: int) -> str:
    ei, ej = t.events[i], t.events[j]
    return lob_reason(t, i, j) if is_explicit(ei) and is_explicit(ej) else fetch_lob_reason(t, i, j)


def fetch_local_order(trace: ThreadTrace) -> FetchOrder:
    """``lob`` and ``(lob | pick-lob)+`` of a thread path with fetches and maintenance."""
    t = explicit_view(trace, is_explicit)
    events = t.events

    def reaches(k: int, j: int) -> bool:
        return events[j].instance != events[k].instance and bool(
            dsb_ob(t, k, j) or ifb_ob_fetch(t, k, j))

    ic_reach, complete = maintenance_reach(t, lambda ev: ev.cmo.startswith("IC."), reaches)
    return FetchOrder(order_from(t, trace, _across_fetch, _within_fetch), ic_reach, complete)
