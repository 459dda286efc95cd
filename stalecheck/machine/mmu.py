"""The translation and instruction-fetch model wired into the machine engine.

The rules live in ``translation.py`` (descriptors, walk, syndromes), ``tlb.py``
(what a TLB holds, what a TLBI removes) and ``ifetch.py`` (icache types, where a
fetch reads); this module only decides which of them applies to which step:

- a thread bound to a regime accesses VA names through it: TLB hit, else a walk
  through the walker's view of memory (never the PE's store buffer);
- ``early``: a PE may translate (or fetch) an upcoming instruction at any time
  after its last context synchronisation event (D8.2 and B2.7.4.2 "translation table
  walks may be performed speculatively", seed 003), and uses that result when the
  instruction executes; ``ISB``, exception entry and ERET discard it;
- with FEAT_ETS2 a ``DSB`` discards early *faulting* translations of later
  instructions (a fault is not generated from a walk ordered before the DSB);
- hardware steps: TLB fill (a non-faulting walk only) and drop, icache fill
  (speculative prefetch from an executable mapping) and drop;
- ``TLBI`` and ``IC`` enter the PE's buffer, complete asynchronously, and only a
  full ``DSB`` waits for them (buffer.py orders them with nothing else).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stalecheck.errors import ScenarioError
from stalecheck.machine import buffer, ifetch, tlb
from stalecheck.machine.isa import Instr
from stalecheck.machine.memtypes import NORMAL_NC, NORMAL_WT, combine_stages
from stalecheck.machine.spec import Context, TrapContext, hcr_bit
from stalecheck.machine.state import (
    IC_ENTRY,
    IC_IALLU,
    IC_IALLUIS,
    IC_IVAU,
    SCTLR_I,
    SCTLR_M,
    STORE,
    TLBI_ENTRY,
    Entry,
    State,
    Thread,
)
from stalecheck.machine.step_record import Action, ActorKind, Effect, StepRecord
from stalecheck.machine.translation import (
    ATTR_SHIFT,
    FSC_TLB_CONFLICT,
    OA_SHIFT,
    RO,
    TABLE,
    VALID,
    XN,
    XlateSpec,
    check_permission,
    desc_oa,
    desc_type,
    describe_esr,
    describe_fault,
    esr,
    fault,
    fault_ipa,
    fault_stage2,
    is_fault,
    walk,
    with_ipa,
)

if TYPE_CHECKING:
    from stalecheck.machine.system import Machine

# Step kinds of this model (after system.py's 0..6).
XLATE = 10  # (XLATE, thread, pc, choice): translate or fetch an upcoming instruction early
TLB_FILL = 11  # (TLB_FILL, pe, regime, key, result)
TLB_DROP = 12  # (TLB_DROP, pe, index)
IC_FILL = 13  # (IC_FILL, pe, tag, line)
IC_DROP = 14  # (IC_DROP, pe, index)

_DATA = ("LDR", "STR")
_IC_OPS = {"IVAU": IC_IVAU, "IALLU": IC_IALLU, "IALLUIS": IC_IALLUIS}


class Mmu:
    """Static tables of the translation model for one machine, and its step functions."""

    def __init__(self, m: Machine, spec: XlateSpec) -> None:
        self.m = m
        self.spec = spec
        self.regimes = spec.regimes
        self.rid = {r.name: i for i, r in enumerate(self.regimes)}
        self.keys = tuple({va: k for k, va in enumerate(r.vas)} for r in self.regimes)
        self.key_names = tuple(tuple(r.vas) for r in self.regimes)
        for r in self.regimes:
            if r.root not in m._line_index:
                raise ScenarioError(f"regime {r.name!r}: root table {r.root!r} is not a declared line")
            if r.s2 and r.s2 not in self.rid:
                raise ScenarioError(f"regime {r.name!r}: unknown stage-2 regime {r.s2!r}")
            for va, idx in r.vas.items():
                if len(idx) != len(r.levels):
                    raise ScenarioError(f"regime {r.name!r}: {va!r} needs one entry index per level")
        self.thread_rid: tuple[int, ...] = tuple(
            self._regime_of(t.name, spec.thread_regime.get(t.name, "")) for t in m.threads
        )
        if spec.icache not in ifetch.KINDS:
            raise ScenarioError(f"unknown icache type {spec.icache!r} (known: {', '.join(ifetch.KINDS)})")
        self.icache = "none" if spec.dic else spec.icache
        self.page_lines = tuple(
            tuple(i for i, ln in enumerate(m.lines) if ln.page == page) for page in m.pages
        )
        self.page_index = {page: i for i, page in enumerate(m.pages)}
        # The fetch targets of every thread (for speculative icache fills).
        self.fetches = tuple(
            tuple(dict.fromkeys(m.code[i].loc for i in prog if m.code[i].op == "EXEC")) for prog in m.programs
        )
        self.atcheck: dict[str, int] = {}

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

    def knows(self, t: int, instr: Instr) -> bool:
        """Whether ``instr``'s operand is a name this model resolves (a VA)."""
        return self.is_va(t, instr.loc)

    def handles(self, t: int, instr: Instr) -> bool:
        op = instr.op
        if op in _DATA:
            return self.is_va(t, instr.loc)
        return op in ("EXEC", "TLBI", "IC", "ATCHECK")

    # ---- state ---------------------------------------------------------------------------

    def init(self, state: State) -> State:
        n = self.m.h.n_pes
        ics: list[ifetch.ICache] = [() for _ in range(n)]
        if self.icache != "none":
            for item in self.spec.icache_init:
                line = self.m.line_of(item.line)
                tag = ifetch.tag_for(self.icache, item.colour, item.vmid)
                values = (item.value, *state.mem[line][1:])
                ics[item.pe] = ifetch.fill(ics[item.pe], tag, line, values)
        return state._replace(tlbs=((),) * n, icaches=tuple(ics))

    # ---- translation ------------------------------------------------------------------------

    def _walker_values(
        self, state: State, pe: int, walk_kind: str, line: int, offset: int
    ) -> tuple[int, ...]:
        """What the walker may read for one entry: it is an observer of its own and
        never sees the PE's buffered stores (D8.2 the walk is a separate observer,
        seed 003); cacheable walks are coherent, NC walks may hit (B2.11), a
        non-coherent walker reads the PoC."""
        m = self.m
        if walk_kind == "wb":
            return (m_coherent(m, state, pe, line)[offset],)
        if walk_kind == "noncoherent":
            return (state.mem[line][offset],)
        from stalecheck.machine import caches

        return caches.bypass_read_options(
            state.copies, state.mem, m.h, pe, line, offset, m.spec.options.nc_reads_may_hit, m.nl
        )

    def walk_results(self, state: State, pe: int, rid: int, key: int) -> tuple[int, ...]:
        """Fresh walk of one input (no TLB for this stage; stage 2 of a table access
        may use the TLB)."""
        regime = self.regimes[rid]
        s2 = self.rid[regime.s2] if regime.s2 else -1

        def line_offset(table_line: int, index: int) -> tuple[int, int]:
            return table_line, index

        def read(line: int, offset: int) -> tuple[int, ...]:
            if s2 < 0:
                return self._walker_values(state, pe, regime.walk, line, offset)
            page = self.m.lines[line].page
            ipa_key = self.keys[s2].get(page)
            if ipa_key is None:
                raise ScenarioError(f"stage-2 regime {regime.s2!r} does not translate table page {page!r}")
            out: list[int] = []
            for r2 in self.translate(state, pe, s2, ipa_key):
                if is_fault(r2):
                    out.append(r2)
                    continue
                pa_line = self._same_line_in(line, desc_oa(r2))
                out.extend(self._walker_values(state, pe, regime.walk, pa_line, offset))
            return tuple(sorted(set(out)))

        results = walk(regime, self.key_names[rid][key], self.m._line_index[regime.root], read, line_offset)
        if regime.stage == 2:  # remember which IPA page faulted, for the hypervisor (HPFAR_EL2)
            ipa = self.page_index.get(self.key_names[rid][key], -1)
            results = tuple(with_ipa(r, ipa) for r in results)
        return results

    def _same_line_in(self, line: int, page: int) -> int:
        """The line at the same position of another page (a stage-2 output)."""
        own = self.page_lines[self.page_index[self.m.lines[line].page]]
        return self.page_lines[page][own.index(line)]

    def translate(self, state: State, pe: int, rid: int, key: int) -> tuple[int, ...]:
        """One stage's results: the TLB's if it holds any, else a walk.  Two different
        entries for one input may give a TLB conflict abort (D8.16 Translation Lookaside Buffers)."""
        cached = tlb.lookup(state.tlbs[pe], rid, key)
        if len(cached) == 1:
            return cached
        if cached:
            return (*cached, fault(FSC_TLB_CONFLICT))
        return self.walk_results(state, pe, rid, key)

    def full(self, state: State, pe: int, rid: int, key: int, write: bool, fetch: bool) -> tuple[int, ...]:
        """Both stages: a stage-1 leaf's output (an IPA page) goes through stage 2; the
        result's attributes are the more restrictive of the two (D8.6.5, FWB=0),
        permissions the intersection."""
        regime = self.regimes[rid]
        out: set[int] = set()
        for r1 in self.translate(state, pe, rid, key):
            r1 = check_permission(r1, regime, write, fetch)
            if is_fault(r1) or not regime.s2:
                out.add(r1)
                continue
            s2 = self.rid[regime.s2]
            ipa = self.m.pages[desc_oa(r1)]
            ipa_key = self.keys[s2].get(ipa)
            if ipa_key is None:
                raise ScenarioError(f"stage-2 regime {regime.s2!r} does not translate IPA page {ipa!r}")
            for r2 in self.translate(state, pe, s2, ipa_key):
                r2 = check_permission(r2, self.regimes[s2], write, fetch)
                if is_fault(r2):
                    out.add(r2)
                    continue
                attr = max((r1 >> ATTR_SHIFT) & 3, (r2 >> ATTR_SHIFT) & 3)
                bits = ((r1 | r2) & (RO | XN)) | (r1 & 7)
                out.add(bits | (attr << ATTR_SHIFT) | (desc_oa(r2) << OA_SHIFT))
        return tuple(sorted(out))

    def _access(self, state: State, t: int, instr: Instr) -> tuple[int, ...]:
        th = state.threads[t]
        for pc, result in th.early:
            if pc == th.pc and not th.hyp:
                return (result,)
        rid = self.thread_rid[t]
        key = self.keys[rid][instr.loc]
        return self.full(state, th.pe, rid, key, instr.op == "STR", instr.op == "EXEC")

    # ---- instruction fetch ------------------------------------------------------------------

    def _fetch_target(self, state: State, t: int, instr: Instr) -> tuple[int, int, bool] | None:
        """(line, tag, cacheable) of an untranslated fetch (host, or a guest with stage 1
        off); None when a guest's page is not mapped at stage 2 (it would trap)."""
        m = self.m
        spec = m.threads[t]
        th = state.threads[t]
        line = m.line_of(instr.loc)
        if spec.context != Context.GUEST or th.hyp:
            host = m.host_types[line]
            return line, ifetch.tag_for(self.icache, self.spec.host_colour, 0), host is None or host.cacheable
        if m._guest_unmapped(state, t, line):
            return None
        vi = m._vm_index[spec.vm]
        vm = m.vms[vi]
        hcr = state.hcr[vi]
        # D8.2.12.1: stage 1 off, fetches are Normal NC, or WT with SCTLR_EL1.I=1.
        if th.sctlr & SCTLR_M:
            s1 = vm.s1_type(m.lines[line].name)
        else:
            s1 = NORMAL_WT if th.sctlr & SCTLR_I else NORMAL_NC
        mt = combine_stages(
            s1,
            vm.s2_type(m.lines[line].name),
            bool(hcr & hcr_bit("FWB")),
            vm.s2_force,
            bool(hcr & hcr_bit("ID")),
        )
        tag = ifetch.tag_for(self.icache, self.spec.guest_colour, vi + 1)
        return line, tag, mt.cacheable

    def _fetch(self, state: State, pe: int, line: int, tag: int, cacheable: bool) -> tuple[State, int]:
        """One fetch: an icache hit, else a fill from where the type says (ifetch.py)."""
        m = self.m
        use_ic = self.icache != "none" and cacheable
        if use_ic:
            hit = ifetch.lookup(state.icaches[pe], tag, line)
            if hit is not None:
                return state, hit[0]
        values = ifetch.miss_value(state.copies, state.mem, m.h, pe, line, m.nl, self.spec.idc, cacheable)
        if use_ic:
            ics = state.icaches
            new = ifetch.fill(ics[pe], tag, line, values)
            state = state._replace(icaches=(*ics[:pe], new, *ics[pe + 1 :]))
        return state, values[0]

    def _fetch_any(self, state: State, t: int, instr: Instr) -> tuple[State, int] | None:
        """Fetch for EXEC: translated through the thread's regime, or untranslated."""
        th = state.threads[t]
        if self.is_va(t, instr.loc):
            results = self._access(state, t, instr)
            ok = [r for r in results if not is_fault(r)]
            if not ok:
                return None
            r = ok[0]
            line = self.page_lines[desc_oa(r)][0]
            regime = self.regimes[self.thread_rid[t]]
            colour = regime.colour.get(instr.loc, 0)
            tag = ifetch.tag_for(self.icache, colour, regime.vmid)
            return self._fetch(state, th.pe, line, tag, desc_type(r).cacheable)
        target = self._fetch_target(state, t, instr)
        if target is None:
            return None
        line, tag, cacheable = target
        return self._fetch(state, th.pe, line, tag, cacheable)

    # ---- steps of the program ------------------------------------------------------------------

    def choices(self, state: State, t: int, instr: Instr) -> int:
        op = instr.op
        if op in _DATA or op == "ATCHECK":
            if op == "LDR" and buffer.loads_blocked(state.bufs[state.threads[t].pe]):
                return 0
            return len(self._data_outcomes(state, t, instr))
        return 1

    def _data_outcomes(self, state: State, t: int, instr: Instr) -> list[tuple[int, int]]:
        """(translation result, value) pairs a translated data access may produce."""
        if instr.op == "ATCHECK":
            rid = self.thread_rid[t]
            th = state.threads[t]
            return [(r, 0) for r in self.full(state, th.pe, rid, self.keys[rid][instr.loc], False, False)]
        out: list[tuple[int, int]] = []
        for r in self._access(state, t, instr):
            if is_fault(r) or instr.op == "STR":
                out.append((r, 0))
                continue
            line = self.page_lines[desc_oa(r)][0]
            for v in self.m._values_at(state, t, line, 0, desc_type(r)):
                out.append((r, v))
        return out

    def execute(self, state: State, t: int, th: Thread, instr: Instr, choice: int) -> tuple[State, Thread]:
        m = self.m
        op = instr.op
        pe = th.pe
        if op in _DATA or op == "ATCHECK":
            result, value = self._data_outcomes(state, t, instr)[choice]
            th = th._replace(early=tuple(e for e in th.early if e[0] != th.pc))
            if is_fault(result):
                trapped = self._stage2_trap(state, t, th, instr, result)
                if trapped is not None:
                    return state, trapped
                return state, self._abort(t, th, instr, result)
            if op == "LDR":
                r = m._regs[t][instr.reg]
                return state, th._replace(regs=(*th.regs[:r], value, *th.regs[r + 1 :]))
            if op == "STR":
                line = self.page_lines[desc_oa(result)][0]
                mt = desc_type(result)
                val = th.regs[m._regs[t][instr.reg]] if instr.reg else instr.value
                entry = (STORE, line, 0, val, int(mt.cacheable), int(mt.write_through), m._ids[instr])
                return m._push(state, pe, entry), th
            return state, th  # ATCHECK: the walk now succeeds, ERET retries the access
        if op == "EXEC":
            early = [v for pc, v in th.early if pc == th.pc and not th.hyp]
            th = th._replace(early=tuple(e for e in th.early if e[0] != th.pc))
            if early:
                value = early[0]
            else:
                got = self._fetch_any(state, t, instr)
                if got is None:
                    rid = self.thread_rid[t]
                    results = self._access(state, t, instr)
                    return state, self._abort(t, th, instr, results[0] if rid >= 0 else fault(4))
                state, value = got
            r = m._regs[t][instr.reg]
            return state, th._replace(regs=(*th.regs[:r], value, *th.regs[r + 1 :]))
        if op == "TLBI":
            return m._push(state, pe, self._tlbi_entry(t, th, instr)), th
        if op == "IC":
            return m._push(state, pe, self._ic_entry(state, t, th, instr)), th
        raise AssertionError(op)

    def _stage2_trap(self, state: State, t: int, th: Thread, instr: Instr, result: int) -> Thread | None:
        """A stage-2 fault of a guest access (or of its stage-1 walk) goes to EL2: the
        VM's stage-2 fault policy runs, then ERET retries the access (D8.3, seed 004).
        Without a policy the fault is fatal, reported with its ESR."""
        m = self.m
        spec = m.threads[t]
        if not fault_stage2(result) or spec.context != Context.GUEST or th.hyp:
            return None
        vm = m.vms[m._vm_index[spec.vm]]
        ipa = fault_ipa(result)
        if vm.on_stage2_fault is None or ipa < 0:
            return None
        access = {"LDR": "read", "STR": "write", "EXEC": "exec"}.get(instr.op, "read")
        base = m._trap_base(state, t, instr)
        trap = TrapContext("stage2-fault", page=m.pages[ipa], access=access, **base)  # type: ignore[arg-type]
        emitted = tuple(m.intern(i) for i in m._policy(trap))
        if not emitted:
            return None  # a policy that does nothing would retry forever: report the fault
        th = m._sync(th)  # exception entry: a context synchronisation event
        return th._replace(hyp=emitted, retry=1)

    def _abort(self, t: int, th: Thread, instr: Instr, result: int) -> Thread:
        """A fault the program takes: fatal, or (``on_fault="retry"``) an exception whose
        handler re-walks and retries when the walk now succeeds (Linux's
        is_spurious_el1_translation_fault()); exception entry is a context
        synchronisation event (D24.1.2.2 and B2.6.1: exception entry is a context synchronization event)."""
        m = self.m
        # A stage-1 fault is taken to the faulting EL; a stage-2 fault to EL2 (lower-EL class).
        syndrome = esr(result, instr.op == "EXEC", instr.op == "STR", not fault_stage2(result))
        if self.spec.on_fault.get(m.threads[t].name, "fatal") == "retry" and instr.op != "ATCHECK":
            check = m.intern(Instr("ATCHECK", loc=instr.loc))
            th = m._sync(th)
            return th._replace(hyp=(check, *th.hyp), retry=1)
        return th._replace(fault=syndrome, pc=len(m.programs[t]), hyp=th.hyp[:1], early=())

    def after_dsb(self, th: Thread) -> Thread:
        """FEAT_ETS2: a faulting translation of a later instruction is not kept from a
        walk made before the DSB (ID_AA64MMFR1_EL1.ETS; seed 003's ``dsb-only-ets2``)."""
        if self.spec.ets2 and any(r < 0 for _, r in th.early):
            return th._replace(early=tuple(e for e in th.early if e[1] >= 0))
        return th

    def _tlbi_entry(self, t: int, th: Thread, instr: Instr) -> Entry:
        op = tlb.tlbi_op(instr.kind)
        rid = self.thread_rid[t]
        mask = 0
        key = -1
        if op.all_regimes:
            mask = (1 << len(self.regimes)) - 1
        elif op.stage2:
            s2 = self._s2_of_thread(t)
            if s2 < 0:
                raise ScenarioError(
                    f"TLBI {instr.kind} by thread {self.m.threads[t].name!r}: no stage-2 regime"
                )
            mask = 1 << s2
            if op.by_input:
                key = self._key(s2, instr)
            elif rid >= 0:
                mask |= 1 << rid  # VMALLS12E1: both stages of the VM
        else:
            if rid < 0:
                raise ScenarioError(f"TLBI {instr.kind} by thread {self.m.threads[t].name!r}: no regime")
            mask = 1 << rid
            if op.by_input:
                key = self._key(rid, instr)
        return (TLBI_ENTRY, int(op.broadcast), mask, key, self.m._ids[instr])

    def _s2_of_thread(self, t: int) -> int:
        rid = self.thread_rid[t]
        if rid >= 0 and self.regimes[rid].stage == 2:
            return rid
        if rid >= 0 and self.regimes[rid].s2:
            return self.rid[self.regimes[rid].s2]
        return -1

    def _key(self, rid: int, instr: Instr) -> int:
        key = self.keys[rid].get(instr.loc)
        if key is None:
            raise ScenarioError(
                f"{instr}: {instr.loc!r} is not an input address of regime {self.regimes[rid].name!r}"
            )
        return key

    def _ic_entry(self, state: State, t: int, th: Thread, instr: Instr) -> Entry:
        op = _IC_OPS[instr.kind]
        if op != IC_IVAU:
            return (IC_ENTRY, op, -1, -1, self.m._ids[instr])
        if not instr.loc:
            raise ScenarioError(f"{instr}: IC IVAU needs an address")
        if self.is_va(t, instr.loc):
            results = [r for r in self._access(state, t, Instr("EXEC", loc=instr.loc)) if not is_fault(r)]
            regime = self.regimes[self.thread_rid[t]]
            tag = ifetch.tag_for(self.icache, regime.colour.get(instr.loc, 0), regime.vmid)
            line = self.page_lines[desc_oa(results[0])][0] if results else -1
            return (IC_ENTRY, op, line, tag, self.m._ids[instr])
        target = self._fetch_target(state, t, Instr("EXEC", loc=instr.loc))
        line, tag = (target[0], target[1]) if target else (-1, -1)
        return (IC_ENTRY, op, line, tag, self.m._ids[instr])

    def complete(self, state: State, pe: int, entry: Entry) -> State:
        """A TLBI or IC takes effect (on every PE when broadcast)."""
        n = self.m.h.n_pes
        if entry[0] == TLBI_ENTRY:
            _, broadcast, mask, key, _ = entry
            regimes = frozenset(i for i in range(len(self.regimes)) if mask >> i & 1)
            tlbs = tuple(
                tlb.invalidate(x, regimes, key) if (broadcast or p == pe) else x
                for p, x in enumerate(state.tlbs)
            )
            return state._replace(tlbs=tlbs)
        _, op, line, tag, _ = entry
        ics = list(state.icaches)
        for p in range(n):
            if op == IC_IALLU and p != pe:
                continue
            if op == IC_IVAU:  # by VA to the PoU: broadcast in the Inner Shareable domain
                if line >= 0:
                    ics[p] = ifetch.invalidate_va(ics[p], self.icache, tag, line)
            else:
                ics[p] = ()
        return state._replace(icaches=tuple(ics))

    # ---- hardware steps ------------------------------------------------------------------------

    def _window(self, state: State, t: int) -> list[int]:
        """Program positions a thread may translate or fetch ahead: from its pc up to
        its next ISB (a context synchronisation event it has not reached)."""
        th = state.threads[t]
        prog = self.m.programs[t]
        out: list[int] = []
        if th.hyp or th.fault or th.pe < 0:
            return out
        done = {pc for pc, _ in th.early}
        for pc in range(th.pc, len(prog)):
            instr = self.m.code[prog[pc]]
            if instr.op == "ISB":
                break
            if pc in done:
                continue
            if (instr.op in _DATA and self.is_va(t, instr.loc)) or instr.op == "EXEC":
                out.append(pc)
        return out

    def actions(self, state: State) -> list[tuple[int, ...]]:
        m = self.m
        steps: list[tuple[int, ...]] = []
        for t in range(len(m.threads)):
            for pc in self._window(state, t):
                instr = m.code[m.programs[t][pc]]
                if instr.op == "EXEC":
                    if self._early_fetch(state, t, pc, instr) is not None:
                        steps.append((XLATE, t, pc, 0))
                    continue
                results = self._access_at(state, t, pc, instr)
                steps.extend((XLATE, t, pc, c) for c in range(len(results)))
        for pe in range(m.h.n_pes):
            for rid, key, result in self._tlb_candidates(state, pe):
                steps.append((TLB_FILL, pe, rid, key, result))
            steps.extend((TLB_DROP, pe, i) for i in range(len(state.tlbs[pe])))
            if self.icache != "none":
                for tag, line in self._ic_candidates(state, pe):
                    steps.append((IC_FILL, pe, tag, line))
                steps.extend((IC_DROP, pe, i) for i in range(len(state.icaches[pe])))
        return steps

    def _access_at(self, state: State, t: int, pc: int, instr: Instr) -> tuple[int, ...]:
        th = state.threads[t]
        rid = self.thread_rid[t]
        return self.full(state, th.pe, rid, self.keys[rid][instr.loc], instr.op == "STR", False)

    def _early_fetch(self, state: State, t: int, pc: int, instr: Instr) -> tuple[State, int] | None:
        moved = state.threads[t]._replace(pc=pc)
        probe = state._replace(threads=(*state.threads[:t], moved, *state.threads[t + 1 :]))
        got = self._fetch_any(probe, t, instr)
        if got is None:
            return None
        new, value = got
        return new._replace(threads=state.threads), value

    def _tlb_candidates(self, state: State, pe: int) -> list[tuple[int, int, int]]:
        """Non-faulting walk results a PE may cache now: for the regimes of the threads
        running on it (and their stage 2), each input, each result not yet held."""
        rids: list[int] = []
        for t, th in enumerate(state.threads):
            if th.pe != pe or self.m.finished(state, t):
                continue
            rid = self.thread_rid[t]
            if rid >= 0:
                rids.append(rid)
                if self.regimes[rid].s2:
                    rids.append(self.rid[self.regimes[rid].s2])
        out: list[tuple[int, int, int]] = []
        held = set(state.tlbs[pe])
        for rid in sorted(set(rids)):
            for key in range(len(self.key_names[rid])):
                for result in self.walk_results(state, pe, rid, key):
                    if result >= 0 and (rid, key, result) not in held:
                        out.append((rid, key, result))
        return out

    def _ic_candidates(self, state: State, pe: int) -> list[tuple[int, int]]:
        """Icache lines a PE may prefetch now: the fetch targets of the threads on it
        whose translation currently succeeds and is cacheable (D7.5.1 General behavior of caches: speculative
        instruction fetch)."""
        out: set[tuple[int, int]] = set()
        for t, th in enumerate(state.threads):
            if th.pe != pe or self.m.finished(state, t) or th.hyp:
                continue
            for loc in self.fetches[t]:
                target = self._prefetch_target(state, t, loc)
                if target is None:
                    continue
                line, tag, cacheable = target
                if cacheable and ifetch.lookup(state.icaches[pe], tag, line) is None:
                    out.add((tag, line))
        return sorted(out)

    def _prefetch_target(self, state: State, t: int, loc: str) -> tuple[int, int, bool] | None:
        instr = Instr("EXEC", loc=loc)
        if not self.is_va(t, loc):
            return self._fetch_target(state, t, instr)
        rid = self.thread_rid[t]
        ok = [
            r for r in self.full(state, state.threads[t].pe, rid, self.keys[rid][loc], False, True) if r >= 0
        ]
        if not ok:
            return None
        regime = self.regimes[rid]
        tag = ifetch.tag_for(self.icache, regime.colour.get(loc, 0), regime.vmid)
        return self.page_lines[desc_oa(ok[0])][0], tag, desc_type(ok[0]).cacheable

    def next_state(self, state: State, step: tuple[int, ...]) -> State:
        m = self.m
        kind = step[0]
        if kind == XLATE:
            _, t, pc, choice = step
            instr = m.code[m.programs[t][pc]]
            if instr.op == "EXEC":
                got = self._early_fetch(state, t, pc, instr)
                assert got is not None
                state, result = got
            else:
                result = self._access_at(state, t, pc, instr)[choice]
            th = state.threads[t]
            th = th._replace(early=tuple(sorted((*th.early, (pc, result)))))
            return m._set_thread(state, t, th)
        if kind == TLB_FILL:
            _, pe, rid, key, result = step
            tlbs = state.tlbs
            return state._replace(tlbs=(*tlbs[:pe], tlb.fill(tlbs[pe], rid, key, result), *tlbs[pe + 1 :]))
        if kind == TLB_DROP:
            _, pe, index = step
            tlbs = state.tlbs
            return state._replace(tlbs=(*tlbs[:pe], tlb.drop(tlbs[pe], index), *tlbs[pe + 1 :]))
        if kind == IC_FILL:
            _, pe, tag, line = step
            values = ifetch.miss_value(state.copies, state.mem, m.h, pe, line, m.nl, self.spec.idc, True)
            ics = state.icaches
            return state._replace(
                icaches=(*ics[:pe], ifetch.fill(ics[pe], tag, line, values), *ics[pe + 1 :])
            )
        if kind == IC_DROP:
            _, pe, index = step
            ics = state.icaches
            return state._replace(icaches=(*ics[:pe], ifetch.drop(ics[pe], index), *ics[pe + 1 :]))
        raise AssertionError(f"unknown step {step}")

    # ---- witnesses ---------------------------------------------------------------------------

    def result_text(self, result: int) -> str:
        if is_fault(result):
            return describe_fault(result)
        page = self.m.pages[desc_oa(result)]
        extra = (", read-only" if result & RO else "") + (", XN" if result & XN else "")
        return f"-> {page} ({desc_type(result)}{extra})"

    def entry_text(self, rid: int, key: int, result: int) -> str:
        return f"{self.regimes[rid].name}:{self.key_names[rid][key]} {self.result_text(result)}"

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
            f"{self.m.lines[line].name}({self.tag_text(tag)})={values[0]}"
            for tag, line, values in state.icaches[pe]
        ]
        return f"[I-cache.PE{pe} {self.icache}: {', '.join(parts) or 'empty'}]"

    def describe(self, before: State, step: tuple[int, ...], after: State) -> StepRecord | None:
        """Witness records for this model's steps and instructions (None: not ours)."""
        from stalecheck.machine.describe import buffer_actor, hardware, record, thread_actor
        from stalecheck.machine.system import COMPLETE, EXEC

        m = self.m
        kind = step[0]
        if kind == XLATE:
            _, t, pc, _ = step
            instr = m.code[m.programs[t][pc]]
            result = next(r for p, r in after.threads[t].early if p == pc)
            actor = thread_actor(m, before, t, ActorKind.WALKER)
            actor = actor._replace(name=f"PE{actor.pe} walker")
            common = {"instruction": str(instr), "target": instr.loc}
            if instr.op == "EXEC":
                text = (
                    f"fetches ahead for {instr} (no context synchronisation since): gets {instr.loc}={result}"
                )
                effect = Effect(text, value=result, views=(self.ic_text(after, before.threads[t].pe),))
                return record(m, before, after, actor, Action.FETCH_AHEAD, effect, **common)
            rid = self.thread_rid[t]
            key = self.keys[rid][instr.loc]
            table, walked = self._table_snapshot(before, before.threads[t].pe, rid, key)
            text = (
                f"the walker translates {instr} ahead of time (any time after the last "
                f"context synchronisation event): {self.result_text(result)}; it reads {table} "
                "(a walk never sees the PE's buffered stores)"
            )
            fault = describe_fault(result) if is_fault(result) else ""
            effect = Effect(text, fault=fault)
            return record(m, before, after, actor, Action.TRANSLATE_AHEAD, effect, lines=walked, **common)
        if kind == TLB_FILL:
            _, pe, rid, key, result = step
            entry = self.entry_text(rid, key, result)
            effect = Effect(f"PE{pe}'s walker caches {entry}", views=(self.tlb_text(after, pe),))
            actor = hardware(ActorKind.TLB, f"PE{pe} TLB", pe)
            return record(m, before, after, actor, Action.TLB_FILL, effect, target=self.key_names[rid][key])
        if kind == TLB_DROP:
            _, pe, index = step
            rid, key, _ = before.tlbs[pe][index]
            effect = Effect(f"PE{pe}'s TLB drops {self.entry_text(*before.tlbs[pe][index])}")
            actor = hardware(ActorKind.TLB, f"PE{pe} TLB", pe)
            return record(m, before, after, actor, Action.TLB_DROP, effect, target=self.key_names[rid][key])
        if kind == IC_FILL:
            _, pe, tag, line = step
            text = (
                f"PE{pe} prefetches {m.lines[line].name} into its I-cache from "
                f"{'the coherent data side (IDC=1)' if self.spec.idc else 'the PoU (below L1D)'}"
            )
            effect = Effect(text, views=(self.ic_text(after, pe),))
            actor = hardware(ActorKind.ICACHE, f"PE{pe} I-cache", pe)
            return record(
                m, before, after, actor, Action.IC_FILL, effect,
                target=m.lines[line].name, lines=(line,), shows_copies=True,
            )
        if kind == IC_DROP:
            _, pe, index = step
            tag, line, _ = before.icaches[pe][index]
            effect = Effect(f"PE{pe}'s I-cache drops {m.lines[line].name}@{tag}")
            actor = hardware(ActorKind.ICACHE, f"PE{pe} I-cache", pe)
            return record(m, before, after, actor, Action.IC_DROP, effect, target=m.lines[line].name)
        if kind == COMPLETE:
            entry = before.bufs[step[1]][step[2]]
            pe = step[1]
            instr = m.code[entry[-1]]
            common = {"instruction": str(instr), "target": instr.loc}
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
        if kind != EXEC:
            return None
        t = step[1]
        instr = m.current(before, t)
        if instr is None or not self.handles(t, instr):
            return None
        actor = thread_actor(m, before, t)
        bt, at = before.threads[t], after.threads[t]
        if not bt.hyp and m._traps(before, t, instr) is not None:
            return None  # a trap to EL2: system.py's describe says which and what the policy runs
        common = {"instruction": str(instr), "target": instr.loc}
        op = instr.op
        if at.fault and not bt.fault:
            used = (
                "a translation made ahead of time" if any(p == bt.pc for p, _ in bt.early) else "a walk now"
            )
            fault = f"ESR=0x{at.fault:08X} ({describe_esr(at.fault)})"
            text = f"{instr} aborts, {fault}, using {used}: fatal"
            effect = Effect(text, fault=fault, views=(self.tlb_text(before, bt.pe),))
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
            return f"table->{self.m.lines[desc_oa(desc)].name}"
        if desc_oa(desc) >= len(self.m.pages):
            return f"descriptor {desc}"
        return f"page->{self.result_text(desc)[3:]}"

    def _table_snapshot(self, state: State, pe: int, rid: int, key: int) -> tuple[str, tuple[int, ...]]:
        """The entries a walk of ``key`` reads, decoded, with every copy of their lines,
        and the stores still buffered (which the walker cannot see); and those lines."""
        from stalecheck.machine.describe import snapshot

        m = self.m
        regime = self.regimes[rid]
        parts: list[str] = []
        walked: list[int] = []
        table = m._line_index[regime.root]
        for pos, index in enumerate(regime.vas[self.key_names[rid][key]]):
            if table >= m.nl or regime.s2:
                break
            last = pos == len(regime.levels) - 1
            values = self._walker_values(state, pe, regime.walk, table, index)
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


def xlate_assumptions(s: XlateSpec) -> list[str]:
    """The translation and fetch knobs a verdict rests on (printed with it)."""
    out = [
        f"FEAT_ETS2 {'implemented' if s.ets2 else 'not implemented'}: a DSB "
        + ("discards" if s.ets2 else "does not discard")
        + " faulting translations made ahead of it",
        "translations and instruction fetches may be made ahead at any time after the last "
        "context synchronisation event (ISB, exception entry, ERET)",
        "TLBs cache whole per-stage translations (no separate walk cache of table entries); "
        "faulting walks are never cached; HCR_EL2.FB not modelled",
    ]
    if s.icache != "none" or s.dic:
        out.append(f"I-cache {s.icache}; CTR_EL0.IDC={int(s.idc)} DIC={int(s.dic)}")
    for r in s.regimes:
        out.append(f"regime {r.name}: stage {r.stage}, levels {','.join(map(str, r.levels))}, walks {r.walk}")
    return out


def m_coherent(m: Machine, state: State, pe: int, line: int) -> tuple[int, ...]:
    from stalecheck.machine import caches

    return caches.coherent_value(state.copies, state.mem, m.h, pe, line, m.nl)
