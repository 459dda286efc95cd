"""Dead TLB entries: entries no remaining translation can use are never filled, and dropped.

*The rule used.*  A PE may drop any TLB entry at any time: D8.16 Translation
Lookaside Buffers ("an implementation ... can evict any TLB entry at any time";
``tlb.py`` lists it with the rules) and D8.17 (TLB maintenance is only needed to
remove entries, never to keep them).  A TLB fill is optional too (D8.16: a PE *may*
cache a walk result).  So the reduced machine's runs are runs of the full one:
a fill it skips is one the full machine need not make, and a drop it makes is one
the full machine may make.

*Dead.*  An entry of PE p's TLB is dead in a state when no step from that state on
can read it.  What reads a TLB entry (``walker.py``): a lookup of a thread's
translation on the PE it runs on (data access, fetch, ATCHECK, IC by VA, a
translation made ahead), by (tag, input): the leaf and combined entries of the
input, the walk-cache entries of its prefixes, and for a guest regime the stage-2
entries of every IPA its walk may translate (table pages and output pages); the
TLB fills' own walks, which read only entries of the input they fill; an I-cache
prefetch, which translates the fetch targets of the threads on the PE.  A TLBI
removes entries without reading them.  So an entry is live while some thread that
may still run on p may still translate an input that reaches it:

- a thread's remaining inputs are those of its program from its pc on (programs
  only advance: paths jump forward) and of its pending EL2 code (``Thread.hyp``,
  known exactly once the trap is taken);
- while an instruction that may trap remains (``Traps.may_trap``, or a translated
  access of a guest whose VM has a stage-2 fault policy), or a migration may still
  run the VM's ``on_vcpu_load`` code, the policy code is not known in advance: every
  input of the thread's regime counts;
- a thread that may still migrate (``Options.max_migrations`` not reached) may
  read on every PE;
- with an I-cache model, every fetch target of an unfinished thread counts (the
  prefetch of ``fetch.py`` translates them);
- a guest regime's walk may reach any IPA its stage 2 translates (conservative:
  no descriptor analysis), so each of its inputs keeps every stage-2 entry live.

Each of these only shrinks along any step, so a dead entry stays dead.

*Why the verdict is kept.*  Let two states be *alike* when they differ only in
dead TLB entries (deadness depends on the threads and the migration count alone,
which alike states share).  No step reads a dead entry, so from alike states the
same steps are enabled (TLB_DROP of a dead entry aside, and TLB_FILL of dead ones,
which only make alike states) with alike results.  The reduced machine takes each
step of the full one and then drops the entries that became dead (folded into the
step that made them dead, so no extra step), and skips dead fills and drops: every
full run maps to a reduced run, no longer, that ends in an alike state, and every
reduced run is a full run (drops inserted) of the same number of observable steps.
A bad state does not read TLBs (``StateView.tlb`` refuses under this reduction), so
reachability and the shortest witness's length are the same with and without it.
"""

from __future__ import annotations

from collections.abc import Iterable

from stalecheck.machine import tlb
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.regimes import Regimes
from stalecheck.machine.spec import Context
from stalecheck.machine.state import State, Thread
from stalecheck.machine.traps import Traps

Pair = tuple[int, int]  # a TLB entry's tag and input (``tlb.TlbEntry`` without its result)
Live = frozenset[Pair] | None  # a PE's live pairs; None: every entry
_MEMO_LIMIT = 1 << 16


