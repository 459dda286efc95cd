"""The translation and instruction-fetch model wired into the machine engine.

The rules live in ``translation.py`` (descriptors, walk, syndromes), ``tlb.py``
(what a TLB holds, what a TLBI removes) and ``ifetch.py`` (icache types, where a
fetch reads); ``walker.py`` translates one access and ``fetch.py`` fetches one
instruction.  This module decides which of them applies to which step:

- a thread bound to a regime accesses VA names through it: TLB hit, else a walk
  through the walker's view of memory (never the PE's store buffer);
- ``early``: a PE may translate (or fetch) an upcoming instruction at any time
  after its last context synchronisation event (D8.2 and B2.7.4.2 "translation table
  walks may be performed speculatively", seed 003), and uses that result when the
  instruction executes; ``ISB``, exception entry and ERET discard it;
- an early walk may fault, for a data access or an instruction fetch alike (the
  fault is taken if the instruction executes); with FEAT_ETS2 a walk that would
  fault is not made before the accesses it is ordered after (``ets.py``);
- hardware steps: TLB fill (a non-faulting walk only) and drop, icache fill
  (speculative prefetch from an executable mapping) and drop;
- ``TLBI`` and ``IC`` enter the PE's buffer, complete asynchronously, and only a
  full ``DSB`` waits for them (buffer.py orders them with nothing else).
"""

from __future__ import annotations

from collections.abc import Callable

from stalecheck.errors import ScenarioError
from stalecheck.machine import buffer, ets, ifetch, tlb
from stalecheck.machine.access import Access
from stalecheck.machine.dead_tlb import DeadTlb
from stalecheck.machine.fetch import Fetch
from stalecheck.machine.isa import RELEASE, Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.regimes import DATA_OPS, Regimes
from stalecheck.machine.spec import Context, TrapKind
from stalecheck.machine.state import (
    STORE,
    STORE_RELEASE,
    TLBI_ENTRY,
    Entry,
    State,
    StoreEntry,
    Thread,
    TlbiEntry,
    with_entry,
    with_thread,
)
from stalecheck.machine.steps import IC_DROP, IC_FILL, TLB_DROP, TLB_FILL, XLATE, Step
from stalecheck.machine.sysregs import synchronise
from stalecheck.machine.translation import (
    VALID,
    XlateSpec,
    desc_oa,
    desc_type,
    esr,
    fault,
    fault_ipa,
    fault_stage2,
    is_fault,
)
from stalecheck.machine.traps import ACCESS_KIND, Traps
from stalecheck.machine.walker import Walker

_TLBS = State._fields.index("tlbs")
_TLB_STEPS = (TLB_FILL, TLB_DROP)
TLB_STEPS_LIMIT = 1 << 16  # entries of the memo of TLB fills and drops before it starts afresh


