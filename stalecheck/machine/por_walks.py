"""The lines a translation table walk may ever read, for partial-order reduction.

Why: ``machine/por_footprints.py`` took every walk (a TLB fill, a translation now or
ahead) as reading every line, because tables are found through descriptors in memory
(D8.2: the walk reads the root table, then the table each Table descriptor names).  So
every cache step and store conflicted with every TLB, and the reduction saved nothing
under the translation model.  Here each regime gets a bound that holds for the whole
search: the tables its walks can reach through any descriptor value any line may ever
hold.

*The values a line may hold* (``LineValues``): its initial values; every immediate a
program stores to it by name; an immediate stored through a virtual address may land
in any line; a store of a register, an atomic or any other instruction that writes
memory with a value not known in advance makes every value possible ("unknown") in
its line, or in every line when the address is virtual.  Hypervisor policies run code
that is not known in advance: a VM with a policy makes every line unknown, unless the
policy declares what it stores (a ``stores`` attribute: the (location, value) pairs of
every STR its code may hold, which ``PartialOrder`` checks on every policy code the
search meets: ``check_policy_code``).

*The lines a walk may read* (``WalkLines.regime``): from the root table (D8.2), at each
non-last level the lines named by every valid Table descriptor among the values of the
lines read at that level (a Table descriptor's output is a line index: translation.py),
each table at its one line.  A guest's stage-1 table is at an IPA: it is read at the
same position of every page a stage-2 leaf may give for the table's page (walker.py
``read``), and the stage-2 walk reads its own tables.  A walk that starts from a walk
cache entry (D8.16 R_SQBCS) starts at a table a Table descriptor named, and a combined
entry (D8.17 R_RRVJDB) at the same position of a page stage 2 gave: both are in the
bound.  A leaf a TLB holds from the start (``Builder.tlb_holds``) counts as one the
walk may give.  A Contiguous leaf (D8.7.1) may give neighbouring pages: every page then.  When
a value set needed is unknown, the bound is every line.  Tests: ``tests/explore/
test_por.py`` (steps taken as independent commute, verdicts equal on random systems
with translation, stage 2 and policies).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.regimes import Regimes
from stalecheck.machine.spec import Policy, VMSpec
from stalecheck.machine.translation import CONTIG, TABLE, VALID, desc_oa

# Instructions that never write memory (a DC moves data between caches and memory but
# writes no new value: B2.11; MAP and HCR change the VM's registers, not memory).
_NO_VALUE = frozenset(
    {
        Op.LDR, Op.AWAIT, Op.DC, Op.DCSW, Op.IC, Op.DMB, Op.DSB, Op.ISB, Op.MSR, Op.SIGNAL, Op.WAIT,
        Op.MAP, Op.NOP, Op.EMSR, Op.HCR, Op.EXEC, Op.TLBI, Op.ATCHECK, Op.ASSUME, Op.PATHS, Op.END,
    }
)

POLICIES = ("on_stage2_fault", "on_setway", "on_sctlr", "on_cmo", "on_mmio", "on_vcpu_load")
STORES = "stores"  # the attribute a policy declares its stores in


def declare_stores(policy: Policy, stores: Iterable[tuple[str, int]]) -> Policy:
    """Say that ``policy``'s code stores nothing but ``stores`` ((location, immediate)
    pairs): the walk bounds then take only those values (module doc)."""
    setattr(policy, STORES, tuple(stores))
    return policy


def declared_stores(vm: VMSpec) -> frozenset[tuple[str, int]] | None:
    """The (location, value) pairs the VM's policies say their code may store, or None
    when a policy says nothing (its code may store anything anywhere)."""
    out: set[tuple[str, int]] = set()
    for name in POLICIES:
        policy = getattr(vm, name)
        if policy is None:
            continue
        stores = getattr(policy, STORES, None)
        if stores is None:
            return None
        out.update(stores)
    return frozenset(out)


class LineValues:
    """The values each entry (line, offset) may ever hold (module doc); ``None``: any."""

    def __init__(self, layout: Layout, init: Sequence[Sequence[int]]) -> None:
        self.layout = layout
        self.values: list[list[set[int] | None]] = [[{v} for v in row] for row in init]
        self._anywhere: set[int] = set()  # immediates stored through a virtual address
        everywhere_unknown = False
        for prog in layout.programs:
            for ident in prog:
                everywhere_unknown |= self._store(layout.code[ident])
        for vm in layout.vms:
            stores = declared_stores(vm)
            if stores is None:
                everywhere_unknown = True
                continue
            for loc, value in stores:
                self._add(loc, value)
        for row in self.values:
            for offset, found in enumerate(row):
                if everywhere_unknown:
                    row[offset] = None
                elif found is not None:
                    found |= self._anywhere

    def _add(self, loc: str, value: int | None) -> None:
        """``value`` (None: any) may be stored at location or line ``loc``."""
        lay = self.layout
        if loc in lay.locations:
            line, offset = lay.loc_index(loc)
            offsets: Iterable[int] = (offset,)
        else:
            line = lay.line_of(loc)
            offsets = range(len(self.values[line]))
        row = self.values[line]
        for offset in offsets:
            found = row[offset]
            if found is None:
                continue
            if value is None:
                row[offset] = None
            else:
                found.add(value)

    def _store(self, instr: Instr) -> bool:
        """Note what ``instr`` may store; True: any value, in any line."""
        if instr.op in _NO_VALUE:
            return False
        known = _immediate(instr)
        if instr.loc and self.layout.names_a_line(instr.loc) and not instr.addr:
            self._add(instr.loc, instr.value if known else None)
            return False
        if known:
            self._anywhere.add(instr.value)  # a virtual address: whichever line it reaches
            return False
        return True

    def at(self, line: int, offset: int) -> set[int] | None:
        row = self.values[line]
        return row[offset] if offset < len(row) else set()


def _immediate(instr: Instr) -> bool:
    """Whether ``instr`` is a plain store of its immediate (no register, no atomic)."""
    return instr.op == Op.STR and not instr.reg and not instr.data and not instr.flags and not instr.addr


class WalkLines:
    """Per regime, the lines its walks may read, as a bitmask (module doc)."""

    def __init__(self, layout: Layout, regimes: Regimes, values: LineValues) -> None:
        self.layout = layout
        self.rg = regimes
        self.values = values
        self.all = (1 << layout.nl) - 1
        self._memo: dict[int, int] = {}
        self._walks: dict[tuple[int, int], tuple[int, set[int] | None]] = {}

    def regime(self, rid: int) -> int:
        """The lines any walk of regime ``rid`` may read, its stage 2's included, and
        those of the regimes whose TLB entries it shares (same VMID and ASID: a walk may
        start from their walk-cache entries, D8.16 R_SQBCS)."""
        found = self._memo.get(rid)
        if found is None:
            rg = self.rg
            found = 0
            for other in range(rg.n):
                if rg.tlb_rid[other] == rg.tlb_rid[rid]:
                    for key in range(len(rg.key_names[other])):
                        found |= self.walk(other, key)[0]
            self._memo[rid] = found
        return found

    def walk(self, rid: int, key: int) -> tuple[int, set[int] | None]:
        """The lines a walk of input ``key`` of ``rid`` may read, and the pages its leaf
        may name (None: any page)."""
        found = self._walks.get((rid, key))
        if found is None:
            self._walks[(rid, key)] = (self.all, None)  # a regime that is its own stage 2
            found = self._walks[(rid, key)] = self._walk(rid, key)
        return found

    def _walk(self, rid: int, key: int) -> tuple[int, set[int] | None]:
        rg, lay = self.rg, self.layout
        regime = rg.regimes[rid]
        s2 = rg.rid[regime.s2] if regime.s2 else -1
        indices = regime.vas[rg.key_names[rid][key]]
        last = len(regime.levels) - 1
        n_pages = len(lay.pages)
        read = 0
        leaves: set[int] = set()
        for held in rg.spec.tlb_init:  # a leaf a TLB holds from the start (Builder.tlb_holds)
            if held.regime in rg.rid and rg.tlb_rid[rg.rid[held.regime]] == rg.tlb_rid[rid]:
                if held.desc & CONTIG:
                    return self.all, None
                leaves.add(desc_oa(held.desc))
        todo = [(0, lay.line_index[regime.root])]
        met: set[tuple[int, int]] = set()
        while todo:
            pos, table = todo.pop()
            if (pos, table) in met:
                continue
            met.add((pos, table))
            where = [table]
            if s2 >= 0:  # an IPA: the same position in every page stage 2 may give (walker.read)
                page = lay.lines[table].page
                s2_key = rg.keys[s2].get(page)
                if s2_key is None:
                    continue  # the walker refuses such a table (ScenarioError)
                s2_read, s2_pages = self.walk(s2, s2_key)
                read |= s2_read
                if s2_pages is None:
                    return self.all, None
                at = rg.page_lines[rg.page_index[page]].index(table)
                where = [rg.page_lines[p][at] for p in s2_pages if at < len(rg.page_lines[p])]
            for line in where:
                read |= 1 << line
                found = self.values.at(line, indices[pos])
                if found is None:
                    return self.all, None
                for v in found:
                    if not v & VALID:
                        continue
                    if pos < last and v & TABLE:  # a Table descriptor: its output is a line
                        if 0 <= desc_oa(v) < lay.nl:
                            todo.append((pos + 1, desc_oa(v)))
                    elif v & CONTIG:
                        return read, None  # D8.7.1: the entry may serve a neighbouring page
                    elif 0 <= desc_oa(v) < n_pages:
                        leaves.add(desc_oa(v))
        return read, leaves


def check_policy_code(vm: VMSpec, code: Iterable[Instr], declared: frozenset[tuple[str, int]]) -> str | None:
    """Why policy ``code`` of ``vm`` breaks its declared stores (None: it keeps them)."""
    for instr in code:
        if instr.op in _NO_VALUE:
            continue
        if not _immediate(instr) or (instr.loc, instr.value) not in declared:
            return f"a policy of VM {vm.name!r} ran {instr}, which its declared stores do not hold"
    return None
