"""Sound reductions of the explored state space, each stated with the verdict.

*Dead lines.*  No hardware steps on lines nobody touches again.

Write-back, drop and fill of a line only matter to a later step that reads or
maintains that line: loads and stores, buffered stores and CMOs completing, a
device access, the hardware steps of the same line.  Caches hold each line
independently (no capacity model), so a hardware step on line L commutes with
every step that does not name L.  Call L *dead* in a state when no unfinished
thread's remaining program, no EL2 code still to run, and no buffered entry
names it.  Removing every hardware step on dead lines from a run leaves a run
whose registers, events, thread positions and other lines are unchanged, and a
dead line stays dead (programs only advance).  So a bad state over registers
and thread progress is reachable with the reduction exactly when it is without
it, and the shortest witness keeps its length.

Conservative where the future is not known in advance: a trap runs a
hypervisor policy that may emit maintenance of any line, so an instruction
that can still trap makes every line live.  Which can: a set/way op when the VM
has a set/way policy, an SCTLR_EL1 write with an SCTLR policy, a DC with a CMO
policy (the trap bits may be set later by a policy, so the bits are not
consulted), and a load, store or DC to a page not yet mapped at stage 2 when the
VM has a fault policy (pages are only ever added to a VM's stage 2, so a mapped
page cannot fault again).  Under translation (``machine/mmu.py``) an unfinished
thread bound to a regime keeps live every line its walks, TLB fills, fetches and
translated accesses may touch (``dead_tlb.Tables.lines_reached``: table lines
reached from the root through every descriptor value the programs may put there,
and the lines of every page they may map), plus the lines its fetches name; a
finished thread translates nothing more.  That bound counts the programs' stores
only, so the reduction stays off under translation when a VM has a hypervisor
policy (its stores are code no one sees in advance).  A bad state
that reads memory (``v.mem``) would see the skipped hardware steps, so
``StateView.mem`` refuses to run under the reduction instead of answering wrongly.

*Quiet lines.*  A line that every observer only ever accesses with a cacheable
type (and no non-coherent device touches) is read through hardware coherence
alone: ``caches.coherent_value`` returns the newest value whatever copies exist
(B2.11; the invariant in ``caches.py``).  Where its clean copies sit, whether a
dirty copy was written back, whether it was speculatively filled or dropped,
changes no value any observer can read, so the spontaneous steps on such a line
(FILL, DROP, WRITE_BACK) are not explored.  The set is computed from the programs
and the types at start; ``Machine`` re-checks every type it computes during the
search and refuses (ScenarioError) if a quiet line is ever accessed
non-cacheably (a policy or an SCTLR/HCR change that the static pass could not
see), so the reduction can never hide a stale read silently.  Tests compare
verdicts with and without it.

Under translation (``machine/mmu.py``) a translated access takes the type its leaf
descriptors give (stage 1 and stage 2 combined, D8.6), and the descriptors are values
in memory.  The static pass bounds them by every value memory holds at start, every
constant a program stores and every TLB entry held at start: a valid descriptor among
them whose attributes are not Write-Back makes the lines of its output page loud, and
of every page any of them outputs when a regime has two stages (the Non-cacheable
stage-1 leaf combines with whatever stage 2 gives, D8.6.3).  Values stored from
registers and descriptors a hypervisor policy writes are not bounded statically: the
run-time check refuses instead (``Access.typed``).  Table walks are observers of
their own with the regime's walk attributes (TCR_ELx.IRGN/ORGN, D7.5.3; D8.2 R_XGXKR:
a walk and a data access with mismatched attributes behave as mismatched attributes,
B2.11): a Write-Back walk reads ``coherent_value`` as cacheable data accesses do, so
it needs nothing; a scenario with any other walk gets no quiet lines (the walker refuses
too, ``Walker.values``).  An instruction fetch that misses reads past L1 unless
CTR_EL0.IDC or LoUU=0 (``ifetch.miss_value``), so every line a fetch may reach is loud
(all lines for a translated fetch; ``Fetch.fetch`` refuses too).
"""

from __future__ import annotations

from collections.abc import Callable

from stalecheck.machine.access import Access
from stalecheck.machine.buffer import named_lines
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.spec import Context, VMSpec
from stalecheck.machine.state import State, sctlr_bits
from stalecheck.machine.translation import VALID, XlateSpec, desc_oa, desc_type

_ACCESSES = (Op.LDR, Op.STR, Op.AWAIT, Op.DC)


