"""Witness records of the translation and instruction-fetch model's steps (``mmu.py``).

Same contract as ``describe.py``: who did what, with the TLB or I-cache contents
after the step (``Effect.views``), and for a walk the table entries it read with
every copy of their lines (a walk never sees the PE's buffered stores).
"""

from __future__ import annotations

from stalecheck.machine import ifetch, tlb
from stalecheck.machine.layout import Layout
from stalecheck.machine.mmu import Mmu
from stalecheck.machine.state import IC_ENTRY, IC_IALLU, IC_IVAU, STORE, TLBI_ENTRY, State
from stalecheck.machine.step_record import Action, ActorKind, Effect, StepRecord
from stalecheck.machine.steps import COMPLETE, EXEC, IC_DROP, IC_FILL, TLB_DROP, TLB_FILL, XLATE, Step
from stalecheck.machine.text import Where, buffer_actor, hardware, record, snapshot, thread_actor
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

    def entry_text(self, tag: int, key: int, result: int) -> str:
        """One TLB entry: a leaf, a combined stage 1+2 leaf, or a walk-cache table entry (tlb.py)."""
        rg = self.regimes
        rid, kind = tlb.untag(tag, rg.n)
        name = rg.regimes[rid].name
        if rg.tlb_rid.count(rid) > 1:  # regimes sharing a VMID and ASID share entries
            name = f"VMID {rg.regimes[rid].vmid} ASID {rg.regimes[rid].asid}"
        if kind == tlb.LEAF:
            return f"{name}:{rg.group_names[rid][key]} {self.result_text(result)}"
        if kind == tlb.COMBINED:
            return f"{name}:{rg.group_names[rid][key]} (stage 1+2) {self.result_text(result)}"
        level = rg.regimes[rid].levels[tlb.table_position(kind)]
        table = self.layout.lines[desc_oa(result)].name
        both = " (stage 1+2, PA)" if kind >= tlb.COMBINED_TABLE else ""
        return f"{name}:{rg.prefix_names[rid][key]} level-{level} table entry{both} -> {table}"

    def entry_input(self, tag: int, key: int) -> str:
        """The input an entry is for: a VA or IPA name, or the names sharing a walk-cache prefix."""
        rid, kind = tlb.untag(tag, self.regimes.n)
        return (self.regimes.prefix_names if kind >= tlb.TABLE else self.regimes.group_names)[rid][key]

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

    def describe(self, before: State, step: Step, after: State) -> StepRecord | None:
        """Witness records for this model's steps and instructions (None: not ours)."""
        m = self.layout
        kind = step[0]
        if kind == XLATE:
            _, t, pc, _ = step
            instr = m.code[m.programs[t][pc]]
            result = next(r for p, r in after.threads[t].early if p == pc)
            actor = thread_actor(m, before, t, ActorKind.WALKER)
            actor = actor._replace(name=f"PE{actor.pe} walker")
            common: Where = {"instruction": str(instr), "target": instr.loc}
            if instr.op == "EXEC" and not is_fault(result):  # a faulting fetch walk reads as a walk
                text = (
                    f"fetches ahead for {instr} (no context synchronisation since): gets {instr.loc}={result}"
                )
                effect = Effect(text, value=result, views=(self.ic_text(after, before.threads[t].pe),))
                return record(m, before, after, actor, Action.FETCH_AHEAD, effect, **common)
            rid = self.regimes.thread_rid[t]
            key = self.regimes.keys[rid][instr.loc]
            table, walked = self._table_snapshot(before, before.threads[t].pe, rid, key)
            text = (
                f"the walker translates {instr} ahead of time (any time after the last "
                f"context synchronisation event): {self.result_text(result)}; it reads {table} "
                "(a walk never sees the PE's buffered stores)"
            )
            effect = Effect(text, fault=describe_fault(result) if is_fault(result) else "")
            return record(m, before, after, actor, Action.TRANSLATE_AHEAD, effect, lines=walked, **common)
        if kind == TLB_FILL:
            _, pe, rid, key, result = step
            entry = self.entry_text(rid, key, result)
            effect = Effect(f"PE{pe}'s walker caches {entry}", views=(self.tlb_text(after, pe),))
            actor = hardware(ActorKind.TLB, f"PE{pe} TLB", pe)
            target = self.entry_input(rid, key)
            return record(m, before, after, actor, Action.TLB_FILL, effect, target=target)
        if kind == TLB_DROP:
            _, pe, index = step
            rid, key, _ = before.tlbs[pe][index]
            effect = Effect(f"PE{pe}'s TLB drops {self.entry_text(*before.tlbs[pe][index])}")
            actor = hardware(ActorKind.TLB, f"PE{pe} TLB", pe)
            target = self.entry_input(rid, key)
            return record(m, before, after, actor, Action.TLB_DROP, effect, target=target)
        if kind == IC_FILL:
            _, pe, tag, line, cacheable = step
            if not cacheable:
                source = "the PoC (Non-cacheable fetch, D7.5.7)"
            elif self.mmu.spec.idc:
                source = "the coherent data side (IDC=1)"
            else:
                source = "the PoU (below L1D)"
            text = f"PE{pe} prefetches {m.lines[line].name} into its I-cache from {source}"
            effect = Effect(text, views=(self.ic_text(after, pe),))
            actor = hardware(ActorKind.ICACHE, f"PE{pe} I-cache", pe)
            name = m.lines[line].name
            return record(
                m, before, after, actor, Action.IC_FILL, effect, target=name, lines=(line,), shows_copies=True
            )
        if kind == IC_DROP:
            _, pe, index = step
            tag, line, _ = before.icaches[pe][index]
            effect = Effect(f"PE{pe}'s I-cache drops {m.lines[line].name}@{tag}")
            actor = hardware(ActorKind.ICACHE, f"PE{pe} I-cache", pe)
            return record(m, before, after, actor, Action.IC_DROP, effect, target=m.lines[line].name)
        if kind == COMPLETE:
            return self._describe_complete(before, step, after)
        if kind != EXEC:
            return None
        return self._describe_exec(before, step[1], after)

    def _describe_complete(self, before: State, step: Step, after: State) -> StepRecord | None:
        m = self.layout
        entry = before.bufs[step[1]][step[2]]
        pe = step[1]
        instr = m.code[entry[-1]]
        common: Where = {"instruction": str(instr), "target": instr.loc}
        if entry[0] == TLBI_ENTRY:
            scope = "every PE" if entry[1] else f"PE{pe} only"
            views = tuple(self.tlb_text(after, p) for p in range(m.h.n_pes))
            effect = Effect(f"{instr} completes on {scope}", views=views)
            return record(m, before, after, buffer_actor(pe), Action.COMPLETE, effect, **common)
        if entry[0] == IC_ENTRY:
            if entry[1] == IC_IVAU:
                where = self.tag_text(entry[3])
                reach = f"invalidates {m.lines[entry[2]].name} only where its VA reaches ({where})"
            elif entry[1] == IC_IALLU:
                reach = f"invalidates all of PE{pe}'s I-cache"
            else:
                reach = "invalidates every PE's I-cache"
            views = tuple(self.ic_text(after, p) for p in range(m.h.n_pes))
            effect = Effect(f"{instr} completes: {reach}", views=views)
            return record(m, before, after, buffer_actor(pe), Action.COMPLETE, effect, **common)
        return None

    def _describe_exec(self, before: State, t: int, after: State) -> StepRecord | None:
        m = self.layout
        instr = m.current(before, t)
        if instr is None or not self.mmu.handles(t, instr):
            return None
        actor = thread_actor(m, before, t)
        bt, at = before.threads[t], after.threads[t]
        if not bt.hyp and self.mmu.traps.trap(before, t, instr) is not None:
            return None  # a trap to EL2: describe.py says which and what the policy runs
        common: Where = {"instruction": str(instr), "target": instr.loc}
        op = instr.op
        if at.fault and not bt.fault:
            used = (
                "a translation made ahead of time" if any(p == bt.pc for p, _ in bt.early) else "a walk now"
            )
            fault = f"ESR=0x{at.fault:08X} ({describe_esr(at.fault)})"
            effect = Effect(
                f"{instr} aborts, {fault}, using {used}: fatal",
                fault=fault,
                views=(self.tlb_text(before, bt.pe),),
            )
            return record(m, before, after, actor, op, effect, **common)
        if op == "ATCHECK":
            text = f"{instr}: the walk now succeeds, ERET (context synchronisation) retries"
            return record(m, before, after, actor, op, Effect(text), **common)
        if at.hyp and not bt.hyp and m.code[at.hyp[0]].op != "ATCHECK":
            policy = tuple(str(m.code[i]) for i in at.hyp)
            reason = "stage-2 fault"
            text = f"{instr} takes a {reason} to EL2 (exception entry); policy runs: {'; '.join(policy)}"
            return record(m, before, after, actor, op, Effect(text, trap=reason, policy=policy), **common)
        if at.hyp and not bt.hyp:
            text = (
                f"{instr} takes a translation fault; exception entry (context synchronisation), "
                "the handler checks whether it is spurious"
            )
            return record(m, before, after, actor, op, Effect(text, trap="translation fault"), **common)
        if op == "LDR":
            value = at.regs[m.reg_index(t, instr.reg)]
            text = f"{instr} reads {value} through {instr.loc}"
            effect = Effect(text, value=value, views=(self.tlb_text(before, bt.pe),))
            return record(m, before, after, actor, op, effect, **common)
        if op == "EXEC":
            value = at.regs[m.reg_index(t, instr.reg)]
            early = any(p == bt.pc for p, _ in bt.early) and not bt.hyp
            how = "the instruction fetched ahead of time" if early else "a fetch now"
            text = f"{instr} executes code version {value} ({how})"
            effect = Effect(text, value=value, views=(self.ic_text(after, bt.pe),))
            return record(m, before, after, actor, op, effect, **common)
        if op in ("TLBI", "IC"):
            text = (
                f"{instr} enters PE{bt.pe}'s buffer (ordered with nothing; completes at the latest at a DSB)"
            )
            return record(m, before, after, actor, op, Effect(text), **common)
        if op == "STR":
            text = f"{instr} enters PE{bt.pe}'s buffer (translated through {instr.loc})"
            return record(m, before, after, actor, op, Effect(text), **common)
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

    def _table_snapshot(self, state: State, pe: int, rid: int, key: int) -> tuple[str, tuple[int, ...]]:
        """The entries a walk of ``key`` reads, decoded, with every copy of their lines,
        and the stores still buffered (which the walker cannot see); and those lines."""
        m = self.layout
        rg = self.regimes
        regime = rg.regimes[rid]
        parts: list[str] = []
        walked: list[int] = []
        table = m.line_index[regime.root]
        for pos, index in enumerate(regime.vas[rg.key_names[rid][key]]):
            if table >= m.nl or regime.s2:
                break
            last = pos == len(regime.levels) - 1
            values = self.mmu.walker.walker_values(state, pe, regime.walk, table, index)
            name = m.lines[table].locations[index]
            seen = " or ".join(self.desc_text(v, last) for v in values)
            parts.append(f"{name}={seen} {snapshot(m, state, table)}")
            walked.append(table)
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
        return "; ".join(parts), tuple(walked)
