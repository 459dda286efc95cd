"""The static tables of the translation model: regimes, their inputs, who uses which.

A thread bound to a regime accesses VA names through it; every other name is a
physical line or location.  The rules themselves live in ``translation.py``
(descriptors, walks, syndromes), ``tlb.py`` and ``ifetch.py``.
"""

from __future__ import annotations

from stalecheck.errors import ScenarioError
from stalecheck.machine import ifetch, tlb
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.state import State
from stalecheck.machine.translation import RegimeSpec, XlateSpec, contiguous_range

# Opcodes bound to module globals once: in Python 3.11 reading a member off its enum
# class costs about ten global reads, and ``handles`` runs for every thread of every state.
_ATCHECK, _EXEC, _IC, _LDR, _STR, _TLBI = Op.ATCHECK, Op.EXEC, Op.IC, Op.LDR, Op.STR, Op.TLBI

DATA_OPS = (_LDR, _STR)


class Regimes:
    """Regime and input indices of one variant's translation model."""

    def __init__(self, layout: Layout, spec: XlateSpec) -> None:
        self.layout = layout
        self.spec = spec
        self.regimes: tuple[RegimeSpec, ...] = tuple(spec.regimes)
        self.rid = {r.name: i for i, r in enumerate(self.regimes)}
        self.keys = tuple({va: k for k, va in enumerate(r.vas)} for r in self.regimes)
        self.key_names = tuple(tuple(r.vas) for r in self.regimes)
        for r in self.regimes:
            if r.root not in layout.line_index:
                raise ScenarioError(f"regime {r.name!r}: root table {r.root!r} is not a declared line")
            if r.s2 and r.s2 not in self.rid:
                raise ScenarioError(f"regime {r.name!r}: unknown stage-2 regime {r.s2!r}")
            if not 1 <= len(r.levels) <= tlb.MAX_TABLE_LEVELS:  # D8.2: levels -1 to 3
                raise ScenarioError(
                    f"regime {r.name!r}: 1 to {tlb.MAX_TABLE_LEVELS} levels, not {len(r.levels)}"
                )
            for va, idx in r.vas.items():
                if len(idx) != len(r.levels):
                    raise ScenarioError(f"regime {r.name!r}: {va!r} needs one entry index per level")
        self.n = len(self.regimes)
        # TLB tags (tlb.py): D8.16 TLB entries are tagged with the VMID and, for stage 1,
        # the ASID, not with the table base, so stage-1 regimes with the same VMID, ASID
        # (>= 0) and levels share entries.  An entry names the first regime of its group
        # (``tlb_rid``) and the group's index of the input (``tlb_key``).
        first: dict[tuple[int, int, tuple[int, ...]], int] = {}
        self.tlb_rid: tuple[int, ...] = tuple(
            first.setdefault((r.vmid, r.asid, r.levels), i) if r.stage == 1 and r.asid >= 0 else i
            for i, r in enumerate(self.regimes)
        )
        groups: dict[int, dict[str, tuple[int, ...]]] = {}
        for i, r in enumerate(self.regimes):
            union = groups.setdefault(self.tlb_rid[i], {})
            for va, idx in r.vas.items():
                if union.setdefault(va, idx) != idx:
                    raise ScenarioError(
                        f"regime {r.name!r}: {va!r} indexes other entries than in a regime sharing its ASID"
                    )
        self.group_names = {c: tuple(union) for c, union in groups.items()}  # per group: its inputs
        self.tlb_key: tuple[tuple[int, ...], ...] = tuple(
            tuple(self.group_names[self.tlb_rid[i]].index(va) for va in r.vas)
            for i, r in enumerate(self.regimes)
        )
        # Walk-cache inputs (tlb.py table entries): each input's prefix index at each
        # non-last level position, numbered per group; names for witnesses.
        tables = {c: self._prefix_table(union, len(self.regimes[c].levels)) for c, union in groups.items()}
        self.prefixes: tuple[tuple[tuple[int, ...], ...], ...] = tuple(
            tuple(
                tuple(tables[self.tlb_rid[i]][idx[: p + 1]] for p in range(len(r.levels) - 1))
                for idx in r.vas.values()
            )
            for i, r in enumerate(self.regimes)
        )
        self.prefix_names = {c: self._prefix_names(groups[c], tables[c]) for c in groups}
        # D8.7.1: each input's contiguous range, as (other input, distance in entries).
        self.contiguous: tuple[tuple[tuple[tuple[int, int], ...], ...], ...] = tuple(
            tuple(tuple((self.keys[i][o], d) for o, d in contiguous_range(r, va)) for va in r.vas)
            for i, r in enumerate(self.regimes)
        )
        self.thread_rid: tuple[int, ...] = tuple(
            self._regime_of(t.name, spec.thread_regime.get(t.name, "")) for t in layout.threads
        )
        if spec.icache not in ifetch.KINDS:
            raise ScenarioError(f"unknown icache type {spec.icache!r} (known: {', '.join(ifetch.KINDS)})")
        self.icache = "none" if spec.dic else spec.icache
        self.page_lines = tuple(
            tuple(i for i, ln in enumerate(layout.lines) if ln.page == page) for page in layout.pages
        )
        self.page_index = {page: i for i, page in enumerate(layout.pages)}
        # The fetch targets of every thread (for speculative icache fills).
        code = layout.code
        self.fetches = tuple(
            tuple(dict.fromkeys(code[i].loc for i in prog if code[i].op == _EXEC)) for prog in layout.programs
        )

    @staticmethod
    def _prefix_table(vas: dict[str, tuple[int, ...]], levels: int) -> dict[tuple[int, ...], int]:
        table: dict[tuple[int, ...], int] = {}
        for idx in vas.values():
            for p in range(levels - 1):
                table.setdefault(idx[: p + 1], len(table))
        return table

    @staticmethod
    def _prefix_names(vas: dict[str, tuple[int, ...]], table: dict[tuple[int, ...], int]) -> dict[int, str]:
        """A name per prefix: the inputs that share it (``V1/V2``)."""
        names: dict[int, list[str]] = {}
        for va, idx in vas.items():
            for prefix, pid in table.items():
                if idx[: len(prefix)] == prefix:
                    names.setdefault(pid, []).append(va)
        return {pid: "/".join(dict.fromkeys(vas)) for pid, vas in names.items()}

    def leaf_tag(self, rid: int, kind: int = 0) -> int:
        """The TLB tag of ``rid``'s entries of one kind (tlb.tag on its group)."""
        return self.tlb_rid[rid] + self.n * kind

    def _regime_of(self, thread: str, name: str) -> int:
        if not name:
            return -1
        if name not in self.rid:
            raise ScenarioError(f"thread {thread!r} uses unknown regime {name!r}")
        return self.rid[name]

    # ---- names --------------------------------------------------------------------------

    def is_va(self, t: int, name: str) -> bool:
        rid = self.thread_rid[t]
        return rid >= 0 and name in self.keys[rid]

    def handles(self, t: int, instr: Instr) -> bool:
        """Whether the translation model executes ``instr`` (a translated access, a
        fetch, TLB or I-cache maintenance, the spurious-fault check)."""
        op = instr.op
        if op in DATA_OPS:
            return self.is_va(t, instr.loc)
        return op in (_EXEC, _TLBI, _IC, _ATCHECK)

    def key(self, rid: int, instr: Instr) -> int:
        key = self.keys[rid].get(instr.loc)
        if key is None:
            raise ScenarioError(
                f"{instr}: {instr.loc!r} is not an input address of regime {self.regimes[rid].name!r}"
            )
        return key

    def s2_of_thread(self, t: int) -> int:
        rid = self.thread_rid[t]
        if rid >= 0 and self.regimes[rid].stage == 2:
            return rid
        if rid >= 0 and self.regimes[rid].s2:
            return self.rid[self.regimes[rid].s2]
        return -1

    def same_line_in(self, line: int, page: int) -> int:
        """The line at the same position of another page (a stage-2 output)."""
        lay = self.layout
        own = self.page_lines[self.page_index[lay.lines[line].page]]
        return self.page_lines[page][own.index(line)]

    # ---- state ---------------------------------------------------------------------------

    def init(self, state: State) -> State:
        """Empty TLBs, and I-caches holding what the scenario says they hold at start."""
        lay = self.layout
        n = lay.h.n_pes
        ics: list[ifetch.ICache] = [() for _ in range(n)]
        if self.icache != "none":
            for item in self.spec.icache_init:
                line = lay.line_of(item.line)
                tag = ifetch.tag_for(self.icache, item.colour, item.vmid)
                values = (item.value, *state.mem[line][1:])
                ics[item.pe] = ifetch.fill(ics[item.pe], tag, line, values)
        tlbs: list[tlb.Tlb] = [() for _ in range(n)]
        for entry in self.spec.tlb_init:
            rid = self._regime_of(f"tlb_holds on PE{entry.pe}", entry.regime)
            if entry.va not in self.keys[rid]:
                raise ScenarioError(
                    f"tlb_holds: {entry.va!r} is not an input address of regime {entry.regime!r}"
                )
            if not 0 <= entry.pe < n:
                raise ScenarioError(f"tlb_holds: no PE {entry.pe}")
            key = self.tlb_key[rid][self.keys[rid][entry.va]]
            tlbs[entry.pe] = tlb.fill(tlbs[entry.pe], self.leaf_tag(rid), key, entry.desc)
        return state._replace(tlbs=tuple(tlbs), icaches=tuple(ics))
