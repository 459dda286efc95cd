"""Build an :class:`~stalecheck.cat.structure.EventStructure` event by event.

Both the hand-built executions of the unit tests and the adapter from the
axiomatic engine's events go through this, so the derived relations (``po``,
``loc``, ``int``/``ext``, ``id``, ``same-instance``, ``sm``) are computed in
one place, as herd's ``machModelChecker.ml`` defines them: ``po`` relates
events of different instructions of one thread, initial writes belong to no
thread (so they are ``ext`` to every event and ``int`` to none), ``sm`` is the
identity on memory events plus single-copy-atomic groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stalecheck.cat.structure import EventStructure

#: Event sets herd's AArch64 event structures define; absent ones are empty.
AARCH64_SETS = (
    "R", "W", "M", "F", "IW", "FW", "Exp", "NExp", "SPURIOUS", "B", "BCC", "PRED", "Rreg", "Wreg",
    "ADDR", "DATA", "A", "L", "Q", "X", "EX", "NoRet", "T", "TagCheck", "Instr", "Restricted-CMODX",
    "DMB.NSH", "DMB.NSHLD", "DMB.NSHST", "DMB.ISH", "DMB.ISHLD", "DMB.ISHST", "DMB.OSH",
    "DMB.OSHLD", "DMB.OSHST", "DMB.SY", "DMB.ST", "DMB.LD", "DSB.NSH", "DSB.NSHLD", "DSB.NSHST",
    "DSB.ISH", "DSB.ISHLD", "DSB.ISHST", "DSB.SY", "DSB.ST", "DSB.LD", "DSB.OSH", "DSB.OSHLD",
    "DSB.OSHST", "ISB", "DC.CVAU", "IC.IALLU", "IC.IALLUIS", "IC.IVAU", "TLBI", "TLBIIS",
    "TLBInXS", "FAULT", "MMU", "TagCheck", "EXC-ENTRY", "EXC-RET", "SVC", "UDF",
)
#: Relations herd defines that an AArch64 user-level structure leaves empty.
AARCH64_RELATIONS = ("iico_data", "iico_ctrl", "iico_order", "rf-reg", "same-low-order-bits")


@dataclass
class _Ev:
    proc: int | None
    instance: int
    labels: frozenset[str]
    loc: str | None
    name: str


@dataclass
class StructureBuilder:
    """Collects events (in program order per thread) and explicit edges, then derives the rest."""

    events: list[_Ev] = field(default_factory=list)
    edges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    sca_groups: list[tuple[int, ...]] = field(default_factory=list)

    def event(
        self, proc: int | None, instance: int, labels: Iterable[str], loc: str | None = None,
        name: str = "",
    ) -> int:
        """Add an event of instruction ``instance`` (ordered within ``proc``); its index."""
        self.events.append(_Ev(proc, instance, frozenset(labels), loc, name or f"e{len(self.events)}"))
        return len(self.events) - 1

    def edge(self, relation: str, src: int, dst: int) -> None:
        self.edges.setdefault(relation, []).append((src, dst))

    def build(self, value_relations: dict[str, tuple[int, ...]] | None = None) -> EventStructure:
        evs = self.events
        n = len(evs)
        sets: dict[str, int] = dict.fromkeys(AARCH64_SETS, 0)
        for i, e in enumerate(evs):
            for label in e.labels:
                sets[label] = sets.get(label, 0) | 1 << i
        sets["M"] = sets["M"] | sets["R"] | sets["W"]
        po = [0] * n
        same_proc = [0] * n
        ext = [0] * n
        loc = [0] * n
        inst = [0] * n
        for i, a in enumerate(evs):
            for j, b in enumerate(evs):
                bit = 1 << j
                if a.proc is not None and a.proc == b.proc:
                    same_proc[i] |= bit
                    if a.instance < b.instance:
                        po[i] |= bit
                    if a.instance == b.instance:
                        inst[i] |= bit
                elif a.proc != b.proc:  # initial writes form one group of their own
                    ext[i] |= bit
                if a.loc is not None and a.loc == b.loc:
                    loc[i] |= bit
            if a.proc is None:
                inst[i] |= 1 << i
        mem = sets["M"]
        sm = [(1 << i) if mem >> i & 1 else 0 for i in range(n)]
        for group in self.sca_groups:
            for x in group:
                for y in group:
                    sm[x] |= 1 << y
        rels: dict[str, tuple[int, ...]] = {
            "po": tuple(po), "int": tuple(same_proc), "ext": tuple(ext), "loc": tuple(loc),
            "id": tuple(1 << i for i in range(n)), "same-instance": tuple(inst), "sm": tuple(sm),
        }
        for name in AARCH64_RELATIONS:
            rels.setdefault(name, (0,) * n)
        for name, pairs in self.edges.items():
            rows = list(rels.get(name, (0,) * n))
            for src, dst in pairs:
                rows[src] |= 1 << dst
            rels[name] = tuple(rows)
        return EventStructure(n, sets, rels, value_relations or {}, tuple(e.name for e in evs))
