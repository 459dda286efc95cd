"""Instruction fetch: where a fetch reads, the I-cache, and ``IC`` maintenance.

The rules live in ``ifetch.py`` (I-cache types, tags, where a miss reads); this
module decides the fetch target of a thread's ``EXEC`` (translated through its
regime, or untranslated with the type stage 1 off gives: D8.2.12.1), and which
lines a PE may prefetch (D7.5.1 General behavior of caches: speculative
instruction fetch).
"""

from __future__ import annotations

from stalecheck.errors import ScenarioError
from stalecheck.machine import ifetch
from stalecheck.machine.access import Access
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.memtypes import combine_stages, stage1_fetch_type
from stalecheck.machine.regimes import Regimes
from stalecheck.machine.spec import Context, hcr_bit
from stalecheck.machine.state import (
    IC_ENTRY,
    IC_IALLU,
    IC_IALLUIS,
    IC_IVAU,
    SCTLR_I,
    SCTLR_M,
    Entry,
    IcEntry,
    State,
)
from stalecheck.machine.translation import desc_oa, desc_type, is_fault
from stalecheck.machine.walker import Walker

IC_OPS = {"IVAU": IC_IVAU, "IALLU": IC_IALLU, "IALLUIS": IC_IALLUIS}


class Fetch:
    """Instruction fetches of one variant."""

    def __init__(self, layout: Layout, regimes: Regimes, walker: Walker, access: Access) -> None:
        self.layout = layout
        self.regimes = regimes
        self.walker = walker
        self.access = access
        self.icache = regimes.icache
        self.idc = regimes.spec.idc

    def target(self, state: State, t: int, instr: Instr) -> tuple[int, int, bool] | None:
        """(line, tag, cacheable) of an untranslated fetch (host, or a guest with stage 1
        off); None when a guest's page is not mapped at stage 2 (it would trap)."""
        lay = self.layout
        spec = lay.threads[t]
        th = state.threads[t]
        line = lay.line_of(instr.loc)
        if spec.context != Context.GUEST or th.hyp:
            host = lay.host_types[line]
            tag = ifetch.tag_for(self.icache, self.regimes.spec.host_colour, 0)
            return line, tag, host is None or host.cacheable
        if self.access.guest_unmapped(state, t, line):
            return None
        vi = lay.vm_index[spec.vm]
        vm = lay.vms[vi]
        hcr = state.hcr[vi]
        s1 = stage1_fetch_type(
            vm.s1_type(lay.lines[line].name),
            bool(th.sctlr & SCTLR_M),
            bool(th.sctlr & SCTLR_I),
            bool(hcr & hcr_bit("DC")),
        )
        mt = combine_stages(
            s1,
            vm.s2_type(lay.lines[line].name),
            bool(hcr & hcr_bit("FWB")),
            vm.s2_force,
            bool(hcr & hcr_bit("ID")),
            fetch=True,
        )
        tag = ifetch.tag_for(self.icache, self.regimes.spec.guest_colour, vi + 1)
        return line, tag, mt.cacheable

    def fetch(self, state: State, pe: int, line: int, tag: int, cacheable: bool) -> tuple[State, int]:
        """One fetch: an icache hit, else a fill from where the type says (ifetch.py)."""
        lay = self.layout
        # D7.5.7: instruction accesses to Non-cacheable Normal memory can be held in
        # instruction caches, including when SCTLR/HCR controls force them Non-cacheable.
        use_ic = self.icache != "none"
        if use_ic:
            hit = ifetch.lookup(state.icaches[pe], tag, line)
            if hit is not None:
                return state, hit[0]
        self._refuse_quiet(pe, line, cacheable)
        values = ifetch.miss_value(state.copies, state.mem, lay.h, pe, line, lay.nl, self.idc, cacheable)
        if use_ic:
            ics = state.icaches
            new = ifetch.fill(ics[pe], tag, line, values)
            state = state._replace(icaches=(*ics[:pe], new, *ics[pe + 1 :]))
        return state, values[0]

    def fetch_any(self, state: State, t: int, instr: Instr) -> tuple[State, int] | None:
        """Fetch for EXEC: translated through the thread's regime, or untranslated."""
        th = state.threads[t]
        rg = self.regimes
        if rg.is_va(t, instr.loc):
            results = self.walker.access(state, t, instr)
            ok = [r for r in results if not is_fault(r)]
            if not ok:
                return None
            r = ok[0]
            line = rg.page_lines[desc_oa(r)][0]
            regime = rg.regimes[rg.thread_rid[t]]
            colour = regime.colour.get(instr.loc, 0)
            tag = ifetch.tag_for(self.icache, colour, regime.vmid)
            return self.fetch(state, th.pe, line, tag, desc_type(r).cacheable)
        target = self.target(state, t, instr)
        if target is None:
            return None
        line, tag, cacheable = target
        return self.fetch(state, th.pe, line, tag, cacheable)

    def early_fetch(self, state: State, t: int, pc: int, instr: Instr) -> tuple[State, int] | None:
        """A fetch of the instruction at ``pc`` made ahead of time (the thread's other
        fields unchanged)."""
        moved = state.threads[t]._replace(pc=pc)
        probe = state._replace(threads=(*state.threads[:t], moved, *state.threads[t + 1 :]))
        got = self.fetch_any(probe, t, instr)
        if got is None:
            return None
        new, value = got
        return new._replace(threads=state.threads), value

    def prefetch_candidates(self, state: State, pe: int) -> list[tuple[int, int, int]]:
        """Icache lines a PE may prefetch now, as (tag, line, cacheable): the fetch targets
        of the threads on it whose translation currently succeeds (D7.5.1 General behavior
        of caches: speculative instruction fetch), Non-cacheable ones included (D7.5.7)."""
        out: set[tuple[int, int, int]] = set()
        for t, th in enumerate(state.threads):
            if th.pe != pe or self.layout.finished(state, t) or th.hyp:
                continue
            for loc in self.regimes.fetches[t]:
                target = self._prefetch_target(state, t, loc)
                if target is None:
                    continue
                line, tag, cacheable = target
                if ifetch.lookup(state.icaches[pe], tag, line) is None:
                    out.add((tag, line, int(cacheable)))
        return sorted(out)

    def _prefetch_target(self, state: State, t: int, loc: str) -> tuple[int, int, bool] | None:
        instr = Instr(Op.EXEC, loc=loc)
        rg = self.regimes
        if not rg.is_va(t, loc):
            return self.target(state, t, instr)
        rid = rg.thread_rid[t]
        ok = [
            r
            for r in self.walker.full(state, state.threads[t].pe, rid, rg.keys[rid][loc], False, True)
            if r >= 0
        ]
        if not ok:
            return None
        regime = rg.regimes[rid]
        tag = ifetch.tag_for(self.icache, regime.colour.get(loc, 0), regime.vmid)
        return rg.page_lines[desc_oa(ok[0])][0], tag, desc_type(ok[0]).cacheable

    def prefetch(self, state: State, pe: int, tag: int, line: int, cacheable: bool) -> State:
        """The I-cache of ``pe`` allocates ``line`` speculatively (an ``IC_FILL`` step); a
        Non-cacheable fetch reads the PoC (ifetch.miss_value)."""
        lay = self.layout
        self._refuse_quiet(pe, line, cacheable)
        values = ifetch.miss_value(state.copies, state.mem, lay.h, pe, line, lay.nl, self.idc, cacheable)
        ics = state.icaches
        return state._replace(icaches=(*ics[:pe], ifetch.fill(ics[pe], tag, line, values), *ics[pe + 1 :]))

    def _refuse_quiet(self, pe: int, line: int, cacheable: bool) -> None:
        """A fetch that may read past L1 (ifetch.miss_value) sees write-backs: refused on a
        quiet line (reduction.py), which the static pass makes loud when it sees the fetch."""
        if not cacheable or not (self.idc or self.layout.h.pou_depth == 0):
            self.access.refuse_quiet(line, f"an instruction fetch of PE{pe}", "past L1")

    def ic_entry(self, state: State, t: int, instr: Instr, ident: int) -> Entry:
        """The buffer entry of an ``IC`` instruction: for ``IVAU`` the line and tag its VA
        reaches."""
        op = IC_OPS[instr.kind]
        if op != IC_IVAU:
            return IcEntry(IC_ENTRY, op, -1, -1, ident)
        if not instr.loc:
            raise ScenarioError(f"{instr}: IC IVAU needs an address")
        rg = self.regimes
        if rg.is_va(t, instr.loc):
            results = [
                r for r in self.walker.access(state, t, Instr(Op.EXEC, loc=instr.loc)) if not is_fault(r)
            ]
            regime = rg.regimes[rg.thread_rid[t]]
            tag = ifetch.tag_for(self.icache, regime.colour.get(instr.loc, 0), regime.vmid)
            line = rg.page_lines[desc_oa(results[0])][0] if results else -1
            return IcEntry(IC_ENTRY, op, line, tag, ident)
        target = self.target(state, t, Instr(Op.EXEC, loc=instr.loc))
        line, tag = (target[0], target[1]) if target else (-1, -1)
        return IcEntry(IC_ENTRY, op, line, tag, ident)

    def complete_ic(self, state: State, pe: int, entry: Entry) -> State:
        """An ``IC`` takes effect: ``IALLU`` on its own PE, the others on every PE."""
        _, op, line, tag, _ = entry
        ics = list(state.icaches)
        for p in range(self.layout.h.n_pes):
            if op == IC_IALLU and p != pe:
                continue
            if op == IC_IVAU:  # by VA to the PoU: broadcast in the Inner Shareable domain
                if line >= 0:
                    ics[p] = ifetch.invalidate_va(ics[p], self.icache, tag, line)
            else:
                ics[p] = ()
        return state._replace(icaches=tuple(ics))