class Mmu:
    """Translated accesses, fetches, TLB and I-cache maintenance, and their hardware steps."""

    def __init__(self, layout: Layout, regimes: Regimes, access: Access, traps: Traps) -> None:
        self.layout = layout
        self.regimes = regimes
        self.spec = regimes.spec
        self.access = access
        self.traps = traps
        self.walker = Walker(layout, regimes, access)
        self._tlb_steps: dict[tuple[tlb.Tlb, Step], tlb.Tlb] = {}  # (a PE's TLB, step) -> its TLB after
        self.fetcher = Fetch(layout, regimes, self.walker, access)
        self.icache = regimes.icache
        self.dead_tlb: DeadTlb | None = None  # set by the machine with prune_dead_tlb (dead_tlb.py)

    def handles(self, t: int, instr: Instr) -> bool:
        return self.regimes.handles(t, instr)

    def init(self, state: State) -> State:
        return self.regimes.init(state)

    # ---- steps of the program ------------------------------------------------------------------

    def choices(self, state: State, t: int, instr: Instr) -> int:
        op = instr.op
        if op in DATA_OPS or op == "ATCHECK":
            if op == "LDR" and buffer.loads_blocked(state.bufs[state.threads[t].pe]):
                return 0
            return len(self.data_outcomes(state, t, instr))
        return 1

    def data_outcomes(self, state: State, t: int, instr: Instr, index: int = -1) -> list[tuple[int, int]]:
        """(translation result, value) pairs a translated data access may produce; the
        access at program index ``index`` (-1: the thread's current instruction), which
        out-of-order execution (execute.py) may run before older ones."""
        rg = self.regimes
        if instr.op == "ATCHECK":
            rid = rg.thread_rid[t]
            th = state.threads[t]
            return [
                (r, 0) for r in self.walker.full(state, th.pe, rid, rg.keys[rid][instr.loc], False, False)
            ]
        out: list[tuple[int, int]] = []
        th = state.threads[t]
        at = th.pc if index < 0 else index
        made = [result for pc, result in th.early if pc == at and not th.hyp]
        if made:  # the translation made ahead of time (XLATE)
            results: tuple[int, ...] = (made[0],)
        else:  # a walk now
            results = self._ets2_results(state, t, at, self.walker.access_at(state, t, instr), fetch=False)
        for r in results:
            if is_fault(r) or instr.op == "STR":
                out.append((r, 0))
                continue
            line = rg.page_lines[desc_oa(r)][0]
            for v in self.access.values_at(state, t, line, 0, self.access.typed(t, line, desc_type(r))):
                out.append((r, v))
        return out

    def execute(
        self,
        state: State,
        t: int,
        th: Thread,
        instr: Instr,
        choice: int,
        index: int = -1,
        outcomes: list[tuple[int, int]] | None = None,
        stored: int | None = None,
        enter: Callable[[State, int, Entry], State] = with_entry,
        keep: bool = False,
    ) -> tuple[State, Thread]:
        """Execute a translated access, fetch, TLBI or IC.  Out-of-order execution
        (execute.py) passes the program ``index`` of an instruction executed ahead of the
        oldest, the ``outcomes`` it may take there, the value a store writes (``stored``,
        computed from registers), how an entry enters the buffer (``enter``) and whether a
        load keeps its translation in ``Thread.early`` once executed (``keep``: an earlier
        load's read-read coherence check needs its physical location, execute.py)."""
        lay = self.layout
        op = instr.op
        pe = th.pe
        if op in DATA_OPS or op == "ATCHECK":
            at = th.pc if index < 0 else index
            if outcomes is None:
                outcomes = self.data_outcomes(state, t, instr)
            result, value = outcomes[choice]
            th = th._replace(early=tuple(e for e in th.early if e[0] != at))
            if is_fault(result):
                trapped = self._stage2_trap(state, t, th, instr, result)
                if trapped is not None:
                    return state, trapped
                return state, self._abort(t, th, instr, result)
            if op == "LDR":
                r = lay.regs[t][instr.reg]
                if keep:
                    th = th._replace(early=tuple(sorted((*th.early, (at, result)))))
                return state, th._replace(regs=(*th.regs[:r], value, *th.regs[r + 1 :]))
            if op == "STR":
                line = self.regimes.page_lines[desc_oa(result)][0]
                mt = self.access.typed(t, line, desc_type(result))
                if stored is not None:
                    val = stored
                else:
                    val = th.regs[lay.regs[t][instr.reg]] if instr.reg else instr.value
                # B2.3.7: a release propagates after every earlier store (buffer.py), as
                # an untranslated STLR does (execute.py)
                flags = int(mt.write_through) | (STORE_RELEASE if instr.kind == RELEASE else 0)
                entry = StoreEntry(STORE, line, 0, val, mt.path, flags, mt.cacheability_key, lay.ids[instr])
                return enter(state, pe, entry), th
            return state, th  # ATCHECK: the walk now succeeds, ERET retries the access
        if op == "EXEC":
            at = th.pc if index < 0 else index
            early = [v for pc, v in th.early if pc == at and not th.hyp]
            th = th._replace(early=tuple(e for e in th.early if e[0] != at))
            if not early and at != th.pc:  # executed out of order: a fetch now (fetch_ready)
                got = self.fetcher.early_fetch(state, t, at, instr)
                assert got is not None
                state, value = got
                r = lay.regs[t][instr.reg]
                return state, th._replace(regs=(*th.regs[:r], value, *th.regs[r + 1 :]))
            if early and early[0] < 0:  # the fetch made ahead faulted (item 7): taken now
                trapped = self._stage2_trap(state, t, th, instr, early[0])  # a stage-2 fault goes to EL2
                return state, trapped if trapped is not None else self._abort(t, th, instr, early[0])
            if early:
                value = early[0]
            else:
                got = self.fetcher.fetch_any(state, t, instr)
                if got is None:
                    rid = self.regimes.thread_rid[t]
                    results = self.walker.access(state, t, instr)
                    return state, self._abort(t, th, instr, results[0] if rid >= 0 else fault(4))
                state, value = got
            r = lay.regs[t][instr.reg]
            return state, th._replace(regs=(*th.regs[:r], value, *th.regs[r + 1 :]))
        if op == "TLBI":
            return enter(state, pe, self._tlbi_entry(t, instr)), th
        if op == "IC":
            return enter(state, pe, self.fetcher.ic_entry(state, t, instr, lay.ids[instr])), th
        raise AssertionError(op)

    def fetch_ready(self, state: State, t: int, index: int, instr: Instr) -> bool:
        """Whether the EXEC at ``index`` may execute out of order now: with the fetch made
        ahead if there is one, else a fetch now; never one that faults (only the oldest
        instruction takes an exception)."""
        th = state.threads[t]
        for pc, value in th.early:
            if pc == index:
                return value >= 0
        return self.fetcher.early_fetch(state, t, index, instr) is not None

    def _stage2_trap(self, state: State, t: int, th: Thread, instr: Instr, result: int) -> Thread | None:
        """A stage-2 fault of a guest access (or of its stage-1 walk) goes to EL2: the
        VM's stage-2 fault policy runs, then ERET retries the access (D8.3, seed 004).
        Without a policy the fault is fatal, reported with its ESR."""
        lay = self.layout
        spec = lay.threads[t]
        if not fault_stage2(result) or spec.context != Context.GUEST or th.hyp:
            return None
        vm = lay.vms[lay.vm_index[spec.vm]]
        ipa = fault_ipa(result)
        if vm.on_stage2_fault is None or ipa < 0:
            return None
        access = ACCESS_KIND.get(instr.op, "read")
        trap = self.traps.context(TrapKind.STAGE2_FAULT, state, t, instr, page=lay.pages[ipa], access=access)
        emitted = self.traps.policy_code(trap)
        if not emitted:
            return None  # a policy that does nothing would retry forever: report the fault
        th = synchronise(th)  # exception entry: a context synchronisation event
        # Exceptions are precise: what executed out of order after the faulting access
        # (plain loads only, execute.Execute._passes) is undone and runs again after ERET.
        return th._replace(hyp=emitted, retry=1, ahead=0)

    def _abort(self, t: int, th: Thread, instr: Instr, result: int) -> Thread:
        """A fault the program takes: fatal, or (``on_fault="retry"``) an exception whose
        handler re-walks and retries when the walk now succeeds (Linux's
        is_spurious_el1_translation_fault()); exception entry is a context
        synchronisation event (D24.1.2.2 and B2.6.1: exception entry is a context synchronization event)."""
        lay = self.layout
        # A stage-1 fault is taken to the faulting EL; a stage-2 fault to EL2 (lower-EL class).
        syndrome = esr(result, instr.op == "EXEC", instr.op == "STR", not fault_stage2(result))
        if self.spec.on_fault.get(lay.threads[t].name, "fatal") == "retry" and instr.op != "ATCHECK":
            check = lay.intern(Instr(Op.ATCHECK, loc=instr.loc))
            th = synchronise(th)
            # Precise: plain loads executed out of order after it run again (execute.py).
            return th._replace(hyp=(check, *th.hyp), retry=1, ahead=0)
        return th._replace(fault=syndrome, pc=len(lay.programs[t]), hyp=th.hyp[:1], early=(), ahead=0)

    def _tlbi_entry(self, t: int, instr: Instr) -> Entry:
        rg = self.regimes
        op = tlb.tlbi_op(instr.kind)
        rid = rg.thread_rid[t]
        mask = 0
        key = -1
        name = self.layout.threads[t].name
        if op.all_regimes:
            mask = (1 << len(rg.regimes)) - 1
        elif op.stage2:
            s2 = rg.s2_of_thread(t)
            if s2 < 0:
                raise ScenarioError(f"TLBI {instr.kind} by thread {name!r}: no stage-2 regime")
            mask = 1 << s2
            if op.by_input:
                key = rg.key(s2, instr)
            elif rid >= 0:
                mask |= 1 << rid  # VMALLS12E1: both stages of the VM
        else:
            if rid < 0:
                raise ScenarioError(f"TLBI {instr.kind} by thread {name!r}: no regime")
            mask = 1 << rid
            if op.by_input:
                key = rg.key(rid, instr)
        return TlbiEntry(TLBI_ENTRY, int(op.broadcast), mask, key, int(op.last_level), self.layout.ids[instr])

    def complete(self, state: State, pe: int, entry: Entry) -> State:
        """A TLBI or IC takes effect (on every PE when broadcast)."""
        if entry[0] == TLBI_ENTRY:
            _, broadcast, mask, key, last_level, _ = entry
            rg = self.regimes
            # TLB entries are tagged by group (regimes sharing a VMID and ASID: regimes.py)
            regimes = frozenset(rg.tlb_rid[i] for i in range(rg.n) if mask >> i & 1)
            # by input, the mask names the one regime whose input ``key`` is
            owner = mask.bit_length() - 1
            prefixes = rg.prefixes[owner][key] if key >= 0 else ()
            key = rg.tlb_key[owner][key] if key >= 0 else -1
            tlbs = tuple(
                tlb.invalidate(x, rg.n, regimes, key, bool(last_level), prefixes)
                if (broadcast or p == pe)
                else x
                for p, x in enumerate(state.tlbs)
            )
            state = state._replace(tlbs=tlbs)
            if broadcast:
                state = self._forget_remote_translations(state, pe, regimes, key)
            return state
        return self.fetcher.complete_ic(state, pe, entry)

    def _forget_remote_translations(self, state: State, pe: int, regimes: frozenset[int], key: int) -> State:
        """D8.17 (R_LXHLD): once a TLB maintenance instruction is complete, "no new memory
        accesses using the in-scope old translation information are architecturally
        performed by any observer that is affected" -- so a data translation another PE made
        ahead of time (``early``) for an access it has not performed yet is discarded and
        will be redone.  The issuing PE keeps its own until a context synchronisation event
        (R_BLDZX), and fetched instructions are not translations."""
        lay, rg = self.layout, self.regimes
        threads = list(state.threads)
        for t, th in enumerate(threads):
            rid = rg.thread_rid[t]
            if th.pe in (pe, -1) or not th.early or rid < 0 or rg.tlb_rid[rid] not in regimes:
                continue
            keys = {va: rg.tlb_key[rid][k] for va, k in rg.keys[rid].items()}
            prog = lay.programs[t]
            # A translation that a later instruction already executed past is kept (Model,
            # weaker than R_LXHLD: redoing it could fault after that instruction executed,
            # which precise exceptions forbid; printed with out-of-order execution), and so
            # is that of a load executed ahead (the one it used: execute.py keeps it for
            # read-read coherence).
            kept = tuple(
                (at, result)
                for at, result in th.early
                if th.ahead >> at
                or not (
                    lay.code[prog[at]].op in DATA_OPS and (key < 0 or keys.get(lay.code[prog[at]].loc) == key)
                )
            )
            if kept != th.early:
                threads[t] = th._replace(early=kept)
        return state._replace(threads=tuple(threads))

    def _ets2_results(
        self, state: State, t: int, pc: int, results: tuple[int, ...], fetch: bool
    ) -> tuple[int, ...]:
        """Walk results of the instruction at ``pc`` made now, without the faults FEAT_ETS2
        forbids at this point (``ets.py``: B2.3.7 ETS-ordered-before, DSB-ordered-before)."""
        if not self.spec.ets2:
            return results
        th = state.threads[t]
        lay = self.layout
        # The earlier instructions not executed yet (out-of-order execution may have run
        # some: a load ahead is performed, a store ahead sits in the buffer).
        before = [] if th.hyp else [
            lay.code[lay.programs[t][i]] for i in range(th.pc, pc) if not th.ahead >> i & 1
        ]
        if ets.fault_allowed(before, buffer.has_stores(state.bufs[th.pe]), fetch):
            return results
        return tuple(r for r in results if not ets.tlb_uncacheable(r))

    def _early_results(self, state: State, t: int, pc: int, instr: Instr) -> tuple[int, ...]:
        """Results of translating the data access at ``pc`` ahead of time, now."""
        return self._ets2_results(state, t, pc, self.walker.access_at(state, t, instr), fetch=False)

    def _early_fetch_faults(self, state: State, t: int, pc: int, instr: Instr) -> tuple[int, ...]:
        """Faults a fetch of the instruction at ``pc`` made ahead of time may record now
        (issue 11 item 7): a PE may fetch ahead at any time after its last context
        synchronisation event (B2.7.4.2, D8.2), the walk of that fetch may fault, and the
        fault is taken if the instruction executes (an Instruction Abort)."""
        rg = self.regimes
        if not rg.is_va(t, instr.loc):
            return ()
        rid = rg.thread_rid[t]
        results = self.walker.full(state, state.threads[t].pe, rid, rg.keys[rid][instr.loc], False, True)
        faults = tuple(r for r in results if is_fault(r))
        return self._ets2_results(state, t, pc, faults, fetch=True)

    # ---- hardware steps ------------------------------------------------------------------------

    def window(self, state: State, t: int) -> list[int]:
        """Program positions a thread may translate or fetch ahead: from its pc up to
        its next ISB (a context synchronisation event it has not reached)."""
        th = state.threads[t]
        prog = self.layout.programs[t]
        out: list[int] = []
        if th.hyp or th.fault or th.pe < 0:
            return out
        done = {pc for pc, _ in th.early}
        for pc in range(th.pc, len(prog)):
            instr = self.layout.code[prog[pc]]
            if instr.op == "ISB" and not th.ahead >> pc & 1:
                break  # (an ISB executed out of order has discarded what was made past it)
            if pc in done or th.ahead >> pc & 1:
                continue
            if (instr.op in DATA_OPS and self.regimes.is_va(t, instr.loc)) or instr.op == "EXEC":
                out.append(pc)
        return out

    def actions(self, state: State) -> list[Step]:
        lay = self.layout
        steps: list[Step] = []
        for t in range(len(lay.threads)):
            for pc in self.window(state, t):
                instr = lay.code[lay.programs[t][pc]]
                if instr.op == "EXEC":
                    if self.fetcher.early_fetch(state, t, pc, instr) is not None:
                        steps.append((XLATE, t, pc, 0))
                    faults = self._early_fetch_faults(state, t, pc, instr)
                    steps.extend((XLATE, t, pc, 1 + c) for c in range(len(faults)))
                    continue
                results = self._early_results(state, t, pc, instr)
                steps.extend((XLATE, t, pc, c) for c in range(len(results)))
        for pe in range(lay.h.n_pes):
            candidates = self.walker.tlb_candidates(state, pe)
            if self.dead_tlb is not None:  # a dead entry is not filled (dead_tlb.py)
                candidates = self.dead_tlb.fillable(state, pe, candidates)
            for rid, key, result in candidates:
                steps.append((TLB_FILL, pe, rid, key, result))
            steps.extend((TLB_DROP, pe, i) for i in range(len(state.tlbs[pe])))
            if self.icache != "none":
                for tag, line, cacheable in self.fetcher.prefetch_candidates(state, pe):
                    steps.append((IC_FILL, pe, tag, line, cacheable))
                steps.extend((IC_DROP, pe, i) for i in range(len(state.icaches[pe])))
        return steps

    def tlbs_after(self, tlbs: tuple[tlb.Tlb, ...], step: Step) -> tuple[tlb.Tlb, ...]:
        """Every PE's TLB after a TLB_FILL or TLB_DROP (memoized by the PE's TLB and step)."""
        pe = step[1]
        memo_key = (tlbs[pe], step)
        changed = self._tlb_steps.get(memo_key)
        if changed is None:
            if step[0] == TLB_FILL:
                _, _, rid, key, result = step
                changed = tlb.fill(tlbs[pe], rid, key, result)
            else:
                changed = tlb.drop(tlbs[pe], step[2])
            if len(self._tlb_steps) >= TLB_STEPS_LIMIT:
                self._tlb_steps.clear()
            self._tlb_steps[memo_key] = changed
        return (*tlbs[:pe], changed, *tlbs[pe + 1 :])

    def outer_after(self, state: State, step: Step, cut: int) -> tuple[object, ...] | None:
        """``next_state(state, step)[cut:]`` for a TLB fill or drop, which leaves every
        field before ``TLBS`` alone (plan.py numbers it without building the State);
        None for other steps."""
        if step[0] not in _TLB_STEPS:
            return None
        return (*state[cut:_TLBS], self.tlbs_after(state.tlbs, step), *state[_TLBS + 1 :])

    def next_state(self, state: State, step: Step) -> State:
        kind = step[0]
        if kind in _TLB_STEPS:  # most steps of a translated search: the State built directly
            new_tlbs = self.tlbs_after(state.tlbs, step)
            return tuple.__new__(State, (*state[:_TLBS], new_tlbs, *state[_TLBS + 1 :]))
        lay = self.layout
        if kind == XLATE:
            _, t, pc, choice = step
            instr = lay.code[lay.programs[t][pc]]
            if instr.op == "EXEC" and choice:
                result = self._early_fetch_faults(state, t, pc, instr)[choice - 1]
            elif instr.op == "EXEC":
                got = self.fetcher.early_fetch(state, t, pc, instr)
                assert got is not None
                state, result = got
            else:
                result = self._early_results(state, t, pc, instr)[choice]
            th = state.threads[t]
            th = th._replace(early=tuple(sorted((*th.early, (pc, result)))))
            return with_thread(state, t, th)
        if kind == IC_FILL:
            _, pe, tag, line, cacheable = step
            return self.fetcher.prefetch(state, pe, tag, line, bool(cacheable))
        if kind == IC_DROP:
            _, pe, index = step
            ics = state.icaches
            return state._replace(icaches=(*ics[:pe], ifetch.drop(ics[pe], index), *ics[pe + 1 :]))
        raise AssertionError(f"unknown step {step}")


