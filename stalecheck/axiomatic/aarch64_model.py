"""The built-in Arm memory model: herd's ``aarch64.cat``, one function per relation and axiom.

A candidate is an execution when it satisfies the axioms of the Arm memory
model (Arm ARM B2.3, herd's ``aarch64.cat`` at the vendored commit):

* :func:`internal_visibility` -- ``coWR-Exp`` (``irreflexive [W]; po-loc; [R];
  (ca & int); [W]``); the other two, ``coRW1-Exp`` and ``coWW-Exp``, are built
  into the candidate enumeration;
* external visibility -- ``acyclic ob`` with
  ``ob = (obs; sca-class?) | lob | Exp-haz-ob`` (:func:`rfe`, :func:`coe`,
  :func:`fre_and_exp_haz_ob` over the static ``lob``);
* :func:`atomicity` -- ``atomic``: no other thread's write between an rmw's
  read source and its write in co.

The thread-local part (``lob`` and pick-lob) is in
:mod:`stalecheck.axiomatic.aarch64_local` and computed once per thread path.
Relations are bitmask rows (:mod:`stalecheck.axiomatic.relations`).

The skeleton (caching, rf pruning, the axioms in order) is
:class:`~stalecheck.axiomatic.model.LocalOrderModel`, which the ifetch and vmsa
models share: a variant adds relations through its hooks and clauses to its
local order, not to the enumeration in ``candidates``.
"""

from __future__ import annotations

from dataclasses import dataclass

from stalecheck.axiomatic.aarch64_local import LocalOrder, local_order
from stalecheck.axiomatic.candidates import Candidate, CandidateSpace
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.model import LocalOrderModel, static_rows


@dataclass
class Prepared:
    """Per combination of thread paths: the static part of ob and po-loc lookups."""

    space: CandidateSpace
    orders: list[LocalOrder]
    static: list[int]  # (lob | pick-lob)+ of every thread, in global numbering
    prior_write: dict[int, int]  # read -> po-latest same-cell write of its thread
    prior_reads: dict[int, list[int]]  # read -> po-earlier same-cell reads of its thread


def po_loc_lookups(space: CandidateSpace) -> tuple[dict[int, int], dict[int, list[int]]]:
    """For each read, its po-loc predecessors: the latest write, and the reads of
    ``[R]; po-loc; [R]; sca-class?`` (Exp-haz-ob's first half: po-loc-earlier reads of
    any read of the same single-copy-atomic access, e.g. another granule)."""
    proc_of, evs = space.proc_of, space.evs
    prior_write: dict[int, int] = {}
    own_reads: dict[int, list[int]] = {}
    for r in space.reads:
        p, er = proc_of[r], evs[r]
        pw = -1
        prs = []
        for g in range(r - 1, -1, -1):
            if proc_of[g] != p:
                break
            eg = evs[g]
            if eg.cell != er.cell:
                continue
            if eg.kind == "W" and pw < 0:
                pw = g
            elif eg.kind == "R":
                prs.append(g)
        if pw >= 0:
            prior_write[r] = pw
        own_reads[r] = prs
    prior_reads: dict[int, list[int]] = {}
    for r in space.reads:
        group = space.sca[r]
        if group == 1 << r:
            prior_reads[r] = own_reads[r]
            continue
        seen: list[int] = []
        for r2 in space.reads:
            if group >> r2 & 1:
                seen.extend(x for x in own_reads[r2] if x not in seen)
        prior_reads[r] = seen
    return prior_write, prior_reads


def rfe(p: Prepared, rf: dict[int, int], rows: list[int]) -> None:
    """Add ``rfe; sca-class?`` (external read-from, to the whole single-copy-atomic access)."""
    proc_of, sca = p.space.proc_of, p.space.sca
    for r, w in rf.items():
        if proc_of[w] != proc_of[r]:
            rows[w] |= sca[r]


def coe(p: Prepared, c: Candidate, rows: list[int]) -> None:
    """Add ``coe; sca-class?`` (coherence between different threads)."""
    proc_of, sca = p.space.proc_of, p.space.sca
    for order in c.co.values():
        for a_i, a in enumerate(order):
            for b in order[a_i + 1:]:
                if proc_of[a] != proc_of[b]:
                    rows[a] |= sca[b]


def fre_and_exp_haz_ob(p: Prepared, c: Candidate, rows: list[int]) -> None:
    """Add ``fre; sca-class?`` and ``Exp-haz-ob`` = ``[R]; po-loc; [R]; fre; sca-class?``.

    Both start from a read's from-reads successors, so they are built together.
    """
    proc_of, sca, evs = p.space.proc_of, p.space.sca, p.space.evs
    for r, w in c.rf.items():
        order = c.co.get(evs[r].cell)
        if order is None:
            continue
        for w2 in order[order.index(w) + 1:]:
            if proc_of[w2] != proc_of[r]:
                rows[r] |= sca[w2]
                for r1 in p.prior_reads[r]:
                    rows[r1] |= sca[w2]


def internal_visibility(p: Prepared, c: Candidate) -> bool:
    """coWR: a read after its own thread's write reads that write or a co-later one."""
    rf, rank = c.rf, c.co_rank
    return all(rank[rf[r]] >= rank[w] for r, w in p.prior_write.items())


def atomicity(p: Prepared, c: Candidate) -> bool:
    """No write of another thread co-between an rmw's read source and its write."""
    proc_of, evs, rank = p.space.proc_of, p.space.evs, c.co_rank
    for r, w in p.space.rmw:
        cell = evs[r].cell
        if evs[w].cell != cell:
            continue  # an exclusive pair split in granules: fr; co never leaves a cell
        lo, hi = rank[c.rf[r]], rank[w]
        if hi <= lo:
            return False
        for g, ev in enumerate(evs):
            if ev.kind == "W" and ev.cell == cell and lo < rank[g] < hi and \
                    proc_of[g] != proc_of[r]:
                return False
    return True


class Aarch64Model(LocalOrderModel[LocalOrder, Prepared]):
    """herd's ``aarch64.cat`` (user-level part), as a :class:`~.model.MemoryModel`."""

    name = "aarch64"

    def local_order(self, trace: ThreadTrace) -> LocalOrder:
        return local_order(trace)

    def prepare(self, space: CandidateSpace) -> Prepared:
        orders = [self.thread_order(tr) for tr in space.traces]
        prior_write, prior_reads = po_loc_lookups(space)
        return Prepared(space, orders, static_rows(space, orders), prior_write, prior_reads)

    def rf_edges(self, p: Prepared, rf: dict[int, int], rows: list[int]) -> None:
        rfe(p, rf, rows)

    def co_edges(self, p: Prepared, c: Candidate, rows: list[int]) -> None:
        coe(p, c, rows)
        fre_and_exp_haz_ob(p, c, rows)

    def internal(self, p: Prepared, c: Candidate) -> bool:
        return internal_visibility(p, c)

    def atomic(self, p: Prepared, c: Candidate) -> bool:
        return atomicity(p, c)
