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

from dataclasses import dataclass

from stalecheck.axiomatic.aarch64_local import (
    LocalOrder,
    ThreadView,
    ifb_ob,
    lob_reason,
    pick_lob,
)
from stalecheck.axiomatic.events import IFB_KINDS, Event, ThreadTrace
from stalecheck.axiomatic.relations import transitive_closure


@dataclass(frozen=True)
class FetchOrder:
    """``lob`` with fetches and maintenance, and each IC's ``DSB-ob | IFB-ob`` targets."""

    order: LocalOrder
    ic_reach: dict[int, int]  # local IC index -> bitmask of local events
    complete_ic: frozenset[int]  # C_IC: ICs with a full DSB after them (enumerations.cat)


def is_explicit(ev: Event) -> bool:
    return ev.kind in ("R", "W") and not ev.fetch


def _view(trace: ThreadTrace) -> ThreadView:
    """The base view, but ``addr; [Exp & M]; po`` counts explicit accesses only."""
    base = ThreadView.of(trace)
    before_d = [0] * (len(trace.events) + 1)
    before_p = [0] * (len(trace.events) + 1)
    for k, ev in enumerate(trace.events):
        explicit = is_explicit(ev)
        before_d[k + 1] = before_d[k] | (ev.addr_d if explicit else 0)
        before_p[k + 1] = before_p[k] | (ev.addr_p if explicit else 0)
    return ThreadView(base.events, base.barriers, base.rmw, base.rmw_rev, before_d, before_p,
                      base.al_writes, base.sca)


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


def fetch_local_order(trace: ThreadTrace) -> FetchOrder:
    """``lob`` and ``(lob | pick-lob)+`` of a thread path with fetches and maintenance."""
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
                # f-ib: the fetch is intrinsically before its instruction's effects.
                reason = "f-ib" if ei.fetch and not ej.fetch else (
                    "rmw" if t.rmw.get(i, 0) >> j & 1 else "")
            elif is_explicit(ei) and is_explicit(ej):
                reason = lob_reason(t, i, j)
            else:
                reason = fetch_lob_reason(t, i, j)
            if reason:
                lob[i] |= 1 << j
                named.append((i, j, reason))
    for a, b in trace.iico_order:
        lob[a] |= 1 << b
        named.append((a, b, "iico_order"))
    lob_closed = transitive_closure(lob)
    hw = pick_lob(t, lob_closed, named)
    ic_reach: dict[int, int] = {}
    complete: set[int] = set()
    for k, ev in enumerate(events):
        if not ev.cmo.startswith("IC."):
            continue
        if any(b.kind == "dsb.full" and b.pos > ev.pos for b in t.barriers):
            complete.add(k)
        mask = 0
        for j in range(k + 1, n):
            if events[j].instance != ev.instance and (dsb_ob(t, k, j) or ifb_ob_fetch(t, k, j)):
                mask |= 1 << j
        ic_reach[k] = mask
    return FetchOrder(LocalOrder(tuple(lob_closed), tuple(hw), tuple(named)), ic_reach,
                      frozenset(complete))
