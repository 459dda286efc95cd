"""Execution of instructions: how many ways a thread's next instruction can run, and its effect.

Buffered instructions (stores, ``DC``, set/way, ``DMB`` markers; ``TLBI`` and
``IC`` in ``mmu.py``) only enter the PE's buffer here; they take effect when
they complete (``complete.py``).  A guest instruction that traps runs the VM's
policy at EL2 instead (``traps.py``); a DMA master performs each access when it
issues it.
"""

from __future__ import annotations

from stalecheck.machine import buffer, caches
from stalecheck.machine.access import Access
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.maintenance import dc_entry, setway_entry
from stalecheck.machine.mmu import Mmu
from stalecheck.machine.spec import TrapKind, hcr_bit
from stalecheck.machine.state import STORE, State, StoreEntry, Thread, with_entry, with_thread
from stalecheck.machine.sysregs import synchronise, write_sctlr
from stalecheck.machine.traps import Traps

# Opcodes bound to module globals once: in Python 3.11 reading a member off its enum
# class costs about ten global reads, and ``choices`` runs for every thread of every state.
_AWAIT, _DC, _DCSW, _DMB, _DSB, _EMSR, _HCR, _ISB, _LDR, _MAP, _MSR, _SIGNAL, _STR, _WAIT = (
    Op.AWAIT,
    Op.DC,
    Op.DCSW,
    Op.DMB,
    Op.DSB,
    Op.EMSR,
    Op.HCR,
    Op.ISB,
    Op.LDR,
    Op.MAP,
    Op.MSR,
    Op.SIGNAL,
    Op.STR,
    Op.WAIT,
)

FULL_BARRIERS = ("SY", "ISH", "OSH", "NSH")
STORE_BARRIERS = ("ST", "ISHST", "OSHST", "NSHST")


