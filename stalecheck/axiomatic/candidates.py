"""Candidate executions: read-from and coherence choices over fixed thread paths.

Given one path per thread, events are numbered globally (initial writes
first).  A candidate picks, for each read, a same-cell write with the value
it read (``rf``), and for each cell a total coherence order with the initial
write first (``co``).  Which candidates are executions is the model's call
(:mod:`stalecheck.axiomatic.model`); this module only builds the choices, and
:mod:`stalecheck.axiomatic.executions` enumerates them, asking the model after each
rf choice whether any co choice can still be allowed.

Two of the internal visibility requirements of herd's ``aarch64.cat``
(``coRW1-Exp``, ``coWW-Exp``; Arm ARM B2.3, internal visibility) are built
into the enumeration, because every model we serve has them and the saving
is large: a read never reads a po-later write of its own thread (coRW1), and
co keeps each thread's writes to a cell in program order (coWW).

Extension point: new kinds of effect (instruction fetches, translation-table
walks) become events with a cell and a value and get rf/co like any other;
effects that are not reads or writes of a cell (TLBI, cache maintenance)
stay out of rf/co and are related by the model.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from stalecheck.axiomatic.events import Event, ThreadTrace
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
    """One candidate the model judged: rf (read -> write), co per cell, final memory."""

    events: tuple[GEvent, ...]
    traces: tuple[ThreadTrace, ...]
    rf: dict[int, int]
    co: dict[Cell, tuple[int, ...]]
    memory: dict[Cell, Val]
    named: tuple[tuple[tuple[int, int, str], ...], ...]  # thread-local edges, per thread
    offsets: tuple[int, ...]  # global index of each thread's first event
    violation: str = ""  # empty for a consistent execution; else the axiom it breaks
    ob: tuple[int, ...] = ()  # ordered-before edges (bitmask rows), kept for explanations


@dataclass(slots=True)
class Candidate:
    """One rf and co choice; ``co_rank`` is each write's position in its cell's co."""

    rf: dict[int, int]
    co: dict[Cell, tuple[int, ...]]
    co_rank: dict[int, int]


@dataclass
class CandidateSpace:
    """The events of one combination of thread paths, and what rf/co may choose from."""

    traces: tuple[ThreadTrace, ...]
    events: tuple[GEvent, ...]
    offsets: tuple[int, ...]
    proc_of: list[int]
    local_of: list[int]
    evs: list[Event]
    cells: list[Cell]
    writes_by_cell: dict[Cell, list[int]]
    reads: list[int]
    rf_cands: list[list[int]]
    sca: list[int]  # sca-class of each event as a bitmask (itself, or its exclusive pair)
    rmw: list[tuple[int, int]]  # global (read, write) pairs

    @property
    def size(self) -> int:
        return len(self.evs)


def build_space(
    traces: Sequence[ThreadTrace], init_memory: dict[Cell, Val]
) -> CandidateSpace | None:
    """Number the events; None when some read has no write it could read from."""
    gevents: list[GEvent] = []
    cells = sorted(init_memory)
    for c in cells:
        gevents.append(GEvent(INIT_PROC, 0, Event("W", c, init_memory[c], -1, -1)))
    offsets: list[int] = []
    for tr in traces:
        offsets.append(len(gevents))
        for k, ev in enumerate(tr.events):
            gevents.append(GEvent(tr.proc, k, ev))
    proc_of = [g.proc for g in gevents]
    local_of = [g.local for g in gevents]
    evs = [g.event for g in gevents]
    writes_by_cell: dict[Cell, list[int]] = {}
    for g, ev in enumerate(evs):
        if ev.kind == "W":
            writes_by_cell.setdefault(ev.cell, []).append(g)
    reads = [g for g, ev in enumerate(evs) if ev.kind == "R"]
    rf_cands: list[list[int]] = []
    for r in reads:
        er = evs[r]
        cands = [
            w for w in writes_by_cell.get(er.cell, [])
            if evs[w].value == er.value
            # coRW1-Exp; a hardware update is not an explicit write, so an explicit read
            # may read a po-later one (walks cannot: lmws orders them before it)
            and not (proc_of[w] == proc_of[r] and local_of[w] > local_of[r]
                     and not (evs[w].hu and not er.walk))
        ]
        if not cands:
            return None
        rf_cands.append(cands)
    sca = [1 << g for g in range(len(evs))]
    rmw: list[tuple[int, int]] = []
    for tr, off in zip(traces, offsets, strict=True):
        for group in tr.sca_groups:
            mask_all = 0
            for k in group:
                mask_all |= 1 << (off + k)
            for k in group:
                sca[off + k] = mask_all
        rmw.extend((off + r, off + w) for r, w in tr.rmw)
    return CandidateSpace(
        tuple(traces), tuple(gevents), tuple(offsets), proc_of, local_of, evs, cells,
        writes_by_cell, reads, rf_cands, sca, rmw,
    )


def co_orders(space: CandidateSpace, writes: list[int]) -> Iterator[tuple[int, ...]]:
    """Coherence orders of one cell: the initial write first, each thread's writes in po."""
    proc_of, local_of = space.proc_of, space.local_of
    init = [w for w in writes if proc_of[w] == INIT_PROC]
    rest = [w for w in writes if proc_of[w] != INIT_PROC]
    if len(rest) <= 1:
        yield tuple(init + rest)
        return
    for perm in itertools.permutations(rest):
        last: dict[int, int] = {}
        ok = True
        for w in perm:
            if space.evs[w].hu:
                continue  # coWW-Exp orders explicit writes only
            p = proc_of[w]
            if p in last and local_of[last[p]] > local_of[w]:  # coWW
                ok = False
                break
            last[p] = w
        if ok:
            yield tuple(init + list(perm))
