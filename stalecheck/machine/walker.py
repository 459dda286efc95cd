"""Translation of one access: the TLB if it holds the input, else a walk of tables in memory.

The walker is an observer of its own (D8.2; seed 003): it never sees the PE's
buffered stores, cacheable walks are coherent, Non-cacheable walks may hit a
cached copy (B2.11), and a non-coherent walker reads the PoC.
"""

from __future__ import annotations

from collections.abc import Callable

from stalecheck.errors import ScenarioError
from stalecheck.machine import caches, tlb
from stalecheck.machine.access import Access
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.regimes import Regimes
from stalecheck.machine.state import UNREAD, Query, State, unanswered
from stalecheck.machine.translation import (
    ATTR_SHIFT,
    CONTIG,
    FSC_TLB_CONFLICT,
    OA_SHIFT,
    RO,
    XN,
    check_permission,
    desc_oa,
    fault,
    is_fault,
    walk,
    with_ipa,
)

_STR = Op.STR  # bound once: reading an enum member costs about ten global reads (regimes.py)

# A walk memo's entries (``Walker.memo``): cleared when it grows past this many.
WALK_MEMO_LIMIT = 1 << 16
BY_INNER_LIMIT = 64  # results kept per read-tree root, by memory and copies

WalkRead = tuple[int, str, int, int]  # (PE, walk kind, line, offset): one entry a walk reads


class _Ask:
    """A node of a read tree: the next entry the computation read, and one subtree per
    value the walker saw there (a NC walk may see several: a tuple)."""

    __slots__ = ("by_inner", "next", "query")

    def __init__(self, query: WalkRead) -> None:
        self.query = query
        self.next: dict[tuple[int, ...], _Ask | _Done] = {}
        # At a root: the result for each memory met, by its id (memory, copies, result:
        # the objects are held, so an id is not reused while it is here).
        self.by_inner: dict[int, tuple[object, object, object]] = {}


class _Done:
    """A leaf of a read tree: what the computation returned after those reads."""

    __slots__ = ("result",)

    def __init__(self, result: object) -> None:
        self.result = result


