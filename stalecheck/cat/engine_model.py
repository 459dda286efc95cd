"""A cat file as a :class:`~stalecheck.axiomatic.model.MemoryModel` over the engine's events.

The axiomatic engine runs each thread concretely and keeps, for every memory
event, the reads that reach it through registers (``addr_d``, ``data_d``,
``intra_d``, ``ctrl_d``; the ``_p`` masks also cross an ``iico_ctrl`` edge).
herd's AArch64 model (``catdep``) instead derives ``addr``/``data``/``ctrl``
and the pick dependencies itself from register events (``Rreg``/``Wreg``,
``iico_data``, ``iico_ctrl``, ``BCC``, the ``ADDR``/``DATA`` ports).  So that
the cat file still does that derivation, each flow becomes a small register
skeleton of the shape herd builds:

* a read ``r`` that feeds anything writes a register of its own
  (``r -iico_data-> Wreg``; for a flow that crosses a control input,
  ``r -iico_ctrl-> Wreg`` on a second register);
* an event ``e`` fed by ``r`` from an earlier instruction reads that register
  (``Rreg``, on the ``ADDR`` or ``DATA`` port for address and data flows)
  and ``Rreg -iico_data-> e``; within one instruction, ``r -iico_data-> e``;
* a branch: when a thread's control dependencies grow, a ``BCC`` event
  (its own instruction) reads the registers of the new reads, so
  ``ctrl = ...; [BCC]; po`` reaches everything after it.

Barriers become ``F`` events of herd's classes (``DMB.SY`` for ``dmb.full``,
...).  What this does not model: register events for other registers (they
only matter through the flows above), fault events (a fault ends its thread,
so nothing is po-after it), and the variants' extra events (instruction
fetch, translation-table walks): tests that need them are refused by the
engine before a model is asked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from stalecheck.axiomatic.candidates import Candidate, CandidateSpace
from stalecheck.axiomatic.events import Event, ThreadTrace
from stalecheck.axiomatic.model import Judgement
from stalecheck.cat.build import StructureBuilder
from stalecheck.cat.evaluator import BASE
from stalecheck.cat.program import CatModel, Instance, Outcome, load_model
from stalecheck.cat.structure import Choice, total_order_rows
from stalecheck.cat.values import EvSet, Rel
from stalecheck.errors import Position, UnsupportedError
from stalecheck.litmus.ast import LitmusTest

#: herd's event classes for the engine's barrier kinds (``DMB SY`` and ``DMB ISH``
#: both land in cat's ``dmb.full``; the engine keeps only the class).
BARRIER_SETS = {
    "dmb.full": "DMB.SY", "dmb.ld": "DMB.LD", "dmb.st": "DMB.ST",
    "dsb.full": "DSB.SY", "dsb.ld": "DSB.LD", "dsb.st": "DSB.ST", "isb": "ISB",
}


#: Variants the register skeleton represents faithfully; the others need events
#: (instruction fetches, translation-table walks, tags) that the adapter does not build.
SUPPORTED_VARIANTS = frozenset({"mixed", "dontcheckmixed", "nv2", "fatal", "precise", "telechat"})
#: Engine fields the adapter maps (or knows to be irrelevant); any other field with a
#: non-default value is a new kind of fact, refused rather than silently dropped.
_KNOWN_FIELDS = {
    # size: one width per location outside -variant mixed (check.py refuses a mix), and
    # under it one granule per event (mixed_size.py): either way a cell is herd's loc.
    "Event": {"kind", "cell", "value", "instance", "pos", "size", "text", "line", "acquire", "release",
              "acquire_pc", "exclusive", "atomic", "noret", "addr_d", "addr_p", "data_d",
              "data_p", "ctrl_d", "ctrl_p", "intra_d", "intra_p", "lmrs_from"},
    "Barrier": {"kind", "pos", "ctrl_d", "ctrl_p", "addr_before_d", "addr_before_p"},
    "ThreadTrace": {"proc", "events", "barriers", "rmw", "iico_order", "sca_groups", "registers",
                    "faults", "weight", "cut", "poison"},
}


def _refuse_unknown(obj: object) -> None:
    known = _KNOWN_FIELDS[type(obj).__name__]
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        if f.name in known:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if getattr(obj, f.name) != default:
            raise UnsupportedError(
                f"--cat: the engine records {type(obj).__name__}.{f.name}, which the cat "
                "adapter does not map to herd's events yet")


def check_mappable(space: CandidateSpace) -> None:
    """Refuse what the register skeleton cannot represent, rather than judge it wrongly."""
    for tr in space.traces:
        _refuse_unknown(tr)
        for ev in tr.events:
            _refuse_unknown(ev)
            if ev.kind not in ("R", "W"):
                raise UnsupportedError(f"--cat: events of kind {ev.kind!r} are not mapped yet")
        for bar in tr.barriers:
            _refuse_unknown(bar)
            if bar.kind not in BARRIER_SETS:
                raise UnsupportedError(f"--cat: barrier {bar.kind!r} is not mapped yet")


def _labels(ev: Event) -> set[str]:
    labels = {ev.kind, "Exp"}
    if ev.acquire:
        labels.add("A")
    if ev.release:
        labels.add("L")
    if ev.acquire_pc:
        labels.add("Q")
    if ev.exclusive:
        labels.add("EX")
    if ev.atomic:
        labels.add("X")
    if ev.noret:
        labels.add("NoRet")
    return labels


def _cell_key(cell: tuple[str, int]) -> str:
    return f"mem:{cell[0]}+{cell[1]}"


@dataclass
class _Thread:
    """Builder state for one thread: cat instance numbers and the registers of its reads."""

    proc: int
    offset: int  # global index of the thread's first memory event
    inst_of: dict[int, int]  # local event index -> cat instruction number


def build_structure(space: CandidateSpace) -> StructureBuilder:
    """Memory events keep their global numbers (so rf and co carry over); the rest follow."""
    b = StructureBuilder()
    for g, gev in enumerate(space.events):
        ev = gev.event
        if gev.proc < 0:
            b.event(None, g, {"W", "IW", "Exp"}, _cell_key(ev.cell), f"init {ev.cell[0]}")
        else:
            b.event(gev.proc, 0, _labels(ev), _cell_key(ev.cell), f"P{gev.proc}:{ev.text}")
    threads = []
    for tr, off in zip(space.traces, space.offsets, strict=True):
        threads.append(_place_thread(b, tr, off))
    for tr, t in zip(space.traces, threads, strict=True):
        _add_flows(b, tr, t)
        for a, c in tr.iico_order:
            b.edge("iico_order", t.offset + a, t.offset + c)
        b.sca_groups.extend(tuple(t.offset + k for k in g) for g in tr.sca_groups)
    return b


def _place_thread(b: StructureBuilder, tr: ThreadTrace, off: int) -> _Thread:
    """Number the thread's instructions (memory events of one instruction share one),
    add barrier and branch events, and fix each memory event's instruction number."""
    items: list[tuple[int, str, int]] = [(ev.pos, "e", k) for k, ev in enumerate(tr.events)]
    items += [(bar.pos, "b", k) for k, bar in enumerate(tr.barriers)]
    items.sort()
    inst = 0
    prev_engine_inst: int | None = None
    inst_of: dict[int, int] = {}
    ctrl_d = ctrl_p = 0
    t = _Thread(tr.proc, off, inst_of)
    valid = (1 << len(tr.events)) - 1  # drops the engine's pseudo-source bit (CHOICE)
    for _, what, k in items:
        cd, cp = (tr.events[k].ctrl_d, tr.events[k].ctrl_p) if what == "e" else (
            tr.barriers[k].ctrl_d, tr.barriers[k].ctrl_p)
        cd &= valid
        cp &= valid
        if cd & ~ctrl_d or cp & ~ctrl_p:
            inst += 1
            bcc = b.event(tr.proc, inst, {"B", "BCC"}, name=f"P{tr.proc}:branch")
            _read_regs(b, tr, t, bcc, inst, cd & ~ctrl_d, cp & ~ctrl_p, port=None)
            ctrl_d |= cd
            ctrl_p |= cp
        if what == "b":
            inst += 1
            bar = tr.barriers[k]
            b.event(tr.proc, inst, {"F", BARRIER_SETS[bar.kind]}, name=f"P{tr.proc}:{bar.kind}")
            prev_engine_inst = None
            continue
        ev = tr.events[k]
        if ev.instance != prev_engine_inst:
            inst += 1
            prev_engine_inst = ev.instance
        inst_of[k] = inst
        b.events[off + k].instance = inst
    return t


