"""The thread-local relations of the Arm model: ``lob`` and its pick extension.

These are the parts of the Arm model (Arm ARM B2.3.6-B2.3.7; herd's
``aarch64.cat`` and ``aarch64hwreqs.cat``) that depend on one thread only:
dependencies (``dob``, ``pob``), atomics (``aob``), barriers (``bob``,
``DSB-ob``, ``IFB-ob``) and same-location writes (``lmws``).  They do not
depend on the read-from or coherence choice, so the model computes them once
per thread path and reuses them for every candidate execution built from it.

Each relation is one function ``clause(t, i, j) -> name`` over a
:class:`ThreadView` (empty string: the pair is not related).  ``lob`` is
their union, tried in the cat file's order so that a witness names the first
clause that relates a pair.  Relations are lists of int bitmasks:
``rel[i] >> j & 1`` means ``i -> j``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stalecheck.axiomatic.events import IFB_KINDS, Barrier, Event, ThreadTrace
from stalecheck.axiomatic.relations import transitive_closure


@dataclass(frozen=True)
class LocalOrder:
    """Per-thread results: ``lob`` (closed), ``hw`` = (lob | pick-lob)+, named edges."""

    lob: tuple[int, ...]
    hw: tuple[int, ...]
    named: tuple[tuple[int, int, str], ...]  # for witnesses: (i, j, relation name)


@dataclass(frozen=True)
class MaintainedOrder:
    """``lob`` of a path with maintenance effects (IC under ifetch, TLBI under vmsa), each
    effect's ``DSB-ob | IFB-ob`` targets, and the complete ones (a full DSB after them:
    enumerations.cat ``C_IC``/``C_TLBI``), which the models order with fetches or walks."""

    order: LocalOrder
    reach: dict[int, int]  # local maintenance effect -> bitmask of local events
    complete: frozenset[int]


@dataclass(frozen=True, slots=True)
class ThreadView:
    """One thread path with the lookups the clauses share, computed once."""

    events: list[Event]
    barriers: list[Barrier]
    rmw: dict[int, int]  # read -> bitmask of the writes it is rmw-related to
    rmw_rev: dict[int, int]  # write -> bitmask of reads
    addr_before_d: list[int]  # [k]: reads with an addr dependency to an access before k
    addr_before_p: list[int]
    al_writes: frozenset[int]  # range([R & A]; amo; [W & L])
    sca: list[int]  # [k]: the events of k's single-copy-atomic access (bitmask, k included)

    @staticmethod
    def of(trace: ThreadTrace) -> ThreadView:
        events = trace.events
        before_d = [0] * (len(events) + 1)
        before_p = [0] * (len(events) + 1)
        for k, ev in enumerate(events):
            before_d[k + 1] = before_d[k] | ev.addr_d
            before_p[k + 1] = before_p[k] | ev.addr_p
        al = frozenset(
            w for r, w in trace.rmw
            if events[r].atomic and events[r].acquire and events[w].release
        )
        rmw: dict[int, int] = {}
        rmw_rev: dict[int, int] = {}
        for r, w in trace.rmw:
            rmw[r] = rmw.get(r, 0) | 1 << w
            rmw_rev[w] = rmw_rev.get(w, 0) | 1 << r
        sca = [1 << k for k in range(len(events))]
        for group in trace.sca_groups:
            bits = sum(1 << k for k in group)
            for k in group:
                sca[k] = bits
        return ThreadView(events, trace.barriers, rmw, rmw_rev, before_d, before_p, al, sca)

    def between(self, i: int, j: int, kind: str) -> bool:
        """A barrier of ``kind`` in program order between events ``i`` and ``j``."""
        lo, hi = self.events[i].pos, self.events[j].pos
        return any(lo < b.pos < hi and b.kind == kind for b in self.barriers)


# Each clause relates an earlier event i to a later event j of the same thread
# (different instructions); it returns the name a witness shows, or "".


def dob(t: ThreadView, i: int, j: int) -> str:
    """Dependency-ordered-before: addr, data, ctrl; [W], addr; po; [W], (addr | data); lmrs."""
    ej, bit = t.events[j], 1 << i
    if ej.addr_d & bit:
        return "addr"
    if ej.is_write and ej.data_d & bit:
        return "data"
    if ej.is_write and ej.ctrl_d & bit:
        return "ctrl"
    if ej.is_write and t.addr_before_d[j] & bit:
        return "addr;po"
    if ej.is_read and ej.lmrs_from >= 0 and (
        (t.events[ej.lmrs_from].addr_d | t.events[ej.lmrs_from].data_d) & bit
    ):
        return "dep;lmrs"
    return ""


def pob(t: ThreadView, i: int, j: int) -> str:
    """Pick-ordered-before: the pick-basic/addr/data/ctrl dependencies into a write."""
    ej = t.events[j]
    if ej.is_write and (ej.addr_p | ej.data_p | ej.ctrl_p | t.addr_before_p[j]) >> i & 1:
        return "pob"
    return ""


def aob(t: ThreadView, i: int, j: int) -> str:
    """Atomic-ordered-before: rmw, and [range(rmw)]; lmrs; [A | Q]."""
    if t.rmw.get(i, 0) >> j & 1:
        return "rmw"
    ej = t.events[j]
    if ej.is_read and (ej.acquire or ej.acquire_pc) and ej.lmrs_from >= 0 and \
            t.rmw_rev.get(ej.lmrs_from, 0) >> i & 1:
        return "rmw;lmrs"
    return ""


def bob(t: ThreadView, i: int, j: int) -> str:
    """Barrier-ordered-before: DMBs, acquire/release, and the write of an AL atomic."""
    ei, ej = t.events[i], t.events[j]
    if t.between(i, j, "dmb.full"):
        return "dmb.full"
    if ei.is_read and not ei.noret and t.between(i, j, "dmb.ld"):
        return "dmb.ld"
    if ei.is_write and ej.is_write and t.between(i, j, "dmb.st"):
        return "dmb.st"
    if i in t.al_writes:
        return "amo.al"
    if ei.is_write and ei.release and ej.is_read and ej.acquire:
        return "L;po;A"
    if ei.is_read and (ei.acquire or ei.acquire_pc):
        return "acq"
    if ej.is_write and ej.release:
        return "rel"
    return ""


def lmws(t: ThreadView, i: int, j: int) -> str:
    """Local write successors, ``lmws | lmws; sca-class``: po-loc into a write, or into
    another event of that write's single-copy-atomic access (a granule, mixed size)."""
    ei, ej = t.events[i], t.events[j]
    if not ej.is_write:
        return ""
    if ei.cell == ej.cell:
        return "po-loc"
    group = t.sca[j] & ~(1 << j)
    while group:
        low = group & -group
        k = low.bit_length() - 1
        if t.events[k].is_write and t.events[k].cell == ei.cell:
            return "po-loc;sca"
        group ^= low
    return ""