def quiet_lines(m: Layout, access: Access) -> frozenset[int]:
    """Lines whose every access in the programs is cacheable, at start (see module doc)."""
    if not m.spec.options.quiet_coherent_lines:
        return frozenset()
    xlate = m.spec.xlate
    loud: set[int] = set()
    if xlate is not None:
        if any(r.walk != "wb" for r in xlate.regimes):
            return frozenset()  # walks past the caches (D7.5.3 TCR_ELx.IRGN/ORGN): see the module doc
        translated = _translated_loud(m, xlate)
        if translated is None:
            return frozenset()
        loud |= translated
    for t, prog in enumerate(m.programs):
        spec = m.threads[t]
        vas = _vas_of(m, xlate, spec.name)
        for ident in prog:
            instr = m.code[ident]
            if instr.loc in vas:
                continue  # a translated access: its type comes from descriptors (above)
            if instr.op == Op.EXEC and instr.loc:
                loud.add(m.line_of(instr.loc))  # a fetch may read past L1 (ifetch.miss_value)
                continue
            if _pure_invalidate(instr, spec.context) and instr.loc:
                loud.add(m.line_of(instr.loc))  # discards dirty data: write-backs matter
                continue
            if instr.op not in _ACCESSES or not instr.loc:
                continue
            line = m.line_of(instr.loc)
            if spec.context == Context.DEVICE:
                if not spec.coherent:
                    loud.add(line)
                continue
            if spec.context == Context.GUEST:
                vm = m.vms[m.vm_index[spec.vm]]
                if m.lines[line].page in vm.mmio:
                    continue  # never performed: the access exits to the hypervisor
                hcr = vm.hcr.to_int()
            else:
                hcr = 0
            sctlr = sctlr_bits(*spec.sctlr)  # at start
            if not access.memory_type(t, False, sctlr, hcr, line).cacheable:
                loud.add(line)
    for line, host in enumerate(m.host_types):
        if host is not None and not host.cacheable:
            loud.add(line)
    return frozenset(range(m.nl)) - loud


def _vas_of(m: Layout, xlate: XlateSpec | None, thread: str) -> frozenset[str]:
    """The input addresses thread ``thread`` accesses through its regime."""
    if xlate is None or thread not in xlate.thread_regime:
        return frozenset()
    name = xlate.thread_regime[thread]
    return frozenset(va for r in xlate.regimes if r.name == name for va in r.vas)


def _translated_loud(m: Layout, xlate: XlateSpec) -> set[int] | None:
    """Lines a translated access or fetch may reach with a type that is not cacheable,
    from the descriptors the static pass sees (module doc); None: every line may be."""
    words = {v for v in m.spec.init.values()} | {0}
    for prog in m.programs:
        for ident in prog:
            instr = m.code[ident]
            if instr.op == Op.STR and not instr.reg and not instr.data:
                words.add(instr.value)
            fetch_past_l1 = instr.op == Op.EXEC and not (xlate.idc or m.h.pou_depth == 0)
            if fetch_past_l1 and any(instr.loc in _vas_of(m, xlate, t.name) for t in m.threads):
                return None  # a translated fetch may read past L1 on any line it reaches
    words.update(entry.desc for entry in xlate.tlb_init)
    valid = [w for w in words if w >= 0 and w & VALID]
    if not any(not desc_type(w).cacheable for w in valid):
        return set()
    if any(r.s2 for r in xlate.regimes):
        pages = {desc_oa(w) for w in valid}  # D8.6.3: a NC stage-1 leaf over any stage-2 output
    else:
        pages = {desc_oa(w) for w in valid if not desc_type(w).cacheable}
    return {line for line, spec in enumerate(m.lines) if m.pages.index(spec.page) in pages}


def _pure_invalidate(instr: Instr, context: Context) -> bool:
    """``DC IVAC`` or ``DC ISW`` outside a guest: at EL1 under stage 2 they are upgraded
    to clean-and-invalidate (D7.5.9.2), elsewhere they discard dirty data.  Hypervisor
    policies are not visible here; ``Access.check_invalidate`` refuses at run time."""
    if context == Context.GUEST:
        return False
    return (instr.op == "DC" and instr.kind == "IVAC") or (instr.op == "DCSW" and instr.kind == "ISW")


# Instructions a guest can trap on (stage-2 fault, HCR_EL2.TSW/TVM/TPC/TPU).
IsVa = Callable[[int, str], bool]
_MAY_TRAP = (Op.LDR, Op.STR, Op.AWAIT, Op.DC, Op.DCSW, Op.MSR, Op.EXEC, Op.IC, Op.TLBI)
_NAMES_A_LINE = (Op.LDR, Op.STR, Op.AWAIT, Op.DC, Op.DCSW, Op.IC)