class Execute:
    """The program steps of one variant."""

    def __init__(self, layout: Layout, access: Access, traps: Traps, mmu: Mmu | None) -> None:
        self.layout = layout
        self.access = access
        self.traps = traps
        self.mmu = mmu

    def choices(self, state: State, t: int) -> int:
        """How many ways thread ``t`` can execute its next instruction now (0: blocked)."""
        instr = self.layout.current(state, t)
        if instr is None:
            return 0
        th = state.threads[t]
        op = instr.op
        if op == _WAIT:
            return 1 if state.events & self.layout.events[instr.loc] else 0
        if th.pe < 0:
            if op == _AWAIT:  # a polling loop: it leaves only once it reads the value
                return int(instr.value in self.access.device_load_values(state, t, instr))
            return len(self.access.device_load_values(state, t, instr)) if op == _LDR else 1
        buf = state.bufs[th.pe]
        if op == _DSB:
            if instr.kind in STORE_BARRIERS:
                return 0 if buffer.has_stores(buf) else 1
            if instr.kind in FULL_BARRIERS:
                return 0 if buf else 1
            return 1  # DSB LD: loads are performed in order already
        if op == _SIGNAL:
            return 0 if buffer.has_stores(buf) else 1
        if self.mmu is not None and self.mmu.handles(t, instr):
            return 1 if self.traps.trap(state, t, instr) is not None else self.mmu.choices(state, t, instr)
        if op == _LDR:
            if buffer.loads_blocked(buf):
                return 0
            if self.traps.trap(state, t, instr) is not None:
                return 1
            return len(self.access.load_values(state, t, instr))
        if op == _AWAIT:  # each failed poll is a load with no effect, so only the exit is a step
            if buffer.loads_blocked(buf):
                return 0
            if self.traps.trap(state, t, instr) is not None:
                return 1
            return int(instr.value in self.access.load_values(state, t, instr))
        return 1

    def execute(self, state: State, t: int, choice: int) -> State:
        """Thread ``t`` executes its next instruction, the ``choice``-th way."""
        th = state.threads[t]
        instr = self.layout.current(state, t)
        assert instr is not None
        if th.pe < 0:
            return self._execute_device(state, t, instr, choice)
        trap = self.traps.trap(state, t, instr)
        if trap is not None:
            emitted = self.traps.policy_code(trap)
            retry = trap.kind == TrapKind.STAGE2_FAULT
            th = synchronise(th)._replace(hyp=emitted, pc=th.pc if retry else th.pc + 1, retry=int(retry))
            if not emitted:  # nothing to run at EL2: immediate return (still a CSE)
                th = th._replace(retry=0)
            return with_thread(state, t, th)
        in_hyp = bool(th.hyp)
        state, th = self._issue(state, t, th, instr, choice)
        if in_hyp:
            th = th._replace(hyp=th.hyp[1:])
            if not th.hyp:  # ERET: context synchronisation
                th = synchronise(th)._replace(retry=0)
        elif not (th.hyp or th.fault):  # an abort entered its handler or stopped the thread
            th = th._replace(pc=th.pc + 1)
        return with_thread(state, t, th)

    def _issue(self, state: State, t: int, th: Thread, instr: Instr, choice: int) -> tuple[State, Thread]:
        """Issue one instruction: the buffered ones enter the PE's buffer here and take
        effect when they complete (``complete.py``)."""
        lay = self.layout
        op = instr.op
        pe = th.pe
        if self.mmu is not None:
            if self.mmu.handles(t, instr):
                return self.mmu.execute(state, t, th, instr, choice)
            if op == _DSB:
                th = self.mmu.after_dsb(th)
        if op == _LDR:
            value = self.access.load_values(state, t, instr)[choice]
            regs = th.regs
            r = lay.regs[t][instr.reg]
            return state, th._replace(regs=(*regs[:r], value, *regs[r + 1 :]))
        if op == _STR:
            line, offset = lay.loc_index(instr.loc)
            value = th.regs[lay.regs[t][instr.reg]] if instr.reg else instr.value
            mt = self.access.access_type(state, t, line)
            entry = StoreEntry(
                STORE, line, offset, value, int(mt.cacheable), int(mt.write_through), lay.ids[instr]
            )
            return with_entry(state, pe, entry), th
        if op == _DC:
            line = lay.line_of(instr.loc)
            under_stage2 = self.access.under_stage2(state, t)
            mt = self.access.access_type(state, t, line)
            return with_entry(
                state, pe, dc_entry(lay.h, instr.kind, line, mt, under_stage2, lay.ids[instr])
            ), th
        if op == _DCSW:
            line = lay.line_index[instr.loc]
            under_stage2 = self.access.under_stage2(state, t)
            setway = setway_entry(lay.h, pe, instr.kind, instr.level, line, under_stage2, lay.ids[instr])
            return with_entry(state, pe, setway), th
        if op == _DMB:
            if instr.kind in FULL_BARRIERS or instr.kind in STORE_BARRIERS:
                marker = buffer.dmb_marker(state.bufs[pe], full=instr.kind in FULL_BARRIERS)
                if marker is not None:
                    return with_entry(state, pe, marker), th
            return state, th  # DMB LD: loads already perform in order
        if op == _ISB:
            return state, synchronise(th)
        if op in (_MSR, _EMSR):  # EMSR: the hypervisor emulating a trapped write, in effect at ERET
            return state, write_sctlr(th, instr.kind, instr.value)
        if op == _SIGNAL:
            return state._replace(events=state.events | lay.events[instr.loc]), th
        if op == _MAP:
            vi = lay.vm_index[lay.threads[t].vm]
            mapped = state.mapped
            bit = lay.page_bit[instr.loc]
            xn = bit << len(lay.pages)  # "mapped execute-never" bit of the page (MAP <page> XN)
            new = (mapped[vi] | bit | xn) if instr.kind == "XN" else ((mapped[vi] | bit) & ~xn)
            return state._replace(mapped=(*mapped[:vi], new, *mapped[vi + 1 :])), th
        if op == _HCR:
            vi = lay.vm_index[lay.threads[t].vm]
            hcr = state.hcr
            bit = hcr_bit(instr.kind)
            new = (hcr[vi] | bit) if instr.value else (hcr[vi] & ~bit)
            return state._replace(hcr=(*hcr[:vi], new, *hcr[vi + 1 :])), th
        # WAIT, DSB and NOP have no effect beyond being enabled; IC is a no-op without
        # the translation model (no instruction cache is modelled then).
        return state, th

    def _execute_device(self, state: State, t: int, instr: Instr, choice: int) -> State:
        """DMA masters have no buffer: each access is performed when issued."""
        lay = self.layout
        th = state.threads[t]
        if instr.op == _LDR:
            value = self.access.device_load_values(state, t, instr)[choice]
            r = lay.regs[t][instr.reg]
            th = th._replace(regs=(*th.regs[:r], value, *th.regs[r + 1 :]))
        elif instr.op == _STR:
            line, offset = lay.loc_index(instr.loc)
            value = th.regs[lay.regs[t][instr.reg]] if instr.reg else instr.value
            if lay.threads[t].coherent:
                copies, mem = caches.coherent_device_write(
                    state.copies, state.mem, lay.h, line, offset, value, lay.nl
                )
                state = state._replace(copies=copies, mem=mem)
            else:
                state = state._replace(mem=caches.bypass_write(state.mem, line, offset, value))
        elif instr.op == _SIGNAL:
            state = state._replace(events=state.events | lay.events[instr.loc])
        return with_thread(state, t, th._replace(pc=th.pc + 1))