def dsb_ob(t: ThreadView, i: int, j: int) -> str:
    """DSB-ordered-before (aarch64hwreqs.cat): a DSB orders what the matching DMB would."""
    ei = t.events[i]
    if t.between(i, j, "dsb.full"):
        return "dsb.full"
    if ei.is_read and not ei.noret and t.between(i, j, "dsb.ld"):
        return "dsb.ld"
    if ei.is_write and t.between(i, j, "dsb.st"):
        return "dsb.st"
    return ""


def ifb_ob(t: ThreadView, i: int, j: int) -> str:
    """IFB-ordered-before: [R]; (ctrl | addr; po); [ISB]; po."""
    pos_j, bit = t.events[j].pos, 1 << i
    for b in t.barriers:
        if (b.kind in IFB_KINDS and b.pos < pos_j
                and (b.ctrl_d | b.ctrl_p | b.addr_before_d | b.addr_before_p) & bit):
            return "ctrl+isb" if b.kind == "isb" else "ctrl+exc"  # exc: exception entry/return
    return ""


# lob's clauses in the order of aarch64.cat's definition (the first match names an edge).
LOB_CLAUSES: tuple[Callable[[ThreadView, int, int], str], ...] = (
    dob, pob, aob, bob, lmws, dsb_ob, ifb_ob,
)


def lob_reason(t: ThreadView, i: int, j: int) -> str:
    """Why ``i`` is locally-ordered-before ``j`` (po-earlier, other instruction), or ""."""
    for clause in LOB_CLAUSES:
        reason = clause(t, i, j)
        if reason:
            return reason
    return ""