def _reg(tr: ThreadTrace, r: int, pick: bool) -> str:
    return f"reg:P{tr.proc}:{r}:{'p' if pick else 'd'}"


def _read_regs(
    b: StructureBuilder, tr: ThreadTrace, t: _Thread, target: int, inst: int, d: int, p: int,
    port: str | None,
) -> None:
    """``target`` (an event of instruction ``inst``) reads the registers of reads ``d``/``p``."""
    for mask, pick in ((d, False), (p & ~d, True)):
        k = 0
        while mask:
            if mask & 1:
                labels = {"Rreg"} | ({port} if port else set())
                rreg = b.event(tr.proc, inst, labels, _reg(tr, k, pick), f"P{tr.proc}:Rreg")
                b.edge("iico_data", rreg, target)
            mask >>= 1
            k += 1


def _add_flows(b: StructureBuilder, tr: ThreadTrace, t: _Thread) -> None:
    off = t.offset
    used: dict[tuple[int, bool], bool] = {}
    valid = (1 << len(tr.events)) - 1  # drops the engine's pseudo-source bit (CHOICE)
    for k, ev in enumerate(tr.events):
        g = off + k
        inst = t.inst_of[k]
        for d, p, port in ((ev.addr_d, ev.addr_p, "ADDR"), (ev.data_d, ev.data_p, "DATA"),
                           (ev.intra_d, ev.intra_p, None)):
            d &= valid
            p &= valid
            same = sum(1 << r for r in range(len(tr.events)) if t.inst_of.get(r) == inst)
            for r in _bits(d & same):
                b.edge("iico_data", off + r, g)
            for r in _bits(p & ~d & same):
                b.edge("iico_ctrl", off + r, g)
            _read_regs(b, tr, t, g, inst, d & ~same, p & ~same, port)
            for r in _bits(d & ~same):
                used[(r, False)] = True
            for r in _bits(p & ~d & ~same):
                used[(r, True)] = True
        # ctrl flows are read by the branch events placed in _place_thread
        for r in _bits(ev.ctrl_d & valid):
            used[(r, False)] = True
        for r in _bits(ev.ctrl_p & ~ev.ctrl_d & valid):
            used[(r, True)] = True
    for bar in tr.barriers:
        for r in _bits(bar.ctrl_d & valid):
            used[(r, False)] = True
        for r in _bits(bar.ctrl_p & ~bar.ctrl_d & valid):
            used[(r, True)] = True
    for (r, pick) in sorted(used):
        wreg = b.event(tr.proc, t.inst_of[r], {"Wreg"}, _reg(tr, r, pick), f"P{tr.proc}:Wreg")
        b.edge("iico_ctrl" if pick else "iico_data", off + r, wreg)


