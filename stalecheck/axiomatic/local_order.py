"""Locally-ordered-before (``lob``) and its pick extension for one thread's trace.

These are the parts of the Arm model (Arm ARM B2.3, herd's ``aarch64.cat``
and ``aarch64hwreqs.cat``) that depend only on one thread: dependencies
(``dob``, ``pob``), barriers (``bob``, ``DSB-ob``, ``IFB-ob``), atomics
(``aob``) and same-location writes (``lmws``).  They do not depend on the
read-from or coherence choice, so they are computed once per thread path
and reused for every candidate execution built from it.

Relations are lists of int bitmasks: ``rel[i] >> j & 1`` means ``i -> j``.
"""

from __future__ import annotations

from dataclasses import dataclass

from stalecheck.axiomatic.events import Barrier, Event, ThreadTrace


def transitive_closure(rel: list[int]) -> list[int]:
    """Warshall's algorithm on bitmask rows."""
    out = list(rel)
    n = len(out)
    for k in range(n):
        bit = 1 << k
        row_k = out[k]
        for i in range(n):
            if out[i] & bit:
                out[i] |= row_k
    return out


def _between(barriers: list[Barrier], lo: int, hi: int, kind: str) -> bool:
    return any(lo < b.pos < hi and b.kind == kind for b in barriers)


@dataclass(frozen=True)
class LocalOrder:
    """Per-thread results: ``lob`` (closed), ``hw`` = (lob | pick-lob)+, named edges."""

    lob: tuple[int, ...]
    hw: tuple[int, ...]
    named: tuple[tuple[int, int, str], ...]  # for witnesses: (i, j, relation name)


def _pick_sources(ev: Event, events: list[Event]) -> int:
    """Reads related to ``ev`` by pick-dep (basic, addr, data, ctrl), whatever the target."""
    mask = ev.addr_p | ev.data_p | ev.intra_p | ev.ctrl_p
    if ev.is_read and ev.lmrs_from >= 0:
        w = events[ev.lmrs_from]
        mask |= w.src_p() | w.src_d()
    return mask


def local_order(trace: ThreadTrace) -> LocalOrder:
    """Compute ``lob`` for one thread path, following aarch64hwreqs.cat clause by clause."""
    events = trace.events
    barriers = trace.barriers
    n = len(events)
    lob = [0] * n
    named: list[tuple[int, int, str]] = []
    rmw = dict(trace.rmw)
    rmw_rev = {w: r for r, w in trace.rmw}
    addr_before_d = [0] * (n + 1)
    addr_before_p = [0] * (n + 1)
    for k, ev in enumerate(events):
        addr_before_d[k + 1] = addr_before_d[k] | ev.addr_d
        addr_before_p[k + 1] = addr_before_p[k] | ev.addr_p
    # range([R & A]; amo; [W & L]): the write of an acquire-release atomic.
    al_writes = {
        w for r, w in trace.rmw
        if events[r].atomic and events[r].acquire and events[w].release
    }
    for i in range(n):
        ei = events[i]
        bit = 1 << i
        for j in range(i + 1, n):
            ej = events[j]
            reason = ""
            w_j = ej.is_write
            if ei.instance == ej.instance:
                # Effects of one instruction are not in po: only rmw and iico_order order them.
                if rmw.get(i) == j:
                    reason = "rmw"
                if reason:
                    lob[i] |= 1 << j
                    named.append((i, j, reason))
                continue
            # dob
            if ej.addr_d & bit:
                reason = "addr"
            elif w_j and ej.data_d & bit:
                reason = "data"
            elif w_j and ej.ctrl_d & bit:
                reason = "ctrl"
            elif w_j and addr_before_d[j] & bit:
                reason = "addr;po"
            elif ej.is_read and ej.lmrs_from >= 0 and (
                (events[ej.lmrs_from].addr_d | events[ej.lmrs_from].data_d) & bit
            ):
                reason = "dep;lmrs"
            # pob
            elif w_j and (ej.addr_p | ej.data_p | ej.ctrl_p | addr_before_p[j]) & bit and \
                    ei.instance != ej.instance:
                reason = "pob"
            # aob
            elif rmw.get(i) == j:
                reason = "rmw"
            elif (
                ej.is_read and (ej.acquire or ej.acquire_pc) and ej.lmrs_from >= 0
                and rmw_rev.get(ej.lmrs_from) == i
            ):
                reason = "rmw;lmrs"
            # bob
            elif _between(barriers, ei.pos, ej.pos, "dmb.full"):
                reason = "dmb.full"
            elif ei.is_read and not ei.noret and _between(barriers, ei.pos, ej.pos, "dmb.ld"):
                reason = "dmb.ld"
            elif ei.is_write and w_j and _between(barriers, ei.pos, ej.pos, "dmb.st"):
                reason = "dmb.st"
            elif i in al_writes:
                reason = "amo.al"
            elif ei.is_write and ei.release and ej.is_read and ej.acquire:
                reason = "L;po;A"
            elif ei.is_read and (ei.acquire or ei.acquire_pc):
                reason = "acq"
            elif w_j and ej.release:
                reason = "rel"
            # lmws
            elif w_j and ei.cell == ej.cell:
                reason = "po-loc"
            # DSB-ob
            elif _between(barriers, ei.pos, ej.pos, "dsb.full"):
                reason = "dsb.full"
            elif ei.is_read and not ei.noret and _between(barriers, ei.pos, ej.pos, "dsb.ld"):
                reason = "dsb.ld"
            elif ei.is_write and _between(barriers, ei.pos, ej.pos, "dsb.st"):
                reason = "dsb.st"
            # IFB-ob
            elif any(
                b.kind == "isb" and b.pos < ej.pos
                and (b.ctrl_d | b.ctrl_p | b.addr_before_d | b.addr_before_p) & bit
                for b in barriers
            ):
                reason = "ctrl+isb"
            if reason:
                lob[i] |= 1 << j
                named.append((i, j, reason))
    for a, b in trace.iico_order:  # [Exp & M]; iico_order; [Exp & M] (intr-ob), either way
        lob[a] |= 1 << b
        named.append((a, b, "iico_order"))
    lob_closed = transitive_closure(lob)
    # pick-lob = pick-dep; lob; [Exp & W]
    hw = list(lob_closed)
    writes = 0
    for k, ev in enumerate(events):
        if ev.is_write:
            writes |= 1 << k
    for b in range(n):
        eb = events[b]
        sources = _pick_sources(eb, events)
        if not sources:
            continue
        targets = lob_closed[b] & writes
        if not targets:
            continue
        for a in range(n):
            is_source = sources >> a & 1 and events[a].is_read
            if is_source and events[a].instance != eb.instance and hw[a] | targets != hw[a]:
                hw[a] |= targets
                named.append((a, b, "pick-dep"))
    return LocalOrder(tuple(lob_closed), tuple(transitive_closure(hw)), tuple(named))