def _pick_sources(ev: Event, events: list[Event]) -> int:
    """Reads related to ``ev`` by pick-dep (basic, addr, data, ctrl), whatever the target."""
    mask = ev.addr_p | ev.data_p | ev.intra_p | ev.ctrl_p
    if ev.is_read and ev.lmrs_from >= 0:
        w = events[ev.lmrs_from]
        mask |= w.src_p() | w.src_d()
    return mask


def pick_lob(t: ThreadView, lob_closed: list[int], named: list[tuple[int, int, str]]) -> list[int]:
    """(lob | pick-lob)+ where pick-lob = pick-dep; lob; [Exp & W]."""
    events = t.events
    n = len(events)
    hw = list(lob_closed)
    writes = 0
    for k, ev in enumerate(events):
        if ev.is_write and not ev.hu:  # [Exp & W]: not a hardware update (VMSA)
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
    return transitive_closure(hw)


# Why an earlier event is ordered before a later one of the same thread; the second
# function is for two effects of one instruction (not in po), the first for the rest.
PairReason = Callable[[ThreadView, int, int], str]


def same_instruction(t: ThreadView, i: int, j: int) -> str:
    """Effects of one instruction are not in po: only rmw and iico_order order them."""
    return "rmw" if t.rmw.get(i, 0) >> j & 1 else ""


def order_from(t: ThreadView, trace: ThreadTrace, across: PairReason,
               within: PairReason = same_instruction) -> LocalOrder:
    """``lob`` from a reason for each pair of the path (``across`` instructions, or
    ``within`` one), plus ``iico_order``; closed, with ``(lob | pick-lob)+``.  The one
    loop every variant's local order shares (base, ifetch, vmsa)."""
    events = t.events
    n = len(events)
    lob = [0] * n
    named: list[tuple[int, int, str]] = []
    for i in range(n):
        inst = events[i].instance
        for j in range(i + 1, n):
            reason = within(t, i, j) if events[j].instance == inst else across(t, i, j)
            if reason:
                lob[i] |= 1 << j
                named.append((i, j, reason))
    for a, b in trace.iico_order:  # [Exp & M]; iico_order; [Exp & M] (intr-ob), either way
        lob[a] |= 1 << b
        named.append((a, b, "iico_order"))
    lob_closed = transitive_closure(lob)
    hw = pick_lob(t, lob_closed, named)
    return LocalOrder(tuple(lob_closed), tuple(hw), tuple(named))


def explicit_view(trace: ThreadTrace, is_explicit: Callable[[Event], bool]) -> ThreadView:
    """The base view, with ``addr; [Exp & M]; po`` counting explicit accesses only (a
    fetch, walk or hardware update is implicit: ifetch and vmsa)."""
    base = ThreadView.of(trace)
    before_d = [0] * (len(trace.events) + 1)
    before_p = [0] * (len(trace.events) + 1)
    for k, ev in enumerate(trace.events):
        explicit = is_explicit(ev)
        before_d[k + 1] = before_d[k] | (ev.addr_d if explicit else 0)
        before_p[k + 1] = before_p[k] | (ev.addr_p if explicit else 0)
    return ThreadView(base.events, base.barriers, base.rmw, base.rmw_rev, before_d, before_p,
                      base.al_writes, base.sca)


def maintenance_reach(
    t: ThreadView, selected: Callable[[Event], bool], reaches: Callable[[int, int], bool],
) -> tuple[dict[int, int], frozenset[int]]:
    """For each selected maintenance effect (IC, TLBI), the later events ``reaches``
    says it is ``DSB-ob | IFB-ob`` before, and which are complete: a full DSB is
    po-after them (enumerations.cat ``C_IC``, ``C_TLBI``: ``domain(po; [dsb.full])``)."""
    events = t.events
    reach: dict[int, int] = {}
    complete: set[int] = set()
    for k, ev in enumerate(events):
        if not selected(ev):
            continue
        if any(b.kind == "dsb.full" and b.pos > ev.pos for b in t.barriers):
            complete.add(k)
        mask = 0
        for j in range(k + 1, len(events)):
            if reaches(k, j):
                mask |= 1 << j
        reach[k] = mask
    return reach, frozenset(complete)


def local_order(trace: ThreadTrace) -> LocalOrder:
    """``lob`` and ``(lob | pick-lob)+`` of one thread path, with each edge's name."""
    return order_from(ThreadView.of(trace), trace, lob_reason)
