"""The Arm model with instruction fetch: herd's ``aarch64.cat`` under ``-variant ifetch``.

Fetches (``Imp & Instr & R``) read code locations like any read, so rf and co
cover them unchanged; what differs is how they enter ``ob`` (Arm ARM B2.3,
the formal concurrency model: B2.3.1 "DC-before, DC-after" and "IC-before,
IC-after", B2.3.7 "Instruction-read-ordered-before" and "IC-ordered-before",
B2.3.8 "IC-Coherence-before" and "Instruction-Observed-by"; herd's ``aarch64.cat``):

* :func:`explicit_fr_and_haz` -- ``Exp-obs`` and ``Exp-haz-ob`` hold for explicit
  reads only: a fetch that reads a stale instruction is *not* ordered before
  the newer write (that is the whole point of cache maintenance);
* :func:`instr_obs_rf` -- ``Instr-obs``: ``rf; [Imp & Instr & R]``, internal too;
* the ``IC-after`` and ``DC-after`` orders (``enumerations.cat``): each complete
  ``IC`` and each fetch of the same cache line, and each ``DC CVAU`` and each
  explicit write of its line, are ordered one way or the other, the way
  local-hw-reqs orders them if it does, freely otherwise; both orders are part
  of ``Instr-obs`` (:func:`choice_edges`);
* :func:`ic_ca` -- ``IC-coherence-after``, which depends on CTR_EL0: with neither
  DIC nor IDC a fetch after an ``IC`` that reads older than a write puts the
  ``IC`` before any ``DC CVAU`` after that write; with IDC (no data-cache clean
  needed), before the write itself; with DIC (no invalidation needed either),
  the fetch itself is before the write;
* :func:`ic_ob` -- ``IC-ob``: a fetch is before whatever a po-later fetch of its
  thread is ordered before through ``IC-after; [IC]; (DSB-ob | IFB-ob)`` or, with
  DIC, through coherence.

A candidate is an execution if *some* choice of the ``IC-after``/``DC-after``
orders leaves ``ob`` acyclic (herd enumerates the choices with ``with ... from``);
the search below adds a choice at a time and backtracks on the first cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stalecheck.axiomatic.aarch64_model import (
    Prepared,
    atomicity,
    coe,
    internal_visibility,
    po_loc_lookups,
    rfe,
)
from stalecheck.axiomatic.candidates import Candidate, CandidateSpace
from stalecheck.axiomatic.code_data import CodeLayout
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.ifetch_local import FetchOrder, fetch_local_order
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


@dataclass
class FetchPrepared(Prepared):
    """The base per-path data plus the fetch, IC and DC pairs of this combination."""

    fetches: list[int] = field(default_factory=list)
    earlier_fetches: dict[int, list[int]] = field(default_factory=dict)  # f2 -> po-earlier f1
    # (cmo, access, allowed orientations): +1 cmo before access, -1 access before cmo
    ic_pairs: list[tuple[int, int, tuple[int, ...]]] = field(default_factory=list)
    dc_pairs: list[tuple[int, int, tuple[int, ...]]] = field(default_factory=list)
    ic_reach: dict[int, list[int]] = field(default_factory=dict)  # IC -> DSB-ob|IFB-ob targets


def explicit_fr_and_haz(p: FetchPrepared, c: Candidate, rows: list[int]) -> None:
    """``fre; sca-class?`` and ``Exp-haz-ob`` for explicit reads only (B2.3.8 Explicit-Observed-by)."""
    proc_of, sca, evs = p.space.proc_of, p.space.sca, p.space.evs
    for r, w in c.rf.items():
        if evs[r].fetch:
            continue
        order = c.co.get(evs[r].cell)
        if order is None:
            continue
        for w2 in order[order.index(w) + 1:]:
            if proc_of[w2] != proc_of[r]:
                rows[r] |= sca[w2]
                for r1 in p.prior_reads[r]:
                    rows[r1] |= sca[w2]


def instr_obs_rf(p: FetchPrepared, rf: dict[int, int], rows: list[int]) -> None:
    """``Instr-obs``: ``rf; [Imp & Instr & R]``, internal too (B2.3.8 Instruction-Observed-by)."""
    for f in p.fetches:
        rows[rf[f]] |= 1 << f


def fetch_fr(p: FetchPrepared, c: Candidate) -> dict[int, list[int]]:
    """For each fetch, the writes it reads before in coherence (``[Instr & R]; ca; [W]``)."""
    out: dict[int, list[int]] = {}
    evs = p.space.evs
    for f in p.fetches:
        order = c.co.get(evs[f].cell)
        out[f] = [] if order is None else list(order[order.index(c.rf[f]) + 1:])
    return out


def ic_ca_dic(p: FetchPrepared, fr: dict[int, list[int]], rows: list[int]) -> None:
    """``IC-ca`` with DIC (and so IDC): ``[Imp & Instr & R]; ca; [W]`` (B2.3.8 IC-Coherence-before)."""
    for f, ws in fr.items():
        for w in ws:
            rows[f] |= 1 << w


def ic_ob_dic(p: FetchPrepared, fr: dict[int, list[int]], rows: list[int]) -> None:
    """``IC-ob`` with DIC: ``[Instr & R]; po; [Instr & R]; ca`` (B2.3.7 Instruction-read-ordered-before)."""
    for f2, ws in fr.items():
        for f1 in p.earlier_fetches[f2]:
            for w in ws:
                rows[f1] |= 1 << w


def choice_edges(
    p: FetchPrepared, code: CodeLayout, fr: dict[int, list[int]],
    choice: list[int], k: int,
) -> list[Edge]:
    """Edges enabled once pair ``k`` is oriented (pairs before ``k`` already are).

    ``IC-after``/``DC-after`` themselves (``Instr-obs``), then ``IC-ca`` and
    ``IC-ob``, which need the orientation of one pair (or of an IC pair and a
    DC pair, without IDC).
    """
    n_ic = len(p.ic_pairs)
    edges: list[Edge] = []
    if k < n_ic:
        ic, f, _ = p.ic_pairs[k]
        if choice[k] > 0:
            edges.append((ic, f))
            if code.idc and not code.dic:
                edges.extend((ic, w) for w in fr[f])  # IC-ca (IDC): [IC]; IC-after; [F]; ca; [W]
            # Without IDC, IC-ca also needs a DC pair: added with it (DC pairs come last).
        else:
            edges.append((f, ic))
            # IC-ob: [F]; po; [F]; IC-after; [IC]; (DSB-ob | IFB-ob)
            edges.extend((f1, e) for f1 in p.earlier_fetches[f] for e in p.ic_reach[ic])
        return edges
    dc, w, _ = p.dc_pairs[k - n_ic]
    if choice[k] > 0:
        return [(dc, w)]
    edges.append((w, dc))
    if not code.idc:  # IC-ca (no IDC): [IC]; IC-after; [F]; ca; [W]; DC-after; [DC.CVAU]
        for m in range(n_ic):
            ic, f, _ = p.ic_pairs[m]
            if choice[m] > 0 and w in fr[f]:
                edges.append((ic, dc))
    return edges


class IfetchModel(LocalOrderModel[FetchOrder, FetchPrepared]):
    """herd's ``aarch64.cat`` with ``-variant ifetch``, as a :class:`~.model.MemoryModel`."""

    name = "aarch64-ifetch"

    def __init__(self, code: CodeLayout) -> None:
        super().__init__()
        self.code = code

    def local_order(self, trace: ThreadTrace) -> FetchOrder:
        return fetch_local_order(trace)

    def prepare(self, space: CandidateSpace) -> FetchPrepared:
        orders = [self.thread_order(tr) for tr in space.traces]
        evs, proc_of = space.evs, space.proc_of
        lobs = [fo.order for fo in orders]
        static = static_rows(space, lobs)
        reach = global_reach(space, [fo.reach for fo in orders])
        complete = {off + k for fo, off in zip(orders, space.offsets, strict=True)
                    for k in fo.complete}
        prior_write, prior_reads = po_loc_lookups(space)
        prior_write = {r: w for r, w in prior_write.items() if not evs[r].fetch}
        prior_reads = {r: [x for x in rs if not evs[x].fetch] for r, rs in prior_reads.items()}
        fetches = [g for g in space.reads if evs[g].fetch]
        earlier = {f2: [f1 for f1 in fetches if proc_of[f1] == proc_of[f2] and f1 < f2]
                   for f2 in fetches}
        ic_pairs = []
        for ic in sorted(complete):  # enumerations.cat: scl & (C_IC * (Imp & Instr & R))
            everywhere = evs[ic].cmo in ("IC.IALLU", "IC.IALLUIS")
            for f in fetches:
                if everywhere or evs[f].cell == evs[ic].cell:
                    ic_pairs.append((ic, f, orientations(static, proc_of, ic, f)))
        dc_pairs = []
        for dc, ev in enumerate(evs):  # scl & (DC.CVAU * (Exp & W)), initial writes first
            if ev.cmo != "DC.CVAU":
                continue
            for w in space.writes_by_cell.get(ev.cell, []):
                if proc_of[w] >= 0:
                    dc_pairs.append((dc, w, orientations(static, proc_of, dc, w)))
        return FetchPrepared(
            space, lobs, static, prior_write, prior_reads,
            fetches, earlier, ic_pairs, dc_pairs, reach,
        )

    def rf_edges(self, p: FetchPrepared, rf: dict[int, int], rows: list[int]) -> None:
        rfe(p, rf, rows)
        instr_obs_rf(p, rf, rows)

    def co_edges(self, p: FetchPrepared, c: Candidate, rows: list[int]) -> None:
        coe(p, c, rows)
        explicit_fr_and_haz(p, c, rows)

    def internal(self, p: FetchPrepared, c: Candidate) -> bool:
        return internal_visibility(p, c)

    def external(
        self, p: FetchPrepared, c: Candidate, ob: list[int], explain: bool
    ) -> tuple[bool, list[int]]:
        """``acyclic ob`` for some orientation of the IC-after/DC-after pairs, with the
        DIC relations (``IC-ca``, ``IC-ob`` through coherence) that need co."""
        fr = fetch_fr(p, c)
        if self.code.dic:
            ic_ca_dic(p, fr, ob)
            ic_ob_dic(p, fr, ob)
        pairs = [o for _, _, o in p.ic_pairs] + [o for _, _, o in p.dc_pairs]

        def edges(choice: list[int], k: int) -> list[Edge]:
            return choice_edges(p, self.code, fr, choice, k)

        if is_acyclic(ob) and some_orientation_acyclic(pairs, edges, ob):
            return True, ob
        return False, first_orientation(pairs, edges, ob) if explain else ob

    def atomic(self, p: FetchPrepared, c: Candidate) -> bool:
        return atomicity(p, c)