def _bits(mask: int) -> list[int]:
    out = []
    k = 0
    while mask:
        if mask & 1:
            out.append(k)
        mask >>= 1
        k += 1
    return out


@dataclass
class Prepared:
    instance: Instance
    space: CandidateSpace
    n: int


class CatMemoryModel:
    """Judges the engine's candidates with a cat file (``stalecheck litmus --cat FILE``)."""

    def __init__(self, model: CatModel, variants: frozenset[str] = frozenset()) -> None:
        self.model = model
        self.variants = variants
        self.name = Path(model.path).name

    @staticmethod
    def load(path: Path, variants: frozenset[str] = frozenset()) -> CatMemoryModel:
        return CatMemoryModel(load_model(path), variants)

    def prepare(self, space: CandidateSpace) -> Prepared:
        check_mappable(space)
        builder = build_structure(space)
        values = {"different-values": _different_values(space, len(builder.events))}
        structure = builder.build(values)
        return Prepared(Instance(self.model, structure, self.variants), space, structure.n)

    def thread_edges(self, prepared: object) -> tuple[tuple[tuple[int, int, str], ...], ...]:
        assert isinstance(prepared, Prepared)
        return tuple(() for _ in prepared.space.traces)

    def admits_rf(self, prepared: object, rf: dict[int, int], explain: bool) -> Outcome | None:
        """Run what depends on rf only; a check failing there fails for every co choice."""
        assert isinstance(prepared, Prepared)
        rows = [0] * prepared.n
        for r, w in rf.items():
            rows[w] |= 1 << r
        out = prepared.instance.run(1, Choice({"rf": Rel(tuple(rows))}), prepared.instance.static)
        if out.violation and not explain:
            return None
        return out

    def judge(
        self, prepared: object, rf_state: object, candidate: Candidate, explain: bool
    ) -> Judgement:
        assert isinstance(prepared, Prepared) and isinstance(rf_state, Outcome)
        space = prepared.space
        orders = [list(candidate.co[c]) if c in candidate.co else list(space.writes_by_cell.get(c, []))
                  for c in space.cells]
        orders = [o for o in orders if o]
        fw = 0
        for o in orders:
            fw |= 1 << o[-1]
        co = Rel(total_order_rows(prepared.n, orders))
        out = prepared.instance.run(2, Choice({"FW": EvSet(fw)}, {"co": co}), rf_state)
        if not (explain and out.violation):
            return Judgement(out.violation)
        return Judgement(out.violation, _ob_rows(prepared, out))


