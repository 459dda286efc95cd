"""Candidate executions: read-from and coherence choices, judged by the Arm axioms.

Given one path per thread, events are numbered globally (initial writes
first), each read picks a same-cell write with the value it read, and each
cell gets a coherence order.  Choices are pruned as early as possible:

* read-from: a read cannot read a po-later write of its own thread
  (``coRW1``); the static ``lob`` plus ``rfe`` must already be acyclic,
  because every later choice only adds ``ob`` edges;
* coherence: writes of one thread keep program order (``coWW``), and a read
  that follows a same-cell write of its thread reads that write or a
  co-later one (``coWR``).

The survivors are checked for the external visibility requirement
(``ob`` acyclic, with ``obs`` = rfe | coe | fre and ``Exp-haz-ob``) and
atomicity (no write between an rmw's read and write in coherence).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from stalecheck.axiomatic.events import Event, ThreadTrace
from stalecheck.axiomatic.local_order import LocalOrder, local_order
from stalecheck.axiomatic.values import Val

Cell = tuple[str, int]
INIT_PROC = -1


@dataclass(frozen=True, slots=True)
class GEvent:
    """An event in a whole execution: thread (``-1`` for initial writes) and local data."""

    proc: int
    local: int
    event: Event


@dataclass(frozen=True)
class Execution:
    """One consistent candidate: events, rf (read -> write), co per cell, final memory."""

    events: tuple[GEvent, ...]
    traces: tuple[ThreadTrace, ...]
    rf: dict[int, int]
    co: dict[Cell, tuple[int, ...]]
    memory: dict[Cell, Val]
    orders: tuple[LocalOrder, ...]
    offsets: tuple[int, ...]
    violation: str = ""  # empty for a consistent execution; else the axiom it breaks
    ob: tuple[int, ...] = ()  # ordered-before edges (bitmask rows), kept for explanations


def is_acyclic(succ: Sequence[int]) -> bool:
    """Kahn's algorithm on bitmask rows (n is tens of events)."""
    n = len(succ)
    indeg = [0] * n
    for row in succ:
        r = row
        while r:
            low = r & -r
            indeg[low.bit_length() - 1] += 1
            r ^= low
    ready = [i for i in range(n) if indeg[i] == 0]
    seen = 0
    while ready:
        i = ready.pop()
        seen += 1
        r = succ[i]
        while r:
            low = r & -r
            j = low.bit_length() - 1
            indeg[j] -= 1
            if indeg[j] == 0:
                ready.append(j)
            r ^= low
    return seen == n


def _co_orders(
    writes: list[int], proc_of: Sequence[int], local_of: Sequence[int]
) -> Iterator[tuple[int, ...]]:
    """Coherence orders of one cell: the initial write first, each thread's writes in po."""
    init = [w for w in writes if proc_of[w] == INIT_PROC]
    rest = [w for w in writes if proc_of[w] != INIT_PROC]
    if len(rest) <= 1:
        yield tuple(init + rest)
        return
    for perm in itertools.permutations(rest):
        last: dict[int, int] = {}
        ok = True
        for w in perm:
            p = proc_of[w]
            if p in last and local_of[last[p]] > local_of[w]:
                ok = False
                break
            last[p] = w
        if ok:
            yield tuple(init + list(perm))