class DeadLines:
    """Which lines may still be touched, as a bitmask per state (``live``)."""

    def __init__(self, m: Layout, translated: list[int] | None = None, is_va: IsVa | None = None) -> None:
        """``translated``: per thread, the lines its translations, walks, TLB fills and
        fetches may touch while it is unfinished (``dead_tlb.Tables.lines_reached``),
        with ``is_va`` saying which names are its virtual addresses; None without the
        translation model."""
        self._m = m
        self.all = (1 << m.nl) - 1
        self._code_bits: dict[int, int] = {}  # interned id -> lines its code names
        self._future: list[tuple[int, ...]] = []  # per thread: lines surely named from pc on
        self._translated = translated or [0] * len(m.threads)
        self._is_va = is_va
        self._faults: list[tuple[tuple[int, int], ...]] = []  # per thread: (index, page bit) that may fault
        self._vm: list[int] = []
        for t, spec in enumerate(m.threads):
            vm = m.vms[m.vm_index[spec.vm]] if spec.context == Context.GUEST else None
            self._vm.append(m.vm_index[spec.vm] if vm is not None else -1)
            suffix = [0]
            faults: list[tuple[int, int]] = []
            program = m.programs[t]
            for index in range(len(program) - 1, -1, -1):
                instr = m.code[program[index]]
                bits = self._lines_of(instr, t)
                if vm is not None and self.may_run_policy(instr, vm):
                    bits = self.all
                may_fault = instr.op in (Op.LDR, Op.STR, Op.AWAIT, Op.DC)
                if vm is not None and vm.on_stage2_fault is not None and may_fault:
                    faults.append((index, m.line_page_bit[m.line_of(instr.loc)]))
                suffix.append(suffix[-1] | bits)
            self._future.append(tuple(reversed(suffix)))
            self._faults.append(tuple(reversed(faults)))

    @staticmethod
    def may_run_policy(instr: Instr, vm: VMSpec) -> bool:
        """Whether ``instr`` can trap to a policy whatever is mapped (trap bits may be
        turned on later by a policy, so only the presence of a policy counts)."""
        op = instr.op
        if vm.mmio and op in (Op.LDR, Op.STR, Op.AWAIT, Op.DC) and instr.loc:
            return True  # may be an MMIO exit (virtio.py's doorbell): its policy may name any line
        if op == Op.DCSW:
            return vm.on_setway is not None
        if op == Op.MSR:
            return vm.on_sctlr is not None
        if op == Op.DC:
            return vm.on_cmo is not None
        if op in (Op.LDR, Op.STR, Op.AWAIT):
            return False  # only a stage-2 fault, checked against the state in ``live``
        return op in _MAY_TRAP

    def _lines_of(self, instr: Instr, t: int = -1) -> int:
        """The lines ``instr`` names (of thread ``t``: its virtual addresses are counted
        in ``translated``, -1: code of any thread)."""
        if instr.op not in _NAMES_A_LINE or not instr.loc:
            if instr.op == Op.EXEC and self._is_va is not None and self._m.names_a_line(instr.loc):
                return 1 << self._m.line_of(instr.loc)  # a fetch reads its line (fetch.py)
            return 0
        m = self._m
        if t >= 0 and self._is_va is not None and self._is_va(t, instr.loc):
            return 0  # through the regime: in ``translated`` while the thread is unfinished
        if m.names_a_line(instr.loc):
            return 1 << m.line_of(instr.loc)
        return self.all  # a name we cannot place: assume it may be any line

    def _code(self, ident: int) -> int:
        """Lines named by interned instruction ``ident`` (policies intern new code)."""
        bits = self._code_bits
        found = bits.get(ident)
        if found is None:
            found = bits[ident] = self._lines_of(self._m.code[ident])
        return found

    def thread_live(self, t: int, pc: int, hyp: tuple[int, ...], mapped: tuple[int, ...]) -> int:
        """The lines thread ``t`` may still name at ``pc`` with EL2 code ``hyp`` still to
        run: every line while a stage-2 fault may still run a policy (``live`` is the
        union over threads and buffers; ``machine/por.py`` asks for one thread's part)."""
        mask = self._future[t][pc]
        for ident in hyp:
            mask |= self._code(ident)
        if self._translated[t] and (hyp or not self._finished_at(t, pc)):
            mask |= self._translated[t]
        vi = self._vm[t]
        if vi >= 0:
            for index, page_bit in self._faults[t]:
                if index >= pc and not mapped[vi] & page_bit:
                    return self.all  # a stage-2 fault policy may still run
        return mask

    def _finished_at(self, t: int, pc: int) -> bool:
        """``Layout.finished`` of thread ``t`` at ``pc`` with no EL2 code to run."""
        prog = self._m.programs[t]
        return pc >= len(prog) or self._m.code[prog[pc]].op == Op.END

    def live(self, state: State) -> int:
        mask = 0
        thread_live = self.thread_live
        for t, th in enumerate(state.threads):
            mask |= thread_live(t, th.pc, th.hyp, state.mapped)
            if mask == self.all:
                return mask
        for buf in state.bufs:
            mask |= named_lines(buf)
        return mask