def _ob_rows(prepared: Prepared, out: Outcome) -> tuple[int, ...]:
    """The model's ``ob`` between memory events, if it defines one, so that a forbidden
    candidate is explained by its cycle (the witness shows edges between memory events;
    an edge through a barrier or register event is already a direct edge in ``lob``)."""
    try:  # the edges before closure when the model closes ob with `let rec ob = ... | ob; ob`
        ob = prepared.instance.value(out, "ob" + BASE)
    except KeyError:
        try:
            ob = prepared.instance.value(out, "ob")
        except KeyError:
            return ()
    if not isinstance(ob, Rel):
        return ()
    size = prepared.space.size
    keep = (1 << size) - 1
    return tuple(row & keep for row in ob.rows[:size])


def _different_values(space: CandidateSpace, n: int) -> tuple[int, ...]:
    rows = [0] * n
    evs = space.evs
    for i, a in enumerate(evs):
        for j, c in enumerate(evs):
            if a.value != c.value:
                rows[i] |= 1 << j
    return tuple(rows)


@lru_cache(maxsize=4)
def _loaded(path: str) -> CatModel:
    return load_model(Path(path))


def model_for_test(path: str) -> Callable[[LitmusTest, frozenset[str]], CatMemoryModel]:
    """A factory for ``check_test``: the cat file (parsed once per process), given the
    variants the test runs under (its ``Variant`` line and ``--variant``)."""
    model = _loaded(path)

    def make(test: LitmusTest, variants: frozenset[str]) -> CatMemoryModel:
        extra = sorted(variants - SUPPORTED_VARIANTS)
        if extra:
            raise UnsupportedError(
                f"--cat: variant {', '.join(extra)} needs events the cat adapter does not build "
                "(instruction fetches, translation-table walks, tags...)", Position(test.path))
        return CatMemoryModel(model, variants)

    return make
