"""Dead TLB entries: entries no remaining translation can use are never filled, and dropped.

*The rule used.*  A PE may drop any TLB entry at any time: D8.16.2 "An unlocked
TLB entry is not guaranteed to remain in the TLB", D8.17 I_YGYRY "There is no
guarantee that an unlocked TLB entry remains in the cache" (the model has no
lockdown).  A TLB fill is optional too: D8.16 R_SQBCS, an entry "is permitted to be
cached".  So the reduced machine's runs are runs of the full one: a fill it skips is
one the full machine need not make, and a drop it makes is one the full machine may
make at that point.

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
- a guest regime's walk may reach the IPA pages of its tables and outputs, found
  from its root through every descriptor value a table line may hold (``Tables``),
  so each of its inputs keeps the stage-2 entries of those pages live.

Each of these only shrinks along any step, so a dead entry stays dead (but see below).

*Translations made ahead.*  An access whose translation was made ahead
(``Thread.early``, a non-faulting result) uses it and looks nothing up, unless the
result is discarded first: by a context synchronisation of its thread (ISB, an SCTLR
write taking effect, exception entry or return), or by a broadcast TLBI of its input
completing on another PE (``mmu._forget_remote_translations``, D8.17 R_LXHLD).  While
no instruction between the pc and the access can synchronise or take an exception
(no ISB or MSR, nothing that may trap or fault: every translated access before it
holds a non-faulting result for the same input, an instruction fetch a non-faulting
fetch), and the thread runs no EL2 code, has no pending SCTLR write and cannot
migrate, only such a TLBI can make it look up again; and that TLBI removes the leaf
and combined entries of that input (of its VMID/ASID group, on every PE) in the same
step.  So those two entries are left out of the thread's part (a policy that only a
re-translation after that TLBI could run counts as after the cleaning too): they
become live again only in a step that removes them, which keeps alike states alike.

*Why the verdict is kept.*  Let two states be *alike* when they differ only in
dead TLB entries (deadness depends on the threads and the migration count alone,
which alike states share).  No step reads a dead entry, so from alike states the
same steps are enabled (TLB_DROP of a dead entry aside, and TLB_FILL of dead ones,
which only make alike states) with alike results, and an entry that becomes live
again does so only in a step that removes it from both.  The reduced machine takes each
step of the full one and then drops the entries that became dead (folded into the
step that made them dead, so no extra step), and skips dead fills and drops: every
full run maps to a reduced run, no longer, that ends in an alike state, and every
reduced run is a full run (drops inserted) of the same number of observable steps.
A bad state does not read TLBs (``StateView.tlb`` refuses under this reduction), so
reachability and the shortest witness's length are the same with and without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from stalecheck.errors import ScenarioError
from stalecheck.machine import tlb
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.regimes import DATA_OPS, Regimes
from stalecheck.machine.spec import Context
from stalecheck.machine.state import State, Thread
from stalecheck.machine.translation import AF, CONTIG, TABLE, VALID, desc_oa
from stalecheck.machine.traps import Traps

Slot = tuple[int, int]  # a location as (line, entry of the line)
Pair = tuple[int, int]  # a TLB entry's tag and input (``tlb.TlbEntry`` without its result)
Live = frozenset[Pair] | None  # a PE's live pairs; None: every entry
_MEMO_LIMIT = 1 << 16
# Instructions whose execution discards the translations made ahead (sysregs.synchronise:
# ISB), or may (an MSR leaves a pending SCTLR write, which a SYSREG step synchronises).
_SYNCHRONISING = (Op.ISB, Op.MSR, Op.EMSR)


class Tables:
    """Which IPA pages each guest stage-1 regime's walks may reach (static).

    Every value a location may ever hold: its initial value, the immediates stored to
    it by name, and the immediates of translated stores (which may land anywhere); a
    store of a register (or to a register-computed address) may leave anything.  A
    walk from a root follows every Table descriptor a table entry may hold to the next
    level's line, and a Page or Block descriptor with its Access flag to an output page
    (with the Contiguous bit, to the pages its range may extrapolate to: D8.7.1).  A
    guest's stage-1 table line is read at the PA its stage 2 gives for the table's IPA
    page (walker.py), found the same way through the stage-2 table; where that is not
    bounded, at the same place (line of its page, entry of its line) of any page.
    Hypervisor policies are code no one sees in advance: ``check_policy`` refuses
    (ScenarioError) a policy store of a value this analysis did not count into an entry
    such a walk may read, so the search stops instead of answering on a wrong
    assumption."""

    def __init__(self, layout: Layout, regimes: Regimes) -> None:
        self._lay = layout
        self._rg = rg = regimes
        self._page_lines = rg.page_lines
        self._place = tuple(
            rg.page_lines[rg.page_index[ln.page]].index(i) for i, ln in enumerate(layout.lines)
        )
        values: dict[Slot, set[int]] = {}  # (line, entry) -> values it may hold
        anything: set[Slot] = set()
        spread: set[int] = set()  # immediates of translated stores: any location may hold them
        everywhere = False
        for line, spec in enumerate(layout.lines):
            for offset, loc in enumerate(spec.locations):
                values[(line, offset)] = {layout.spec.init.get(loc, 0)}
        for t, prog in enumerate(layout.programs):
            for ident in prog:
                instr = layout.code[ident]
                if instr.op != Op.STR:
                    continue
                if instr.addr or (rg.is_va(t, instr.loc) and (instr.reg or instr.data)):
                    everywhere = True
                elif rg.is_va(t, instr.loc):
                    spread.add(instr.value)
                elif instr.reg or instr.data:
                    anything.add(self._slot(instr.loc))
                else:
                    values.setdefault(self._slot(instr.loc), set()).add(instr.value)
        for slot_values in values.values():
            slot_values |= spread
        self._values = values
        self._anything = anything
        self._everywhere = everywhere
        self.watched: set[Slot] = set()  # entries whose values bound what a guest's walk reaches
        self.outputs: list[frozenset[int] | None] = [
            self._guest(rid) if rg.regimes[rid].s2 else None for rid in range(rg.n)
        ]

    def _slot(self, loc: str) -> Slot:
        """The (line, entry) a store to ``loc`` writes."""
        lay = self._lay
        return lay.locations[loc] if loc in lay.locations else (lay.line_of(loc), 0)

    def _walk(
        self, rid: int, indices: tuple[int, ...], slots_of: Callable[[int, int], set[Slot]], tables: set[int]
    ) -> set[int] | None:
        """The output pages a walk of one input of ``rid`` may reach (None: any), reading
        entry ``index`` of table line ``line`` at ``slots_of(line, index)``; the pages of
        its table lines are added to ``tables``."""
        lay = self._lay
        regime = self._rg.regimes[rid]
        pages: set[int] = set()
        n_pages = len(lay.pages)
        lines = {lay.line_index[regime.root]}
        for pos, index in enumerate(indices):
            last = pos == len(regime.levels) - 1
            following: set[int] = set()
            for line in lines:
                tables.add(self._rg.page_index[lay.lines[line].page])
                for slot in slots_of(line, index):
                    self.watched.add(slot)
                    if self._everywhere or slot in self._anything:
                        return None
                    for desc in self._values.get(slot, ()):
                        oa = desc_oa(desc)
                        if not desc & VALID:
                            continue
                        if not last and desc & TABLE:
                            if not 0 <= oa < lay.nl:
                                return None
                            following.add(oa)
                        elif desc & AF:
                            wide = regime.contig - 1 if desc & CONTIG else 0
                            pages.update(p for p in range(oa - wide, oa + wide + 1) if 0 <= p < n_pages)
            lines = following
        return pages

    def _guest(self, rid: int) -> frozenset[int] | None:
        """The IPA pages of guest regime ``rid``'s tables and outputs (None: any page)."""
        rg, lay = self._rg, self._lay
        s2 = rg.rid[rg.regimes[rid].s2]
        s2_regime = rg.regimes[s2]

        def own(line: int, index: int) -> set[Slot]:
            return {(line, index)}

        def remapped(line: int, index: int) -> set[Slot]:
            """Where stage 2 may place entry ``index`` of IPA table line ``line``."""
            ipa = lay.lines[line].page
            out: set[int] | None = set()
            if ipa in s2_regime.vas:
                out = self._walk(s2, s2_regime.vas[ipa], own, set())
            if out is not None:  # and what a stage-2 entry held at start gives (tlb_holds)
                out |= {desc_oa(d) for d in self._held(s2_regime.name, ipa)}
            place = self._place[line]
            if out is None:  # any page: the same place of every page that has it
                return {(lines[place], index) for lines in self._page_lines if len(lines) > place}
            return {(self._page_lines[p][place], index) for p in out if len(self._page_lines[p]) > place}

        pages: set[int] = set()
        for va, indices in rg.regimes[rid].vas.items():
            reached = self._walk(rid, indices, remapped, pages)
            if reached is None:
                return None
            pages |= reached
            pages |= {desc_oa(d) for d in self._held(rg.regimes[rid].name, va)}
        return frozenset(pages)

    def _held(self, regime: str, va: str) -> set[int]:
        """The descriptors ``tlb_holds`` puts in a TLB at start for ``regime``'s input ``va``."""
        xlate = self._lay.spec.xlate
        return {
            e.desc for e in (xlate.tlb_init if xlate is not None else ()) if e.regime == regime and e.va == va
        }

    def lines_reached(self, rid: int) -> int | None:
        """The lines (a bitmask of physical lines) that walks and accesses through regime
        ``rid`` may touch, in every state: its table lines (through stage 2 for a guest),
        and every line of a page it may output (a TLB entry holds what some walk gave,
        or what ``tlb_holds`` put there).  None when not bounded.  Valid only when no
        policy can write memory (``reduction.DeadLines``): the values are the programs'."""
        rg, lay = self._rg, self._lay
        regime = rg.regimes[rid]
        pages: set[int] = set()

        def own(line: int, index: int) -> set[Slot]:
            return {(line, index)}

        def s2_pages(s2: int, ipa_pages: set[int]) -> set[int] | None:
            """PA pages of stage-2 regime ``s2``'s tables and of its outputs for ``ipa_pages``."""
            s2_regime = rg.regimes[s2]
            out: set[int] = set()
            for page in ipa_pages:
                name = lay.pages[page]
                if name not in s2_regime.vas:
                    continue  # the walker refuses such a walk (ScenarioError)
                reached = self._walk(s2, s2_regime.vas[name], own, out)
                if reached is None:
                    return None
                out |= reached
            return out

        if regime.s2:
            ipa = self.outputs[rid]
            if ipa is None:
                return None
            found = s2_pages(rg.rid[regime.s2], set(ipa))
            if found is None:
                return None
            pages |= found
        else:
            for indices in regime.vas.values():
                reached = self._walk(rid, indices, own, pages)
                if reached is None:
                    return None
                pages |= reached
        for entry in lay.spec.xlate.tlb_init if lay.spec.xlate is not None else ():
            if entry.regime == regime.name:
                pages.add(desc_oa(entry.desc))
        mask = 0
        for page in pages:
            if 0 <= page < len(rg.page_lines):
                for line in rg.page_lines[page]:
                    mask |= 1 << line
        return mask

    def check_policy(self, instr: Instr) -> None:
        """Refuse a policy's store that breaks the analysis (class doc)."""
        if instr.op != Op.STR or not self.watched:
            return
        slot = None if instr.addr or not self._lay.names_a_line(instr.loc) else self._slot(instr.loc)
        if slot is not None and slot not in self.watched:
            return
        if slot is None or instr.reg or instr.data or instr.value not in self._values.get(slot, ()):
            raise ScenarioError(
                f"a hypervisor policy stores {instr} where a guest's stage-1 walk may read it, a value "
                "no program stores there: the prune_dead_tlb reduction cannot bound which pages the "
                "walk reaches; turn it off for this scenario"
            )