class DeadTlb:
    """Which TLB entries each PE may still read (``live``), and the state without the others."""

    def __init__(self, layout: Layout, regimes: Regimes, traps: Traps, max_migrations: int) -> None:
        self._lay = layout
        self._rg = rg = regimes
        self._traps = traps
        self._max_migrations = max_migrations
        self._code_keys: dict[tuple[int, int], frozenset[Pair]] = {}  # (thread, code id) -> pairs
        self._all: list[frozenset[Pair]] = []  # per thread: every entry its regime reaches
        self._future: list[tuple[frozenset[Pair], ...]] = []  # per thread, per pc
        self._trap_from: list[tuple[bool, ...]] = []  # per thread, per pc: may a policy still run
        self._fetches: list[frozenset[Pair]] = []
        self._hook: list[bool] = []  # a migration runs the VM's on_vcpu_load code
        for t, spec in enumerate(layout.threads):
            rid = rg.thread_rid[t]
            vi = layout.thread_vm[t]
            vm = layout.vms[vi] if vi >= 0 else None
            everything: set[Pair] = set()
            if rid >= 0:
                for key in range(len(rg.key_names[rid])):
                    everything |= self._reach(rid, key)
            self._all.append(frozenset(everything))
            program = layout.programs[t]
            future = [frozenset[Pair]()]
            may_trap = [False]
            s2_policy = vm is not None and vm.on_stage2_fault is not None
            for index in range(len(program) - 1, -1, -1):
                instr = layout.code[program[index]]
                future.append(future[-1] | self._code(t, program[index]))
                trap = traps.may_trap(t, instr) or (s2_policy and self._translated(t, instr))
                may_trap.append(may_trap[-1] or trap)
            self._future.append(tuple(reversed(future)))
            self._trap_from.append(tuple(reversed(may_trap)))
            fetched: set[Pair] = set()
            if rg.icache != "none" and rid >= 0:
                for loc in rg.fetches[t]:
                    if rg.is_va(t, loc):
                        fetched |= self._reach(rid, rg.keys[rid][loc])
            self._fetches.append(frozenset(fetched))
            self._hook.append(spec.migratable and vm is not None and vm.on_vcpu_load is not None)
        self._cpu = tuple(spec.context != Context.DEVICE for spec in layout.threads)
        self._migratable = tuple(spec.migratable for spec in layout.threads)
        self._n_pes = layout.h.n_pes
        self._memo: dict[tuple[tuple[Thread, ...], int], tuple[Live, ...]] = {}
        self._last: tuple[object, int, tuple[Live, ...]] = (None, -1, ())

    # ---- static: what one translation reads ----------------------------------------------

    def _reach(self, rid: int, key: int) -> frozenset[Pair]:
        """The (tag, input) pairs a translation of input ``key`` of regime ``rid`` may look
        up (walker.py): its leaf and combined entries, the walk-cache entries of its
        prefixes, and for a guest regime every stage-2 input's (any IPA: the walk finds
        tables and output pages through descriptors in memory)."""
        rg = self._rg
        regime = rg.regimes[rid]
        tkey = rg.tlb_key[rid][key]
        out: set[Pair] = {(rg.leaf_tag(rid, tlb.LEAF), tkey)}
        for p, prefix in enumerate(rg.prefixes[rid][key]):
            out.add((rg.leaf_tag(rid, tlb.TABLE + p), prefix))
            out.add((rg.leaf_tag(rid, tlb.COMBINED_TABLE + p), prefix))
        if regime.s2:
            out.add((rg.leaf_tag(rid, tlb.COMBINED), tkey))
            s2 = rg.rid[regime.s2]
            for k2 in range(len(rg.key_names[s2])):
                out |= self._reach(s2, k2)
        return frozenset(out)

    def _translated(self, t: int, instr: Instr) -> bool:
        """Whether ``instr`` of thread ``t`` translates its location through its regime
        (a TLBI by VA names an input but reads no entry)."""
        return instr.op != Op.TLBI and bool(instr.loc) and self._rg.is_va(t, instr.loc)

    def _code(self, t: int, ident: int) -> frozenset[Pair]:
        """The pairs interned instruction ``ident`` reads when thread ``t`` runs it."""
        found = self._code_keys.get((t, ident))
        if found is None:
            instr = self._lay.code[ident]
            rid = self._rg.thread_rid[t]
            if self._translated(t, instr):
                found = self._reach(rid, self._rg.keys[rid][instr.loc])
            else:
                found = frozenset()
            self._code_keys[(t, ident)] = found
        return found

    # ---- per state ------------------------------------------------------------------------

    def _finished(self, th: Thread, t: int) -> bool:
        """``Layout.finished`` of one thread."""
        prog = self._lay.programs[t]
        return (th.pc >= len(prog) or self._lay.code[prog[th.pc]].op == Op.END) and not th.hyp

    def thread_pairs(self, t: int, th: Thread, migrations: int) -> frozenset[Pair]:
        """The pairs thread ``t`` may still look up (module doc)."""
        if self._rg.thread_rid[t] < 0 or not self._cpu[t]:
            return frozenset()
        pc = min(th.pc, len(self._future[t]) - 1)
        migrates = self._migratable[t] and migrations < self._max_migrations
        if self._trap_from[t][pc] or (migrates and self._hook[t] and not self._finished(th, t)):
            return self._all[t]
        pairs = self._future[t][pc]
        for ident in th.hyp:
            pairs = pairs | self._code(t, ident)
        if self._fetches[t] and not self._finished(th, t):
            pairs = pairs | self._fetches[t]
        return pairs

    def live(self, state: State) -> tuple[Live, ...]:
        """Per PE, the (tag, input) pairs it may still look up (None: all)."""
        threads = state.threads
        migrations = state.migrations
        last = self._last
        if threads is last[0] and migrations == last[1]:
            return last[2]
        key = (threads, migrations)
        found = self._memo.get(key)
        if found is None:
            per_pe: list[set[Pair]] = [set() for _ in range(self._n_pes)]
            for t, th in enumerate(threads):
                pairs = self.thread_pairs(t, th, migrations)
                if not pairs:
                    continue
                if self._migratable[t] and migrations < self._max_migrations:
                    for pe_pairs in per_pe:
                        pe_pairs |= pairs
                elif th.pe >= 0:
                    per_pe[th.pe] |= pairs
            found = tuple(frozenset(p) for p in per_pe)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = found
        self._last = (threads, migrations, found)
        return found

    def drop(self, state: State) -> State:
        """``state`` without its dead TLB entries (the same object when there are none)."""
        tlbs = state.tlbs
        if not any(tlbs):
            return state
        live = self.live(state)
        kept = tuple(_alive(x, live[pe]) for pe, x in enumerate(tlbs))
        if kept == tlbs:
            return state
        return state._replace(tlbs=kept)

    def fillable(
        self, state: State, pe: int, candidates: Iterable[tuple[int, int, int]]
    ) -> list[tuple[int, int, int]]:
        """The TLB fills of PE ``pe`` whose entry is live (a dead one would be dropped at once)."""
        live = self.live(state)[pe]
        if live is None:
            return list(candidates)
        return [c for c in candidates if (c[0], c[1]) in live]


def _alive(entries: tlb.Tlb, live: Live) -> tlb.Tlb:
    if live is None or not entries:
        return entries
    kept = tuple(e for e in entries if (e.regime, e.key) in live)
    return entries if len(kept) == len(entries) else kept
