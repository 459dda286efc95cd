"""Spurious hardware Access flag updates (herd's ``add_setaf``, under ``TTHM``).

With hardware Access flag management a PE may set the Access flag of a valid
entry at any time, not only when a walk for an access needs it (Arm ARM
D8.5.1: the flag may be set by a translation table walk that is not for an
access, e.g. speculative).  herd models this for every entry some write
(the initial one included) makes valid with AF clear: besides the executions
without it, there are executions with an extra atomic update of that entry,
made by no thread, that reads exactly the value that write stored and
writes it back with AF set.  For each entry, any subset of its candidate
writes gets such an update (herd: mem.ml ``add_setaf``, AArch64Sem.ml
``test_and_set_af_succeeds``).

Each update is a pair of events of its own pseudo-thread (a thread number
below the initial writes'): a walk-like read of the entry and a hardware
update (``HU``), in one instruction, so the model relates them by
``[Imp & TTD & R]; rmw; [HU]`` and its atomicity, and by nothing in program
order; they are external to every thread, like herd's spurious events.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

from stalecheck.axiomatic import vmsa_layout
from stalecheck.axiomatic.events import Event, ThreadTrace
from stalecheck.axiomatic.values import PteVal, Val

Cell = tuple[str, int]
FIRST_SPURIOUS = -2  # pseudo-thread numbers count down from here (-1 is the initial writes)


def can_unset_af(value: Val) -> bool:
    """herd's ``can_af0``: a valid entry with the Access flag clear."""
    return isinstance(value, PteVal) and value.valid == 1 and value.af == 0


def _candidates(
    combo: Sequence[ThreadTrace], init_memory: Mapping[Cell, Val]
) -> dict[Cell, list[PteVal]]:
    """Per entry, the values written valid with AF clear: the initial value and every
    explicit write (not the write of an atomic that stores what it read: herd's
    "write_loaded" case needs no extra update)."""
    out: dict[Cell, list[PteVal]] = {}
    for cell, value in init_memory.items():
        if vmsa_layout.entry_of(cell[0]) is not None and isinstance(value, PteVal) \
                and can_unset_af(value):
            out.setdefault(cell, []).append(value)
    for tr in combo:
        loaded = {w: tr.events[r].value for r, w in tr.rmw}
        for k, ev in enumerate(tr.events):
            if ev.kind != "W" or ev.hu or vmsa_layout.entry_of(ev.cell[0]) is None:
                continue
            if isinstance(ev.value, PteVal) and can_unset_af(ev.value) and \
                    loaded.get(k) != ev.value:
                out.setdefault(ev.cell, []).append(ev.value)
    return out


def _update(proc: int, cell: Cell, value: PteVal) -> ThreadTrace:
    read = Event("R", cell, value, 0, 0, 8, text="spurious AF update", walk=True)
    write = Event("W", cell, replace(value, af=1), 0, 1, 8, text="spurious AF update", hu=True)
    return ThreadTrace(proc, [read, write], hu_rmw=[(0, 1)])


def spurious_updates(
    combo: Sequence[ThreadTrace], init_memory: Mapping[Cell, Val]
) -> Iterator[tuple[ThreadTrace, ...]]:
    """Every choice of spurious updates for one combination of thread paths (the empty
    choice first), as extra pseudo-threads: per entry, every subset of its candidates."""
    per_cell = [
        [subset for size in range(len(vs) + 1) for subset in itertools.combinations(vs, size)]
        for _, vs in sorted(_candidates(combo, init_memory).items())
    ]
    cells = sorted(_candidates(combo, init_memory))
    for choice in itertools.product(*per_cell):
        extra: list[ThreadTrace] = []
        for cell, subset in zip(cells, choice, strict=True):
            for value in subset:
                extra.append(_update(FIRST_SPURIOUS - len(extra), cell, value))
        yield tuple(extra)


def spurious_domain(values: Sequence[Val]) -> list[PteVal]:
    """The values spurious updates may write to an entry that may hold ``values``."""
    return [replace(v, af=1) for v in values if isinstance(v, PteVal) and can_unset_af(v)]
