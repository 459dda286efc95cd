"""The Arm model with translation-table walks: herd's ``aarch64.cat`` under ``-variant vmsa``.

Walks (``Imp & TTD & R``) read page-table entries like any read, so rf and co
cover them unchanged; what differs is how they enter ``ob`` (Arm ARM B2.3,
the formal concurrency model, and herd's ``aarch64.cat``):

* :func:`ttd_rf` -- ``TTD-obs`` includes ``rf; [Imp & TTD]``, internal too: the
  write a walk reads is before it (B2.3.8 "TTD-observed-by");
* :func:`explicit_fr_and_haz` -- ``Exp-obs`` and ``Exp-haz-ob`` hold for explicit
  reads only: a walk that reads an old entry is *not* ordered before the newer
  write (that is TLB caching, D8.16: entries may be held after a change);
* :func:`tlb_uncacheable_ca` -- ``TLBuncacheable-ca``: a walk that led to a
  Translation or Access flag fault read an entry that cannot be cached in a
  TLB (D8.16.1, R_QPTSX: invalid entries and entries with AF clear are never
  cached), so it is before every write co-after the entry it read;
* internal visibility (``coWR-Exp``) binds explicit reads only.

TLB maintenance (B2.3.7 "TLBI-ordered-before", B2.3.8 "TLBI-coherence-after";
D8.17): each TLBI that a full DSB completes and each walk in its scope are
ordered one way or the other (herd's ``TLBI-after``, ``enumerations.cat``), the
way local-hw-reqs orders them if it does, freely otherwise:

* TLBI before the walk (:func:`tlbi_ca`): the walk cannot read an entry older
  than what the TLBI removed, so the TLBI is before every write co-after the
  entry the walk read (D8.17.2: after a completed TLBI, no walk uses the old entry);
* walk before the TLBI (:func:`tlbi_ob`): the walk, and towards other PEs its
  access (or fault) and the walks before it, are before everything the TLBI is
  ``DSB-ob | IFB-ob`` before (D8.17.2: the TLBI completes only once the
  translations it removed are no longer in use).

A candidate is an execution if *some* orientation of those pairs leaves ``ob``
acyclic; the search adds one pair at a time and backtracks on the first cycle.

The thread-local part is :mod:`stalecheck.axiomatic.vmsa_local`.  Hardware updates
of AF/DB, ETS2/ETS3 and fault handlers are not modelled here; tests that use
them are refused by :mod:`stalecheck.axiomatic.vmsa_scope`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stalecheck.axiomatic.aarch64_model import (
    Prepared,
    atomicity,
    internal_visibility,
)
from stalecheck.axiomatic.candidates import Candidate, CandidateSpace
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.isa_tlbi import ALL_PAGES, is_broadcast
from stalecheck.axiomatic.model import (
    Edge,
    LocalOrderModel,
    first_orientation,
    global_reach,
    orientations,
    some_orientation_acyclic,
    static_rows,
)
from stalecheck.axiomatic.relations import is_acyclic
from stalecheck.axiomatic.values import pte_cell_base
from stalecheck.axiomatic.vmsa_local import VmsaOrder, vmsa_local_order

# Faults whose walk read an entry no TLB may hold (aarch64hwreqs.cat TLBUncacheable).
TLB_UNCACHEABLE = ("Translation", "AccessFlag")


def observed_rf(p: Prepared, rf: dict[int, int], rows: list[int]) -> None:
    """The read-from part of ``obs`` (B2.3.8): ``Exp-obs`` between explicit accesses of
    different PEs (``rfe; sca-class?``), and ``TTD-obs``: ``rf; [Imp & TTD]`` (the write a
    walk reads is before it) and ``[Imp & TTD]; rf`` (a hardware update is before every
    read of it), internal too."""
    proc_of, sca, evs = p.space.proc_of, p.space.sca, p.space.evs
    for r, w in rf.items():
        if evs[r].walk or evs[w].hu:
            rows[w] |= 1 << r
        elif proc_of[w] != proc_of[r]:
            rows[w] |= sca[r]


def observed_co(p: Prepared, c: Candidate, rows: list[int]) -> None:
    """Coherence in ``obs``: ``Exp-obs`` ``coe; sca-class?`` between explicit writes of
    different PEs, and ``TTD-obs`` ``[HU]; ca; [W] | [W]; ca; [HU]``, internal too."""
    proc_of, sca, evs = p.space.proc_of, p.space.sca, p.space.evs
    for order in c.co.values():
        for a_i, a in enumerate(order):
            for b in order[a_i + 1:]:
                if evs[a].hu or evs[b].hu:
                    rows[a] |= 1 << b
                elif proc_of[a] != proc_of[b]:
                    rows[a] |= sca[b]


def explicit_fr_and_haz(p: Prepared, c: Candidate, rows: list[int]) -> None:
    """From-reads of explicit reads (B2.3.8): ``fre; sca-class?`` to explicit writes of
    other PEs (``Exp-obs``), ``HU-ca`` (``[Exp & R]; ca; [HU]``, internal too) to hardware
    updates, and ``Exp-haz-ob`` (B2.3.7: a po-earlier read of the same location is
    before a write of another PE the later read is coherence-before)."""
    proc_of, sca, evs = p.space.proc_of, p.space.sca, p.space.evs
    for r, w in c.rf.items():
        if evs[r].walk:
            continue
        order = c.co.get(evs[r].cell)
        if order is None:
            continue
        for w2 in order[order.index(w) + 1:]:
            ext = proc_of[w2] != proc_of[r]
            if evs[w2].hu:
                rows[r] |= 1 << w2
            elif ext:
                rows[r] |= sca[w2]
            if ext:
                for r1 in p.prior_reads[r]:
                    rows[r1] |= sca[w2]


def explicit_po_loc(space: CandidateSpace) -> tuple[dict[int, int], dict[int, list[int]]]:
    """For each explicit read, its po-loc predecessors among explicit accesses: the latest
    write (``coWR-Exp``) and the reads (``Exp-haz-ob``); walks and updates are implicit."""
    proc_of, evs = space.proc_of, space.evs
    prior_write: dict[int, int] = {}
    prior_reads: dict[int, list[int]] = {}
    for r in space.reads:
        if evs[r].walk:
            continue
        pw, prs = -1, []
        for g in range(r - 1, -1, -1):
            if proc_of[g] != proc_of[r]:
                break
            eg = evs[g]
            if eg.cell != evs[r].cell or eg.walk or eg.hu:
                continue
            if eg.kind == "W" and pw < 0:
                pw = g
            elif eg.kind == "R":
                prs.append(g)
        if pw >= 0:
            prior_write[r] = pw
        prior_reads[r] = prs
    return prior_write, prior_reads


def hu_atomicity(p: VmsaPrepared, c: Candidate) -> bool:
    """``atomic`` for a walk and its update: no write at all co-between them (D8.5.1:
    the update is atomic with the walk's read of the entry)."""
    rank = c.co_rank
    return all(rank[hu] == rank[c.rf[walk]] + 1 for walk, hu in p.hu_rmw)


def tlb_uncacheable_ca(p: Prepared, c: Candidate, rows: list[int]) -> None:
    """``TLBuncacheable-ca``: a faulting walk's entry is older than every co-later write.

    ``[range([TLBUncacheable & FAULT]; tr-ib^-1; [Imp & TTD & R])]; ca; [Exp & W | HU]``
    (B2.3.8; D8.16.1: an invalid or AF-clear entry is never held in a TLB).
    """
    evs = p.space.evs
    for r, w in c.rf.items():
        if evs[r].walk_fault not in TLB_UNCACHEABLE:
            continue
        order = c.co.get(evs[r].cell)
        if order is None:
            continue
        for w2 in order[order.index(w) + 1:]:
            rows[r] |= 1 << w2


@dataclass
class VmsaPrepared(Prepared):
    """The base per-path data plus the TLBI/walk pairs of this combination of paths."""

    # (TLBI, walk, allowed orientations): +1 TLBI before walk, -1 walk before TLBI
    pairs: list[tuple[int, int, tuple[int, ...]]] = field(default_factory=list)
    tlbi_reach: dict[int, list[int]] = field(default_factory=dict)  # DSB-ob | IFB-ob targets
    accesses: dict[int, list[int]] = field(default_factory=dict)  # walk -> its tr-ib targets
    # walk -> walks of po-earlier accesses at the same offset (same-low-order-bits relates
    # memory effects only, E-valid-PA in aarch64fences.cat: not faults)
    earlier: dict[int, list[int]] = field(default_factory=dict)
    hu_rmw: list[tuple[int, int]] = field(default_factory=list)  # walk -> its update


def _in_scope(space: CandidateSpace, tlbi: int, walk: int) -> bool:
    """herd's ``inv-scope`` (inv-domain), minus non-broadcast TLBIs of other PEs."""
    t, w = space.evs[tlbi], space.evs[walk]
    if not is_broadcast(t.cmo.removeprefix("TLBI.")) and space.proc_of[tlbi] != \
            space.proc_of[walk]:
        return False
    return t.cell == ALL_PAGES or pte_cell_base(t.cell[0]) == w.cell[0]


def tlbi_ca(p: VmsaPrepared, c: Candidate, tlbi: int, walk: int) -> list[Edge]:
    """``[TLBI]; TLBI-after; [Imp & TTD & R]; ca; [W]`` for one TLBI-before-walk pair."""
    order = c.co.get(p.space.evs[walk].cell)
    if order is None:
        return []
    return [(tlbi, w) for w in order[order.index(c.rf[walk]) + 1:]]


def tlbi_ob(p: VmsaPrepared, tlbi: int, walk: int) -> list[Edge]:
    """``TLBI-ob`` for one walk-before-TLBI pair (herd's three clauses)."""
    proc_of = p.space.proc_of
    reach = p.tlbi_reach.get(tlbi, [])
    edges = [(walk, e) for e in reach]  # TTD-read-ordered-before
    ext = [e for e in reach if proc_of[e] != proc_of[walk]]
    edges += [(a, e) for a in p.accesses.get(walk, []) for e in ext]  # tr-ib^-1; ... & ext
    edges += [(w1, e) for w1 in p.earlier.get(walk, []) for e in ext]  # same-low-order-bits
    return edges


def _pair_edges(p: VmsaPrepared, c: Candidate) -> list[dict[int, list[Edge]]]:
    """Each pair's edges under each orientation allowed; a pair with an orientation that
    adds nothing is dropped (choosing it never hurts: edges only add cycles)."""
    out = []
    for tlbi, walk, allowed in p.pairs:
        options = {}
        for o in allowed:
            options[o] = tlbi_ca(p, c, tlbi, walk) if o > 0 else tlbi_ob(p, tlbi, walk)
        if any(not e for e in options.values()):
            continue
        out.append(options)
    return out


class VmsaModel(LocalOrderModel[VmsaOrder, VmsaPrepared]):
    """herd's ``aarch64.cat`` with ``-variant vmsa``, as a :class:`~.model.MemoryModel`."""

    name = "aarch64-vmsa"

    def __init__(self, spurious: bool = False, ets: str = "") -> None:
        super().__init__()
        self.spurious = spurious  # herd's spurious AF updates are enumerated (vmsa_spurious)
        self.ets = ets  # "ets2" or "ets3": FEAT_ETS2/ETS3 (vmsa_local)

    def local_order(self, trace: ThreadTrace) -> VmsaOrder:
        return vmsa_local_order(trace, self.ets)

    def prepare(self, space: CandidateSpace) -> VmsaPrepared:
        orders = [self.thread_order(tr) for tr in space.traces]
        evs, proc_of = space.evs, space.proc_of
        lobs = [vo.order for vo in orders]
        static = static_rows(space, lobs)
        reach = global_reach(space, [vo.reach for vo in orders])
        complete = [off + k for vo, off in zip(orders, space.offsets, strict=True)
                    for k in sorted(vo.complete)]
        prior_write, prior_reads = explicit_po_loc(space)
        walks = [g for g in space.reads if evs[g].walk]
        pairs = [(t, w, orientations(static, proc_of, t, w))
                 for t in complete for w in walks if _in_scope(space, t, w)]
        accesses = {w: [g for g in range(w + 1, space.size)
                        if proc_of[g] == proc_of[w] and evs[g].instance == evs[w].instance
                        and not evs[g].walk and not evs[g].hu] for w in walks}
        earlier = {
            w2: [w1 for w1 in walks if proc_of[w1] == proc_of[w2] and w1 < w2
                 and evs[w1].instance != evs[w2].instance
                 and any(evs[a1].cell[1] == evs[a2].cell[1]
                         for a1 in accesses[w1] for a2 in accesses[w2]
                         if evs[a1].kind in "RW" and evs[a2].kind in "RW")]
            for w2 in walks
        }
        hu_rmw = [(off + r, off + w) for tr, off in zip(space.traces, space.offsets, strict=True)
                  for r, w in tr.hu_rmw]
        return VmsaPrepared(
            space, lobs, static, prior_write, prior_reads,
            pairs, reach, accesses, earlier, hu_rmw,
        )

    def rf_edges(self, p: VmsaPrepared, rf: dict[int, int], rows: list[int]) -> None:
        observed_rf(p, rf, rows)

    def co_edges(self, p: VmsaPrepared, c: Candidate, rows: list[int]) -> None:
        observed_co(p, c, rows)
        explicit_fr_and_haz(p, c, rows)
        tlb_uncacheable_ca(p, c, rows)

    def internal(self, p: VmsaPrepared, c: Candidate) -> bool:
        return internal_visibility(p, c)

    def external(
        self, p: VmsaPrepared, c: Candidate, ob: list[int], explain: bool
    ) -> tuple[bool, list[int]]:
        """``acyclic ob`` for some orientation of the TLBI/walk pairs (``TLBI-after``)."""
        options = _pair_edges(p, c) if p.pairs else []
        keys = [tuple(o) for o in options]

        def edges(choice: list[int], k: int) -> list[Edge]:
            return options[k][choice[k]]

        if is_acyclic(ob) and some_orientation_acyclic(keys, edges, ob):
            return True, ob
        return False, first_orientation(keys, edges, ob) if explain else ob

    def atomic(self, p: VmsaPrepared, c: Candidate) -> bool:
        return atomicity(p, c) and hu_atomicity(p, c)