class DeadTlb:
    """Which TLB entries each PE may still read (``live``), and the state without the others."""

    def __init__(self, layout: Layout, regimes: Regimes, traps: Traps, max_migrations: int) -> None:
        self._lay = layout
        self._rg = rg = regimes
        self._traps = traps
        self.tables = Tables(layout, regimes)
        self._policy_checked: set[int] = set()
        self._max_migrations = max_migrations
        self._code_keys: dict[tuple[int, int], frozenset[Pair]] = {}  # (thread, code id) -> pairs
        self._all: list[frozenset[Pair]] = []  # per thread: every entry its regime reaches
        self._future: list[tuple[frozenset[Pair], ...]] = []  # per thread, per pc
        self._trap_from: list[tuple[bool, ...]] = []  # per thread, per pc: may a policy still run
        self._traps_at: list[tuple[bool, ...]] = []  # per thread, per index: may that instruction trap
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
            traps_at: list[bool] = []
            for index in range(len(program) - 1, -1, -1):
                instr = layout.code[program[index]]
                future.append(future[-1] | self._code(t, program[index]))
                trap = traps.may_trap(t, instr) or (s2_policy and self._translated(t, instr))
                traps_at.append(trap)
                may_trap.append(may_trap[-1] or trap)
            self._future.append(tuple(reversed(future)))
            self._trap_from.append(tuple(reversed(may_trap)))
            self._traps_at.append(tuple(reversed(traps_at)))
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
            reached = self.tables.outputs[rid]  # IPA pages of its tables and outputs (None: any)
            for k2, ipa in enumerate(rg.key_names[s2]):
                if reached is None or rg.page_index.get(ipa, -1) in reached:
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
        if th.early and not th.hyp and th.pending < 0 and not migrates:
            return self._with_early(t, th)
        if self._trap_from[t][pc] or (migrates and self._hook[t] and not self._finished(th, t)):
            return self._all[t]
        pairs = self._future[t][pc]
        for ident in th.hyp:
            if ident not in self._policy_checked:
                self.tables.check_policy(self._lay.code[ident])
                self._policy_checked.add(ident)
            pairs = pairs | self._code(t, ident)
        if self._fetches[t] and not self._finished(th, t):
            pairs = pairs | self._fetches[t]
        return pairs

    def _with_early(self, t: int, th: Thread) -> frozenset[Pair]:
        """``thread_pairs`` of a thread holding translations made ahead (module doc,
        *Translations made ahead*): the leaf and combined entries of the input they
        share are left out while only a cleaning TLBI can make the thread look them up."""
        lay, rg = self._lay, self._rg
        rid = rg.thread_rid[t]
        prog = lay.programs[t]
        made = dict(th.early)
        uncleaned: set[Pair] = set()  # looked up with no TLBI cleaning first
        cleaned: set[Pair] = set()  # looked up only after a TLBI removed the shared input's entries
        shared = -1  # the input (``tlb_key``) of the translations left out
        stable = True  # no exception or synchronisation possible from the pc to here
        policy_uncleaned = policy_cleaned = False
        for j in range(th.pc, len(prog)):
            ident = prog[j]
            instr = lay.code[ident]
            translated = self._translated(t, instr)
            trap = self._traps_at[t][j]
            result = made.get(j, -1)
            if translated and instr.op in DATA_OPS and stable and result >= 0:
                tkey = rg.tlb_key[rid][rg.keys[rid][instr.loc]]
                if shared in (-1, tkey):
                    shared = tkey
                    cleaned |= self._code(t, ident)
                    policy_cleaned = policy_cleaned or trap
                    continue
            uncleaned |= self._code(t, ident)
            policy_uncleaned = policy_uncleaned or trap
            if (
                instr.op in _SYNCHRONISING
                or trap
                or (translated and not (instr.op == Op.EXEC and result >= 0))
            ):
                stable = False
        if self._fetches[t] and not self._finished(th, t):
            uncleaned |= self._fetches[t]
        if policy_uncleaned:
            return self._all[t]
        if policy_cleaned:
            cleaned |= self._all[t]
        if shared >= 0:
            tag = rg.tlb_rid[rid]
            n = rg.n
            cleaned -= {(tag + n * tlb.LEAF, shared), (tag + n * tlb.COMBINED, shared)}
        return frozenset(uncleaned | cleaned)

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
