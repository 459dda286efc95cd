"""Memory types of accesses, and the values a load may return.

The type of an access decides its path through the caches: cacheable accesses
are coherent (``caches.coherent_value``); Non-cacheable and Device accesses
may hit a cached copy or go to the PoC (B2.11 Mismatched memory attributes).
The type comes from the regime the thread runs in (``memtypes.py`` combines
the stages), from the system registers in the state, and from the host's types
for EL2 code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from stalecheck.errors import ScenarioError
from stalecheck.machine import buffer, caches
from stalecheck.machine.isa import Instr
from stalecheck.machine.layout import Layout
from stalecheck.machine.memtypes import NORMAL_WB, MemType, RegimeFlags, guest_data_type
from stalecheck.machine.shareability import DmaWatch
from stalecheck.machine.spec import Context, hcr_bit
from stalecheck.machine.state import OP_INVAL, SCTLR_C, SCTLR_M, UNREAD, Query, State, unanswered


class Access:
    """Types and load values of one variant's accesses."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.quiet = frozenset[int]()  # lines reduced as coherent-only (reduction.quiet_lines)
        self.cached_type = lru_cache(maxsize=None)(self.memory_type)
        self._nc_may_hit = layout.spec.options.nc_reads_may_hit
        self.dma = DmaWatch(layout)  # stores a DMA master may see late (shareability.py)
        # What a probe's load reads (machine/plan.py sets it while it probes): the query is
        # (``read``, PE, line, offset, type), the answer ``read``'s on a real state.
        self.ask: Callable[[Query], tuple[int, ...]] = unanswered

    def memory_type(self, t: int, in_hyp: bool, sctlr: int, hcr: int, line: int) -> MemType:
        """The type of thread ``t``'s data access to ``line`` for these register values."""
        lay = self.layout
        spec = lay.threads[t]
        if spec.context == Context.HOST or in_hyp:
            host = lay.host_types[line]
            return host if host is not None else NORMAL_WB
        vm = lay.vms[lay.vm_index[spec.vm]]
        name = lay.lines[line].name
        flags = RegimeFlags(
            mmu=bool(sctlr & SCTLR_M),
            dcache=bool(sctlr & SCTLR_C),
            hcr_dc=bool(hcr & hcr_bit("DC")),
            hcr_cd=bool(hcr & hcr_bit("CD")),
            fwb=bool(hcr & hcr_bit("FWB")),
        )
        return guest_data_type(vm.s1_type(name), vm.s2_type(name), vm.s2_force, flags)

    def access_type(self, state: State, t: int, line: int) -> MemType:
        """The type of thread ``t``'s next data access to ``line`` (D8.6 Memory region
        attributes; D8.2.12.1 when stage 1 is off; D7.5.5 cacheability controls)."""
        th = state.threads[t]
        vi = self.layout.thread_vm[t]
        hcr = state.hcr[vi] if vi >= 0 else 0
        return self.typed(t, line, self.cached_type(t, bool(th.hyp), th.sctlr, hcr, line))

    def typed(self, t: int, line: int, mt: MemType) -> MemType:
        """``mt``, the type of thread ``t``'s access to ``line`` however it was computed
        (registers above, descriptors under translation: mmu.py), refused on a quiet line
        unless cacheable: only cacheable accesses read ``coherent_value`` whatever the
        copies (B2.11), which is what lets ``quiet_coherent_lines`` skip their steps."""
        if not mt.cacheable and line in self.quiet:
            raise ScenarioError(
                f"line {self.layout.lines[line].name} was reduced as coherent-only but thread "
                f"{self.layout.threads[t].name!r} accesses it as {mt}: run without quiet_coherent_lines"
            )
        return mt

    def refuse_quiet(self, line: int, who: str, how: str) -> None:
        """Refuse a read of quiet ``line`` that may miss the coherent value (a walk or a
        fetch past the caches): the skipped spontaneous steps would matter (reduction.py)."""
        if line in self.quiet:
            raise ScenarioError(
                f"line {self.layout.lines[line].name} was reduced as coherent-only but {who} "
                f"reads it {how}: run without quiet_coherent_lines"
            )

    def check_invalidate(self, t: int, line: int, op: int) -> None:
        """A pure invalidate discards dirty data (D7.5.8.1.2), so whether a write-back came
        first changes what later reads see: the spontaneous steps that
        ``quiet_coherent_lines`` skips would matter.  Refuse rather than answer wrongly."""
        if op == OP_INVAL and line in self.quiet:
            raise ScenarioError(
                f"line {self.layout.lines[line].name} was reduced as coherent-only but thread "
                f"{self.layout.threads[t].name!r} invalidates it without cleaning: "
                "run without quiet_coherent_lines"
            )

    def guest_unmapped(self, state: State, t: int, line: int) -> bool:
        """Whether guest thread ``t`` (not at EL2) would take a stage-2 fault on ``line``."""
        vi = self.layout.thread_vm[t]
        if vi < 0 or state.threads[t].hyp:
            return False
        return not state.mapped[vi] & self.layout.line_page_bit[line]

    def under_stage2(self, state: State, t: int) -> bool:
        """Whether thread ``t`` runs at EL1 under a stage 2 (HCR_EL2.VM=1)."""
        return self.layout.threads[t].context == Context.GUEST and not state.threads[t].hyp

    def load_values(self, state: State, t: int, instr: Instr) -> tuple[int, ...]:
        line, offset = self.layout.loc_index(instr.loc)
        return self.values_at(state, t, line, offset, self.access_type(state, t, line))

    def values_at(self, state: State, t: int, line: int, offset: int, mt: MemType) -> tuple[int, ...]:
        """Values a load of one location with type ``mt`` may return."""
        th = state.threads[t]
        forwarded = buffer.forward(state.bufs[th.pe], line, offset)
        if forwarded is not None:  # B2.3.1 Coherence-before: a PE sees its own earlier store
            return (forwarded,)
        if state.mem is UNREAD:  # a probe (machine/plan.py): the values come from its oracle
            return self.ask((self.read, th.pe, line, offset, mt))
        return self.read(state.copies, state.mem, th.pe, line, offset, mt)

    def read(
        self, copies: caches.Copies, mem: caches.Memory, pe: int, line: int, offset: int, mt: MemType
    ) -> tuple[int, ...]:
        """``values_at`` past the PE's own buffer: what the memory system returns."""
        lay = self.layout
        if mt.cacheable:
            return (caches.coherent_value(copies, mem, lay.h, pe, line, lay.nl)[offset],)
        options = caches.bypass_read_options(copies, mem, lay.h, pe, line, offset, self._nc_may_hit, lay.nl)
        if mt.mixed:  # inner/outer mixes: cached in some levels (memtypes.MemType.mixed)
            coherent = caches.coherent_value(copies, mem, lay.h, pe, line, lay.nl)[offset]
            return tuple(sorted({*options, coherent}))
        return options

    def device_load_values(self, state: State, t: int, instr: Instr) -> tuple[int, ...]:
        lay = self.layout
        line, offset = lay.loc_index(instr.loc)
        if self.dma.active and not lay.threads[t].inner:  # shareability.py: not seen yet
            late = self.dma.late_value(state.bufs, line, offset)
            if late is not None:
                return (late,)
        if lay.threads[t].coherent:  # I/O coherent: snoops the CPU caches (clean copies too, B2.11)
            options = caches.snoop_read_options(state.copies, state.mem, lay.h, line, lay.nl)
            return tuple(sorted({values[offset] for values in options}))
        return (state.mem[line][offset],)  # non-coherent: reads at the PoC