def translated_type_gap(lay: Layout) -> str | None:
    """The printed assumption where a scenario may meet what the translated paths leave
    out: the cacheability of a translated access or walk comes from its descriptors
    (both stages combined) and the regime's walk attribute alone, so SCTLR_EL1.C=0 and
    HCR_EL2.CD/DC (D7.5.5: also "all accesses to the EL1&0 stage 1 [stage 2]
    translation tables are Non-cacheable") and the stage-2 attributes of a stage-1
    table page (D8.6.3, D8.2 R_XGXKR) do not make them Non-cacheable.  Where they
    could apply the model is stronger than the architecture: said so, never silent."""
    xlate = lay.spec.xlate
    if xlate is None:
        return None
    why: list[str] = []
    translated = set(xlate.thread_regime)
    for t, spec in enumerate(lay.threads):
        if spec.name not in translated:
            continue
        ops = {lay.code[i].op for i in lay.programs[t]}
        vm = lay.vms[lay.vm_index[spec.vm]] if spec.context == Context.GUEST else None
        if not spec.sctlr[1] or Op.MSR in ops or (vm is not None and vm.on_sctlr is not None):
            why.append(f"{spec.name} may run with SCTLR_EL1.C=0")
        if vm is not None and (vm.hcr.CD or vm.hcr.DC or Op.HCR in ops):
            why.append(f"{spec.name}'s VM may set HCR_EL2.CD/DC")
    two_stage = any(r.s2 for r in xlate.regimes)
    words = {*lay.spec.init.values(), *(e.desc for e in xlate.tlb_init)}
    words.update(lay.code[i].value for prog in lay.programs for i in prog if lay.code[i].op == Op.STR)
    if two_stage and any(w > 0 and w & VALID and not desc_type(w).cacheable for w in words):
        why.append("a stage-1 table page may be mapped Non-cacheable at stage 2")
    if not why:
        return None
    return (
        "Model: translated accesses and walks take their cacheability from the descriptors "
        "and the regime's walk attribute only, not from SCTLR_EL1.C=0, HCR_EL2.CD/DC (D7.5.5) "
        "or a table page's stage-2 attributes (D8.6.3): stronger than the architecture here ("
        + "; ".join(dict.fromkeys(why))
        + ")"
    )