def executions(
    traces: Sequence[ThreadTrace],
    orders: Sequence[LocalOrder],
    init_memory: dict[Cell, Val],
    rejected: bool = False,
) -> Iterator[Execution]:
    """Every consistent execution built from these thread paths.

    With ``rejected`` the candidates the model forbids are yielded too, each with
    the axiom it violates, so that a forbidden outcome can be explained.
    """
    gevents: list[GEvent] = []
    cells = sorted(init_memory)
    for c in cells:
        gevents.append(GEvent(INIT_PROC, 0, Event("W", c, init_memory[c], -1, -1)))
    offsets: list[int] = []
    for tr in traces:
        offsets.append(len(gevents))
        for k, ev in enumerate(tr.events):
            gevents.append(GEvent(tr.proc, k, ev))
    n = len(gevents)
    proc_of = [g.proc for g in gevents]
    local_of = [g.local for g in gevents]
    evs = [g.event for g in gevents]

    # Static part of ob: per-thread (lob | pick-lob)+.
    static = [0] * n
    for tr, order, off in zip(traces, orders, offsets, strict=True):
        for k in range(len(tr.events)):
            row = order.hw[k]
            static[off + k] = row << off
    writes_by_cell: dict[Cell, list[int]] = {}
    for g, ev in enumerate(evs):
        if ev.kind == "W":
            writes_by_cell.setdefault(ev.cell, []).append(g)
    reads = [g for g, ev in enumerate(evs) if ev.kind == "R"]

    # rf candidates per read, with coRW1 (no reading from po-later own writes).
    rf_cands: list[list[int]] = []
    for r in reads:
        er = evs[r]
        cands = []
        for w in writes_by_cell.get(er.cell, []):
            ew = evs[w]
            if ew.value != er.value:
                continue
            if proc_of[w] == proc_of[r] and local_of[w] > local_of[r]:
                continue
            cands.append(w)
        if not cands:
            return
        rf_cands.append(cands)

    # po-loc predecessors in the same thread, for coWR and Exp-haz-ob.
    prior_write: dict[int, int] = {}  # read -> po-latest same-cell write of its thread
    prior_reads: dict[int, list[int]] = {}
    for r in reads:
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
        prior_reads[r] = prs

    # sca-class: effects of one single-copy-atomic access (an exclusive pair) are
    # observed together, so obs edges into one of them reach all of them.
    sca = [1 << g for g in range(n)]
    for tr, off in zip(traces, offsets, strict=True):
        for group in tr.sca_groups:
            mask_all = 0
            for k in group:
                mask_all |= 1 << (off + k)
            for k in group:
                sca[off + k] = mask_all
    rmw_pairs: list[tuple[int, int]] = []
    for tr, off in zip(traces, offsets, strict=True):
        for r, w in tr.rmw:
            rmw_pairs.append((off + r, off + w))

    co_cells = [c for c in cells if len(writes_by_cell.get(c, [])) > 1]
    for rf_choice in itertools.product(*rf_cands):
        rf = dict(zip(reads, rf_choice, strict=True))
        with_rfe = list(static)
        for r, w in rf.items():
            if proc_of[w] != proc_of[r]:
                with_rfe[w] |= sca[r]
        if not rejected and not is_acyclic(with_rfe):
            continue
        co_lists = [list(_co_orders(writes_by_cell[c], proc_of, local_of)) for c in co_cells]
        for co_choice in itertools.product(*co_lists):
            co_rank: dict[int, int] = {}
            for order in co_choice:
                for rank, w in enumerate(order):
                    co_rank[w] = rank
            for c in cells:
                if c not in co_cells:
                    for w in writes_by_cell.get(c, []):
                        co_rank[w] = 0
            # coWR: a read after its own write reads it or something co-later.
            violation = ""
            if any(co_rank[rf[r]] < co_rank[w] for r, w in prior_write.items()):
                if not rejected:
                    continue
                violation = "internal visibility (coWR)"
            cell_order = {c: o for c, o in zip(co_cells, co_choice, strict=True)}
            ob = list(with_rfe)
            for order in co_choice:
                for a_i, a in enumerate(order):
                    for b in order[a_i + 1:]:
                        if proc_of[a] != proc_of[b]:
                            ob[a] |= sca[b]
            for r, w in rf.items():
                order = cell_order.get(evs[r].cell)
                if order is None:
                    continue
                after = order[order.index(w) + 1:]
                for w2 in after:
                    if proc_of[w2] != proc_of[r]:
                        ob[r] |= sca[w2]  # fre; sca-class?
                        for r1 in prior_reads[r]:
                            ob[r1] |= sca[w2]  # Exp-haz-ob: po-loc; fre; sca-class?
            if not is_acyclic(ob):
                if not rejected:
                    continue
                violation = violation or "external visibility (ob is cyclic)"
            if not _atomic_ok(rmw_pairs, rf, co_rank, proc_of, evs):
                if not rejected:
                    continue
                violation = violation or "atomicity (a write between an rmw's read and write)"
            memory = {c: evs[cell_order[c][-1]].value if c in cell_order else
                      evs[writes_by_cell[c][-1]].value for c in cells}
            yield Execution(
                tuple(gevents), tuple(traces), rf, dict(cell_order), memory,
                tuple(orders), tuple(offsets), violation, tuple(ob) if rejected else (),
            )


def find_cycle(succ: Sequence[int]) -> list[int]:
    """One cycle of a bitmask graph (as a node list), or [] if it is acyclic."""
    n = len(succ)
    colour = [0] * n
    parent = [-1] * n
    for root in range(n):
        if colour[root]:
            continue
        stack = [(root, succ[root])]
        colour[root] = 1
        while stack:
            node, rest = stack[-1]
            if not rest:
                colour[node] = 2
                stack.pop()
                continue
            low = rest & -rest
            stack[-1] = (node, rest ^ low)
            nxt = low.bit_length() - 1
            if colour[nxt] == 1:
                cycle = [nxt]
                cur = node
                while cur != nxt:
                    cycle.append(cur)
                    cur = parent[cur]
                return cycle[::-1]
            if colour[nxt] == 0:
                colour[nxt] = 1
                parent[nxt] = node
                stack.append((nxt, succ[nxt]))
    return []


def _atomic_ok(
    rmw_pairs: list[tuple[int, int]],
    rf: dict[int, int],
    co_rank: dict[int, int],
    proc_of: list[int],
    evs: list[Event],
) -> bool:
    """Atomicity: no write of another thread co-between rf(r) and w for rmw (r, w)."""
    for r, w in rmw_pairs:
        lo, hi = co_rank[rf[r]], co_rank[w]
        if hi <= lo:
            return False
        cell = evs[r].cell
        for g, ev in enumerate(evs):
            if ev.kind == "W" and ev.cell == cell and lo < co_rank[g] < hi and \
                    proc_of[g] != proc_of[r]:
                return False
    return True


def thread_orders(traces: Sequence[ThreadTrace]) -> list[LocalOrder]:
    """``local_order`` of each trace (cached by identity by the caller)."""
    return [local_order(t) for t in traces]
