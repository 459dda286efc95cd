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

The thread-local part is :mod:`stalecheck.axiomatic.vmsa_local`.  TLBI, hardware
updates of AF/DB, ETS2/ETS3 and fault handlers are not modelled here; tests that
use them are refused by :mod:`stalecheck.axiomatic.vmsa_scope`.
"""

from __future__ import annotations

from stalecheck.axiomatic.aarch64_local import LocalOrder
from stalecheck.axiomatic.aarch64_model import (
    ATOMIC,
    EXTERNAL,
    INTERNAL,
    Prepared,
    atomicity,
    coe,
    internal_visibility,
    po_loc_lookups,
    rfe,
)
from stalecheck.axiomatic.candidates import Candidate, CandidateSpace
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.model import Judgement
from stalecheck.axiomatic.relations import is_acyclic
from stalecheck.axiomatic.vmsa_local import vmsa_local_order

# Faults whose walk read an entry no TLB may hold (aarch64hwreqs.cat TLBUncacheable).
TLB_UNCACHEABLE = ("Translation", "AccessFlag")


def ttd_rf(p: Prepared, rf: dict[int, int], rows: list[int]) -> None:
    """``rf; [Imp & TTD]``: the write a walk reads is before it, internal too (B2.3.8)."""
    evs = p.space.evs
    for r, w in rf.items():
        if evs[r].walk:
            rows[w] |= 1 << r


def explicit_fr_and_haz(p: Prepared, c: Candidate, rows: list[int]) -> None:
    """``fre; sca-class?`` and ``Exp-haz-ob`` for explicit reads (B2.3.8 "Explicitly-observed-by")."""
    proc_of, sca, evs = p.space.proc_of, p.space.sca, p.space.evs
    for r, w in c.rf.items():
        if evs[r].walk:
            continue
        order = c.co.get(evs[r].cell)
        if order is None:
            continue
        for w2 in order[order.index(w) + 1:]:
            if proc_of[w2] != proc_of[r]:
                rows[r] |= sca[w2]
                for r1 in p.prior_reads[r]:
                    rows[r1] |= sca[w2]


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


class VmsaModel:
    """herd's ``aarch64.cat`` with ``-variant vmsa``, as a :class:`~.model.MemoryModel`."""

    name = "aarch64-vmsa"

    def __init__(self) -> None:
        self._orders: dict[int, tuple[ThreadTrace, LocalOrder]] = {}

    def thread_order(self, trace: ThreadTrace) -> LocalOrder:
        hit = self._orders.get(id(trace))
        if hit is None:
            hit = self._orders[id(trace)] = (trace, vmsa_local_order(trace))
        return hit[1]

    def prepare(self, space: CandidateSpace) -> Prepared:
        orders = [self.thread_order(tr) for tr in space.traces]
        static = [0] * space.size
        for tr, order, off in zip(space.traces, orders, space.offsets, strict=True):
            for k in range(len(tr.events)):
                static[off + k] = order.hw[k] << off
        evs = space.evs
        prior_write, prior_reads = po_loc_lookups(space)
        # coWR-Exp and Exp-haz-ob relate explicit accesses only.
        prior_write = {r: w for r, w in prior_write.items() if not evs[r].walk}
        prior_reads = {r: [x for x in rs if not evs[x].walk] for r, rs in prior_reads.items()}
        return Prepared(space, orders, static, prior_write, prior_reads)

    def thread_edges(self, prepared: object) -> tuple[tuple[tuple[int, int, str], ...], ...]:
        assert isinstance(prepared, Prepared)
        return tuple(order.named for order in prepared.orders)

    def admits_rf(self, prepared: object, rf: dict[int, int], explain: bool) -> list[int] | None:
        """Static ob, rfe and rf into walks; every co choice only adds edges."""
        assert isinstance(prepared, Prepared)
        rows = list(prepared.static)
        rfe(prepared, {r: w for r, w in rf.items() if not prepared.space.evs[r].walk}, rows)
        ttd_rf(prepared, rf, rows)
        if not explain and not is_acyclic(rows):
            return None
        return rows

    def judge(
        self, prepared: object, rf_state: object, candidate: Candidate, explain: bool
    ) -> Judgement:
        assert isinstance(prepared, Prepared) and isinstance(rf_state, list)
        p, c = prepared, candidate
        violation = ""
        if not internal_visibility(p, c):
            if not explain:
                return Judgement(INTERNAL)
            violation = INTERNAL
        ob = list(rf_state)
        coe(p, c, ob)
        explicit_fr_and_haz(p, c, ob)
        tlb_uncacheable_ca(p, c, ob)
        if not is_acyclic(ob):
            if not explain:
                return Judgement(EXTERNAL)
            violation = violation or EXTERNAL
        if not atomicity(p, c):
            if not explain:
                return Judgement(ATOMIC)
            violation = violation or ATOMIC
        return Judgement(violation, tuple(ob) if explain else ())