def xlate_assumptions(s: XlateSpec) -> list[str]:
    """The translation and fetch knobs a verdict rests on (printed with it)."""
    out = [
        "FEAT_ETS2 implemented: no Translation or Access flag fault from a walk made before "
        "an earlier load or store was performed, nor before the stores a DSB waits for (B2.3.7)"
        if s.ets2
        else "FEAT_ETS2 not implemented: a walk made ahead may fault on an entry made valid "
        "by an earlier store",
        "translations and instruction fetches may be made ahead at any time after the last "
        "context synchronisation event (ISB, exception entry, ERET)",
        "TLBs cache leaf entries of each stage, combined stage 1+2 leaves and table entries "
        "(walk caches, by VA prefix); a last-level TLBI leaves table entries, a TLBI by IPA "
        "leaves combined ones (D8.17); faulting walks are never cached; HCR_EL2.FB not modelled",
    ]
    if any(r.contig > 1 for r in s.regimes):
        out.append(
            "a Contiguous-bit entry may stand for every entry of its range, extrapolated from it "
            "(D8.7.1); in a misprogrammed range a lookup may give any output page an entry of the "
            "range gives or extrapolates, with any entry's attributes and permissions, or a TLB "
            "conflict abort (D8.7.1.1, no FEAT_BBM level 1 or 2; bounded by D8.7.1.2)"
        )
    if any(r.s2 and len(r.levels) > 1 for r in s.regimes):
        out.append(
            "a guest's stage-1 walk-cache entry may hold the next table's IPA or its PA (stage 2 "
            "applied): the PA form survives a TLBI by IPA until a stage-1 TLBI of the VA that is "
            "not last-level, VMALLE1, VMALLS12E1 or ALLE1 (D8.17 R_RRVJDB, D8.17.6.1)"
        )
    if s.icache != "none" or s.dic:
        out.append(f"I-cache {s.icache}; CTR_EL0.IDC={int(s.idc)} DIC={int(s.dic)}")
    for r in s.regimes:
        out.append(f"regime {r.name}: stage {r.stage}, levels {','.join(map(str, r.levels))}, walks {r.walk}")
    return out