class Walker:
    """Walks and TLB lookups of one variant's regimes.

    Walks and TLB candidates are memoized by what they read (``_memo``): everything but
    the table entries comes from the PE's TLB and static tables, so the memo is keyed by
    the TLB, and each entry is a tree of the table entries read, in the order read, and
    the values the walker saw there.  A later state with that TLB re-reads the entries
    along the tree (a handful of ``coherent_value`` calls) instead of walking again;
    with quiet lines the outer part of a guest's states is mostly TLBs, so the plans of
    ``plan.py`` miss and walking was half of the search (tests/machine/test_walk_memo.py
    compares with the unmemoized walker state by state)."""

    def __init__(self, layout: Layout, regimes: Regimes, access: Access | None = None) -> None:
        self.layout = layout
        self.regimes = regimes
        self.data = access  # its quiet lines: a walk past the caches refuses them (reduction.py)
        self._nc_may_hit = layout.spec.options.nc_reads_may_hit
        self.ask: Callable[[Query], tuple[int, ...]] = unanswered  # a probe's oracle (machine/plan.py)
        self.memoize = True  # tests turn it off to compare
        self._memo: dict[tuple[object, ...], _Ask | _Done] = {}
        self._trace: list[tuple[WalkRead, tuple[int, ...]]] | None = None  # reads of the computation
        self._replay: list[tuple[WalkRead, tuple[int, ...]]] = []  # reads made, to answer again
        self._read_mem: object = None  # the memory and copies ``_reads`` were read from
        self._read_copies: object = None
        self._reads: dict[WalkRead, tuple[int, ...]] = {}

    def _memoized(self, key: tuple[object, ...], state: State, compute: Callable[[], object]) -> object:
        """``compute()``, which reads nothing of ``state`` but what ``key`` holds and the
        table entries it reads through ``walker_values``: replayed along the read tree."""
        if not self.memoize or self._trace is not None:
            return compute()
        memo = self._memo
        node = memo.get(key)
        asked: list[tuple[WalkRead, tuple[int, ...]]] = []
        mem = state.mem
        if mem is not UNREAD and node is not None:
            copies = state.copies
            root = node
            if type(root) is _Ask:  # a real state's memory and copies met before at this root
                hit = root.by_inner.get(id(mem))
                if hit is not None and hit[0] is mem and hit[1] is copies:
                    return hit[2]
            # Its reads are kept while the next calls ask of the same memory and copies
            # (a state's PEs, inputs and XLATE steps read the same entries).
            if mem is not self._read_mem or copies is not self._read_copies:
                self._read_mem, self._read_copies, self._reads = mem, copies, {}
            reads = self._reads
            while type(node) is _Ask:
                query = node.query
                seen = reads.get(query)
                if seen is None:
                    seen = reads[query] = self.values(copies, mem, *query)
                asked.append((query, seen))
                node = node.next.get(seen)
            if type(node) is _Done and type(root) is _Ask:
                if len(root.by_inner) >= BY_INNER_LIMIT:
                    root.by_inner.clear()
                root.by_inner[id(mem)] = (mem, copies, node.result)
        while node is not None:
            if type(node) is _Done:
                return node.result
            assert isinstance(node, _Ask)
            pe, kind, line, offset = node.query
            seen = self.walker_values(state, pe, kind, line, offset)
            asked.append((node.query, seen))
            node = node.next.get(seen)
        # Not in the tree: compute, its first reads answered by those just made (a probe's
        # oracle, plan.py, must be asked each question once, in the order computed).
        trace: list[tuple[WalkRead, tuple[int, ...]]] = []
        self._trace = trace
        self._replay = asked[::-1]
        try:
            result = compute()
        finally:
            self._trace = None
            self._replay = []
        if len(memo) >= WALK_MEMO_LIMIT:
            memo.clear()
        parent: dict[object, _Ask | _Done] = memo  # type: ignore[assignment]
        at: object = key
        for query, seen in trace:
            found = parent.get(at)
            if found is None:
                found = parent[at] = _Ask(query)
            assert isinstance(found, _Ask) and found.query == query, "a walk read out of order"
            parent, at = found.next, seen  # type: ignore[assignment]
        parent[at] = _Done(result)
        return result

    def walker_values(self, state: State, pe: int, walk_kind: str, line: int, offset: int) -> tuple[int, ...]:
        """What the walker may read for one entry: it is an observer of its own and
        never sees the PE's buffered stores (D8.2 the walk is a separate observer,
        seed 003); cacheable walks are coherent, NC walks may hit (B2.11), a
        non-coherent walker reads the PoC."""
        if self._replay:  # read just before on this state (``_memoized``)
            query, seen = self._replay.pop()
            assert query == (pe, walk_kind, line, offset), "a walk read out of order"
        elif state.mem is UNREAD:  # a probe (machine/plan.py): the values come from its oracle
            seen = self.ask((self.values, pe, walk_kind, line, offset))
        else:
            seen = self.values(state.copies, state.mem, pe, walk_kind, line, offset)
        if self._trace is not None:
            self._trace.append(((pe, walk_kind, line, offset), seen))
        return seen

    def values(
        self, copies: caches.Copies, mem: caches.Memory, pe: int, walk_kind: str, line: int, offset: int
    ) -> tuple[int, ...]:
        """``walker_values`` of these memory and copies."""
        lay = self.layout
        if walk_kind == "wb":
            return (caches.coherent_value(copies, mem, lay.h, pe, line, lay.nl)[offset],)
        if self.data is not None:  # D8.2 R_XGXKR: a NC walk is a mismatched access (B2.11)
            self.data.refuse_quiet(line, f"a {walk_kind} table walk of PE{pe}", "past the caches")
        if walk_kind == "noncoherent":
            return (mem[line][offset],)
        return caches.bypass_read_options(copies, mem, lay.h, pe, line, offset, self._nc_may_hit, lay.nl)

    def walk_results(
        self,
        state: State,
        pe: int,
        rid: int,
        key: int,
        seen: set[tuple[int, int]] | None = None,
        combined: set[tuple[int, int]] | None = None,
    ) -> tuple[int, ...]:
        """Walk of one input: no leaf entry of this stage from the TLB, but the walk may
        start from a table entry of its walk cache (tlb.py), plain or, for a guest's stage
        1, combined (its next table's PA), and stage 2 of a table access may use the TLB.
        ``seen`` collects the Table descriptors walked through; ``combined`` the combined
        table entries a guest's walk cache may hold for them (level position, the Table
        descriptor with its next table's IPA line replaced by each PA line stage 2 gave)."""
        rg = self.regimes
        regime = rg.regimes[rid]
        s2 = rg.rid[regime.s2] if regime.s2 else -1
        pa_of: dict[int, set[int]] = {}  # a table's IPA line -> the PA lines stage 2 gave it

        def line_offset(table_line: int, index: int) -> tuple[int, int]:
            return table_line, index

        def read_pa(line: int, offset: int) -> tuple[int, ...]:
            return self.walker_values(state, pe, regime.walk, line, offset)

        def read(line: int, offset: int) -> tuple[int, ...]:
            if s2 < 0:
                return read_pa(line, offset)
            page = self.layout.lines[line].page
            ipa_key = rg.keys[s2].get(page)
            if ipa_key is None:
                raise ScenarioError(f"stage-2 regime {regime.s2!r} does not translate table page {page!r}")
            out: list[int] = []
            for r2 in self.translate(state, pe, s2, ipa_key):
                if is_fault(r2):
                    out.append(r2)
                    continue
                pa_line = rg.same_line_in(line, desc_oa(r2))
                pa_of.setdefault(line, set()).add(pa_line)
                out.extend(read_pa(pa_line, offset))
            return tuple(sorted(set(out)))

        root = self.layout.line_index[regime.root]
        held = state.tlbs[pe]
        prefixes = rg.prefixes[rid][key]

        def cached(level_pos: int) -> tuple[int, ...]:
            return tlb.lookup(held, rg.leaf_tag(rid, tlb.TABLE + level_pos), prefixes[level_pos])

        def cached_pa(level_pos: int) -> tuple[int, ...]:
            return tlb.lookup(held, rg.leaf_tag(rid, tlb.COMBINED_TABLE + level_pos), prefixes[level_pos])

        seen_here = seen if seen is not None or combined is None else set()
        results = walk(
            regime, rg.key_names[rid][key], root, read, line_offset, cached, seen_here,
            cached_pa if s2 >= 0 else None, read_pa,
        )
        if combined is not None and s2 >= 0 and seen_here is not None:
            low = (1 << OA_SHIFT) - 1
            for p, desc in seen_here:
                combined.update((p, (desc & low) | (pa << OA_SHIFT)) for pa in pa_of.get(desc_oa(desc), ()))
        # D8.17.1 I_HYQMB: two walk-cache entries for one input at one level ("For Table
        # descriptors, this also applies to intermediate TLB caching structures") may give
        # a TLB conflict abort, as two leaf entries may (``translate``).
        if any(len(cached(p)) > 1 or len(cached_pa(p)) > 1 for p in range(len(regime.levels) - 1)):
            results = tuple(sorted({*results, fault(FSC_TLB_CONFLICT)}))
        if regime.stage == 2:  # remember which IPA page faulted, for the hypervisor (HPFAR_EL2)
            ipa = rg.page_index.get(rg.key_names[rid][key], -1)
            results = tuple(with_ipa(r, ipa) for r in results)
        return results

    def translate(self, state: State, pe: int, rid: int, key: int) -> tuple[int, ...]:
        """One stage's results: the TLB's if it holds any, else a walk.  Two different
        entries for one input may give a TLB conflict abort (D8.16 Translation Lookaside Buffers)."""
        rg = self.regimes
        cached = tlb.lookup(state.tlbs[pe], rg.leaf_tag(rid), rg.tlb_key[rid][key])
        if len(cached) == 1:
            return cached
        if cached:
            return (*cached, fault(FSC_TLB_CONFLICT))
        return self.walk_results(state, pe, rid, key)

    def full(self, state: State, pe: int, rid: int, key: int, write: bool, fetch: bool) -> tuple[int, ...]:
        """``both_stages``, memoized by the PE's TLB and the table entries read."""
        return self._memoized(  # type: ignore[return-value]
            (0, pe, rid, key, write, fetch, state.tlbs[pe]),
            state,
            lambda: self.both_stages(state, pe, rid, key, write, fetch),
        )

    def both_stages(
        self, state: State, pe: int, rid: int, key: int, write: bool, fetch: bool
    ) -> tuple[int, ...]:
        """Both stages: a stage-1 leaf's output (an IPA page) goes through stage 2; the
        result's attributes are the more restrictive of the two (D8.6.5, FWB=0),
        permissions the intersection.  A combined stage 1+2 entry of the TLB (tlb.py)
        may give the result directly; its permission faults are reported as stage 1's
        (Model: the ESR's stage may then be wrong, never whether it faults)."""
        rg = self.regimes
        regime = rg.regimes[rid]
        out: set[int] = set()
        if regime.s2:
            combined = tlb.lookup(state.tlbs[pe], rg.leaf_tag(rid, tlb.COMBINED), rg.tlb_key[rid][key])
            out.update(check_permission(r, regime, write, fetch) for r in combined)
            if len(combined) > 1:  # D8.16: two entries for one input may give a TLB conflict abort
                out.add(fault(FSC_TLB_CONFLICT))
        for r1 in self.translate(state, pe, rid, key):
            r1 = check_permission(r1, regime, write, fetch)
            if is_fault(r1) or not regime.s2:
                out.add(r1)
                continue
            s2 = rg.rid[regime.s2]
            ipa = self.layout.pages[desc_oa(r1)]
            ipa_key = rg.keys[s2].get(ipa)
            if ipa_key is None:
                raise ScenarioError(f"stage-2 regime {regime.s2!r} does not translate IPA page {ipa!r}")
            for r2 in self.translate(state, pe, s2, ipa_key):
                r2 = check_permission(r2, rg.regimes[s2], write, fetch)
                if is_fault(r2):
                    out.add(r2)
                    continue
                attr = max((r1 >> ATTR_SHIFT) & 3, (r2 >> ATTR_SHIFT) & 3)
                bits = ((r1 | r2) & (RO | XN)) | (r1 & 7)
                out.add(bits | (attr << ATTR_SHIFT) | (desc_oa(r2) << OA_SHIFT))
        return tuple(sorted(out))

    def access(self, state: State, t: int, instr: Instr) -> tuple[int, ...]:
        """Results of thread ``t``'s access ``instr`` at its pc: the translation made
        ahead of time if there is one, else a translation now."""
        th = state.threads[t]
        for pc, result in th.early:
            if pc == th.pc and not th.hyp:
                return (result,)
        rid = self.regimes.thread_rid[t]
        key = self.regimes.keys[rid][instr.loc]
        return self.full(state, th.pe, rid, key, instr.op == Op.STR, instr.op == Op.EXEC)

    def access_at(self, state: State, t: int, instr: Instr) -> tuple[int, ...]:
        """Results of translating ``instr`` now (for a translation made ahead of time)."""
        rid = self.regimes.thread_rid[t]
        key = self.regimes.keys[rid][instr.loc]
        return self.full(state, state.threads[t].pe, rid, key, instr.op == _STR, False)

    def tlb_candidates(self, state: State, pe: int) -> list[tuple[int, int, int]]:
        """Entries a PE may cache now (tlb.py), for the regimes of the threads running on
        it (and their stage 2), each input: every non-faulting walk result (a leaf), every
        Table descriptor on the walk (a walk-cache entry of its prefix), and for a guest
        regime every non-faulting result of both stages (a combined entry); as (tag,
        input, result), those not yet held."""
        rg = self.regimes
        rids: set[int] = set()
        for t, th in enumerate(state.threads):
            if th.pe != pe or self.layout.finished(state, t):
                continue
            rid = rg.thread_rid[t]
            if rid >= 0:
                rids.add(rid)
                if rg.regimes[rid].s2:
                    rids.add(rg.rid[rg.regimes[rid].s2])
        ordered = tuple(sorted(rids))
        found: tuple[tuple[int, int, int], ...] = self._memoized(  # type: ignore[assignment]
            (1, pe, ordered, state.tlbs[pe]), state, lambda: self.candidates_of(state, pe, ordered)
        )
        return list(found)

    def candidates_of(self, state: State, pe: int, rids: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
        """``tlb_candidates`` of these regimes."""
        rg = self.regimes
        found: set[tuple[int, int, int]] = set()
        n_pages = len(self.layout.pages)
        for rid in rids:
            two_stage = bool(rg.regimes[rid].s2)
            leaf = rg.leaf_tag(rid)
            walked: list[tuple[int, ...]] = []
            for key in range(len(rg.key_names[rid])):
                seen: set[tuple[int, int]] = set()
                pairs: set[tuple[int, int]] = set()  # combined table entries (guest stage 1)
                tkey = rg.tlb_key[rid][key]
                leaves = tuple(r for r in self.walk_results(state, pe, rid, key, seen, pairs) if r >= 0)
                walked.append(leaves)
                found.update((leaf, tkey, r) for r in leaves)
                for other, delta in rg.contiguous[rid][key]:  # D8.7.1: one entry for the range
                    found.update(
                        (leaf, rg.tlb_key[rid][other], r + delta * (1 << OA_SHIFT))
                        for r in leaves
                        if r & CONTIG and 0 <= desc_oa(r) + delta < n_pages
                    )
                prefixes = rg.prefixes[rid][key]
                found.update((rg.leaf_tag(rid, tlb.TABLE + p), prefixes[p], desc) for p, desc in seen)
                found.update((rg.leaf_tag(rid, tlb.COMBINED_TABLE + p), prefixes[p], d) for p, d in pairs)
                if two_stage:
                    combined = rg.leaf_tag(rid, tlb.COMBINED)
                    both = self.both_stages(state, pe, rid, key, False, False)
                    found.update((combined, tkey, r) for r in both if r >= 0)
            for key, others in enumerate(rg.contiguous[rid]):  # D8.7.1.1: a misprogrammed range
                if others:
                    span = [(0, walked[key]), *((-delta, walked[other]) for other, delta in others)]
                    tkey = rg.tlb_key[rid][key]
                    found.update((leaf, tkey, r) for r in tlb.misprogrammed(span, CONTIG, OA_SHIFT, n_pages))
        return tuple(sorted(found - set(state.tlbs[pe])))
