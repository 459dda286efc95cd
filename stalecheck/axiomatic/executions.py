"""Enumerate the candidates a memory model allows.

Kept apart from :mod:`stalecheck.axiomatic.candidates` so that the candidate data
and the model protocol (:mod:`stalecheck.axiomatic.model`, which names the candidate
types) do not import each other: the loop here is the one place that needs both.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from stalecheck.axiomatic.candidates import Candidate, Cell, Execution, build_space, co_orders
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.model import MemoryModel
from stalecheck.axiomatic.values import Val


def executions(
    traces: Sequence[ThreadTrace],
    model: MemoryModel,
    init_memory: dict[Cell, Val],
    explain: bool = False,
) -> Iterator[Execution]:
    """Every candidate built from these thread paths that ``model`` allows.

    With ``explain`` the candidates the model forbids are yielded too, each with
    the axiom it violates, so that a forbidden outcome can be explained.
    """
    space = build_space(traces, init_memory)
    if space is None:
        return
    prepared = model.prepare(space)
    named = model.thread_edges(prepared)
    evs, writes_by_cell = space.evs, space.writes_by_cell
    co_cells = [c for c in space.cells if len(writes_by_cell.get(c, [])) > 1]
    single_rank = {w: 0 for c in space.cells if c not in co_cells
                   for w in writes_by_cell.get(c, [])}
    for rf_choice in itertools.product(*space.rf_cands):
        rf = dict(zip(space.reads, rf_choice, strict=True))
        rf_state = model.admits_rf(prepared, rf, explain)
        if rf_state is None:
            continue
        co_lists = [list(co_orders(space, writes_by_cell[c])) for c in co_cells]
        for co_choice in itertools.product(*co_lists):
            co_rank = dict(single_rank)
            for order in co_choice:
                for rank, w in enumerate(order):
                    co_rank[w] = rank
            co = dict(zip(co_cells, co_choice, strict=True))
            judgement = model.judge(prepared, rf_state, Candidate(rf, co, co_rank), explain)
            if judgement.violation and not explain:
                continue
            memory = {c: evs[co[c][-1]].value if c in co else evs[writes_by_cell[c][-1]].value
                      for c in space.cells}
            yield Execution(
                space.events, space.traces, rf, co, memory, named, space.offsets,
                judgement.violation, judgement.ob,
            )
