"""Witness lines of the translation and instruction-fetch model's steps (``mmu.py``).

Same contract as ``describe.py``: who did what, with the TLB or I-cache contents
after the step, and for a walk the table entries it read with every copy of
their lines (a walk never sees the PE's buffered stores).
"""

from __future__ import annotations

from stalecheck.machine import ifetch
from stalecheck.machine.isa import Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.mmu import Mmu
from stalecheck.machine.state import IC_ENTRY, IC_IALLU, IC_IVAU, STORE, TLBI_ENTRY, State
from stalecheck.machine.steps import COMPLETE, EXEC, IC_DROP, IC_FILL, TLB_DROP, TLB_FILL, XLATE, Step
from stalecheck.machine.text import actor_name, snapshot
from stalecheck.machine.translation import (
    RO,
    TABLE,
    VALID,
    XN,
    desc_oa,
    desc_type,
    describe_esr,
    describe_fault,
    is_fault,
)


class MmuText:
    """Words for one variant's translation steps."""

    def __init__(self, layout: Layout, mmu: Mmu) -> None:
        self.layout = layout
        self.mmu = mmu
        self.regimes = mmu.regimes
        self.icache = mmu.icache

    def result_text(self, result: int) -> str:
        if is_fault(result):
            return describe_fault(result)
        page = self.layout.pages[desc_oa(result)]
        extra = (", read-only" if result & RO else "") + (", XN" if result & XN else "")
        return f"-> {page} ({desc_type(result)}{extra})"

    def entry_text(self, rid: int, key: int, result: int) -> str:
        rg = self.regimes
        return f"{rg.regimes[rid].name}:{rg.key_names[rid][key]} {self.result_text(result)}"

    def tlb_text(self, state: State, pe: int) -> str:
        entries = ", ".join(self.entry_text(*e) for e in state.tlbs[pe]) or "empty"
        return f"[TLB.PE{pe}: {entries}]"

    def tag_text(self, tag: int) -> str:
        """What an I-cache tag means for the cache type (ifetch.tag_for)."""
        if self.icache == ifetch.VIPT:
            return f"alias {tag}"
        if self.icache == ifetch.VIVT:
            return f"VMID {tag // 2} alias {tag % 2}"
        return "PA"

    def ic_text(self, state: State, pe: int) -> str:
        parts = [
            f"{self.layout.lines[line].name}({self.tag_text(tag)})={values[0]}"
            for tag, line, values in state.icaches[pe]
        ]
        return f"[I-cache.PE{pe} {self.icache}: {', '.join(parts) or 'empty'}]"

    def describe(self, before: State, step: Step, after: State) -> str | None:
        """Witness lines for this model's steps and instructions (None: not ours)."""
        m = self.layout
        kind = step[0]
        if kind == XLATE:
            _, t, pc, _ = step
            instr = m.code[m.programs[t][pc]]
            result = next(r for p, r in after.threads[t].early if p == pc)
            who = actor_name(m, before, t)
            if instr.op == Op.EXEC:
                return (
                    f"{who}: fetches ahead for {instr} (no context synchronisation since): "
                    f"gets {instr.loc}={result} {self.ic_text(after, before.threads[t].pe)}"
                )
            rid = self.regimes.thread_rid[t]
            key = self.regimes.keys[rid][instr.loc]
            table = self._table_snapshot(before, before.threads[t].pe, rid, key)
            return (
                f"{who}: the walker translates {instr} ahead of time (any time after the last "
                f"context synchronisation event): {self.result_text(result)}; it reads {table} "
                "(a walk never sees the PE's buffered stores)"
            )
        if kind == TLB_FILL:
            _, pe, rid, key, result = step
            entry = self.entry_text(rid, key, result)
            return f"hardware: PE{pe}'s walker caches {entry} {self.tlb_text(after, pe)}"
        if kind == TLB_DROP:
            _, pe, index = step
            return f"hardware: PE{pe}'s TLB drops {self.entry_text(*before.tlbs[pe][index])}"
        if kind == IC_FILL:
            _, pe, tag, line = step
            return (
                f"hardware: PE{pe} prefetches {m.lines[line].name} into its I-cache from "
                f"{'the coherent data side (IDC=1)' if self.mmu.spec.idc else 'the PoU (below L1D)'} "
                f"{self.ic_text(after, pe)} {snapshot(m, after, line)}"
            )
        if kind == IC_DROP:
            _, pe, index = step
            tag, line, _ = before.icaches[pe][index]
            return f"hardware: PE{pe}'s I-cache drops {m.lines[line].name}@{tag}"
        if kind == COMPLETE:
            return self._describe_complete(before, step, after)
        if kind != EXEC:
            return None
        return self._describe_exec(before, step[1], after)

    def _describe_complete(self, before: State, step: Step, after: State) -> str | None:
        m = self.layout
        entry = before.bufs[step[1]][step[2]]
        pe = step[1]
        if entry[0] == TLBI_ENTRY:
            scope = "every PE" if entry[1] else f"PE{pe} only"
            return f"PE{pe} buffer: {m.code[entry[-1]]} completes on {scope} " + " ".join(
                self.tlb_text(after, p) for p in range(m.h.n_pes)
            )
        if entry[0] == IC_ENTRY:
            if entry[1] == IC_IVAU:
                where = self.tag_text(entry[3])
                reach = f"invalidates {m.lines[entry[2]].name} only where its VA reaches ({where})"
            elif entry[1] == IC_IALLU:
                reach = f"invalidates all of PE{pe}'s I-cache"
            else:
                reach = "invalidates every PE's I-cache"
            return f"PE{pe} buffer: {m.code[entry[-1]]} completes: {reach} " + " ".join(
                self.ic_text(after, p) for p in range(m.h.n_pes)
            )
        return None

    def _describe_exec(self, before: State, t: int, after: State) -> str | None:
        m = self.layout
        instr = m.current(before, t)
        if instr is None or not self.mmu.handles(t, instr):
            return None
        who = actor_name(m, before, t)
        bt, at = before.threads[t], after.threads[t]
        if not bt.hyp and self.mmu.traps.trap(before, t, instr) is not None:
            return None  # a trap to EL2: describe.py says which and what the policy runs
        if at.fault and not bt.fault:
            used = (
                "a translation made ahead of time" if any(p == bt.pc for p, _ in bt.early) else "a walk now"
            )
            return (
                f"{who}: {instr} aborts, ESR=0x{at.fault:08X} ({describe_esr(at.fault)}), "
                f"using {used}: fatal "
                f"{self.tlb_text(before, bt.pe)}"
            )
        if instr.op == Op.ATCHECK:
            return f"{who}: {instr}: the walk now succeeds, ERET (context synchronisation) retries"
        if at.hyp and not bt.hyp and m.code[at.hyp[0]].op != Op.ATCHECK:
            code = "; ".join(str(m.code[i]) for i in at.hyp)
            return f"{who}: {instr} takes a stage-2 fault to EL2 (exception entry); policy runs: {code}"
        if at.hyp and not bt.hyp:
            return (
                f"{who}: {instr} takes a translation fault; exception entry (context synchronisation), "
                f"the handler checks whether it is spurious"
            )
        if instr.op == Op.LDR:
            value = at.regs[m.reg_index(t, instr.reg)]
            return f"{who}: {instr} reads {value} through {instr.loc} {self.tlb_text(before, bt.pe)}"
        if instr.op == Op.EXEC:
            value = at.regs[m.reg_index(t, instr.reg)]
            early = any(p == bt.pc for p, _ in bt.early) and not bt.hyp
            how = "the instruction fetched ahead of time" if early else "a fetch now"
            return f"{who}: {instr} executes code version {value} ({how}) {self.ic_text(after, bt.pe)}"
        if instr.op in (Op.TLBI, Op.IC):
            return (
                f"{who}: {instr} enters PE{bt.pe}'s buffer "
                "(ordered with nothing; completes at the latest at a DSB)"
            )
        if instr.op == Op.STR:
            return f"{who}: {instr} enters PE{bt.pe}'s buffer (translated through {instr.loc})"
        return None

    def desc_text(self, desc: int, last: bool) -> str:
        """A descriptor in words: invalid, a table pointer or a page mapping."""
        if not desc & VALID:
            return "invalid"
        if not last and desc & TABLE:
            return f"table->{self.layout.lines[desc_oa(desc)].name}"
        if desc_oa(desc) >= len(self.layout.pages):
            return f"descriptor {desc}"
        return f"page->{self.result_text(desc)[3:]}"

    def _table_snapshot(self, state: State, pe: int, rid: int, key: int) -> str:
        """The entries a walk of ``key`` reads, decoded, with every copy of their lines,
        and the stores still buffered (which the walker cannot see)."""
        m = self.layout
        rg = self.regimes
        regime = rg.regimes[rid]
        parts: list[str] = []
        table = m.line_index[regime.root]
        for pos, index in enumerate(regime.vas[rg.key_names[rid][key]]):
            if table >= m.nl or regime.s2:
                break
            last = pos == len(regime.levels) - 1
            values = self.mmu.walker.walker_values(state, pe, regime.walk, table, index)
            name = m.lines[table].locations[index]
            seen = " or ".join(self.desc_text(v, last) for v in values)
            parts.append(f"{name}={seen} {snapshot(m, state, table)}")
            desc = values[0]
            if last or not desc & VALID or not desc & TABLE:
                break
            table = desc_oa(desc)
        for pe, buf in enumerate(state.bufs):
            for entry in buf:
                if entry[0] == STORE:
                    line, offset, value = entry[1], entry[2], entry[3]
                    loc = m.lines[line].locations[offset]
                    parts.append(f"[PE{pe} buffer: {loc}={self.desc_text(value, True)}]")
        return "; ".join(parts)
