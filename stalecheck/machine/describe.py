"""Witness lines: one sentence per step saying who did what to which copy.

A reader checks these against the Arm ARM, so each line names the actor, the
instruction or hardware action, the memory type that decided its path, and
ends with every copy of the line it touched (``*`` marks a dirty copy).
"""

from __future__ import annotations

from typing import Protocol

from stalecheck.machine import buffer
from stalecheck.machine.isa import Instr
from stalecheck.machine.memtypes import MemType
from stalecheck.machine.mmu_text import MmuText
from stalecheck.machine.state import DCVA, OP_CLEAN, OP_CLEAN_INVAL, OP_INVAL, SETWAY, STORE, State
from stalecheck.machine.steps import COMPLETE, DROP, EARLY, EXEC, FILL, MIGRATE, SYSREG, WRITE_BACK, Step
from stalecheck.machine.text import Names, actor_name, snapshot
from stalecheck.machine.traps import Traps


class Machine(Names, Protocol):
    """What the witness reads of a machine (``system.Machine`` is one)."""

    @property
    def code(self) -> list[Instr]: ...

    @property
    def programs(self) -> tuple[tuple[int, ...], ...]: ...

    @property
    def mmu_text(self) -> MmuText | None: ...

    @property
    def traps(self) -> Traps: ...

    def current(self, state: State, t: int) -> Instr | None: ...

    def loc_index(self, loc: str) -> tuple[int, int]: ...

    def reg_index(self, thread: int, reg: str) -> int: ...

    def access_type(self, state: State, t: int, line: int) -> MemType: ...


_OP_WORDS = {OP_CLEAN: "cleans", OP_INVAL: "invalidates", OP_CLEAN_INVAL: "cleans and invalidates"}


def describe(m: Machine, before: State, step: Step, after: State) -> str:
    if m.mmu_text is not None:  # translation and instruction fetch describe their own steps
        text = m.mmu_text.describe(before, step, after)
        if text is not None:
            return text
    kind = step[0]
    if kind == EXEC:
        return _describe_exec(m, before, step[1], step[2], after)
    if kind == EARLY:
        t, index = step[1], step[2]
        instr = m.code[m.programs[t][index]]
        text = _describe_exec(m, before, t, step[3], after, instr)
        return f"{text} (out of program order, ahead of {m.current(before, t)}: machine/ordering.py)"
    if kind == COMPLETE:
        return _describe_complete(m, before, step[1], step[2], after)
    if kind in (WRITE_BACK, DROP, FILL):
        inst, line = step[1], step[2]
        name = m.lines[line].name
        label = m.h.label(inst)
        if kind == WRITE_BACK:
            below = m.h.below[inst]
            target = m.h.label(below) if below >= 0 else "memory"
            what = f"hardware: {label} writes back dirty {name} to {target} (eviction, D7.5.1)"
        elif kind == DROP:
            what = f"hardware: {label} drops its clean copy of {name}"
        else:
            what = (
                f"hardware: {label} speculatively fills {name} from the level below "
                "(Normal cacheable in some regime, D7.5.1)"
            )
        return f"{what} {snapshot(m, after, line)}"
    if kind == SYSREG:
        t = step[1]
        return (
            f"{actor_name(m, before, t)}: the SCTLR_EL1 write takes effect "
            f"(M={_bit(after, t, 1)}, C={_bit(after, t, 2)})"
        )
    if kind == MIGRATE:
        t, pe = step[1], step[2]
        return (
            f"hypervisor migrates vCPU {m.threads[t].name} from PE{before.threads[t].pe} "
            f"to PE{pe} (context switch: its PE's buffer is empty)"
        )
    return repr(step)


def _bit(state: State, t: int, bit: int) -> int:
    return int(bool(state.threads[t].sctlr & bit))


def _describe_exec(
    m: Machine, before: State, t: int, choice: int, after: State, early: Instr | None = None
) -> str:
    instr = early if early is not None else m.current(before, t)
    assert instr is not None
    actor = actor_name(m, before, t)
    bt, at = before.threads[t], after.threads[t]
    if early is None and ((not bt.hyp and at.hyp) or (not bt.hyp and at.retry and not bt.retry)):
        trap = m.traps.trap(before, t, instr)
        kind = trap.kind if trap else "trap"
        code = "; ".join(str(m.code[i]) for i in at.hyp) or "nothing"
        return f"{actor}: {instr} traps to EL2 ({_trap_reason(kind)}); policy runs: {code}"
    if instr.op == "LDR":
        line, offset = m.loc_index(instr.loc)
        value = at.regs[m.reg_index(t, instr.reg)]
        source = _load_source(m, before, t, line, offset, value)
        return f"{actor}: {instr} reads {instr.loc}={value} {source} {snapshot(m, before, line)}"
    if instr.op == "AWAIT":
        line, _ = m.loc_index(instr.loc)
        polls = f"polls until it reads {instr.loc}={instr.value}"
        return f"{actor}: {instr} ({polls}) {snapshot(m, before, line)}"
    if instr.op == "STR":
        line, _ = m.loc_index(instr.loc)
        if bt.pe < 0:
            how = "coherent DMA write" if m.threads[t].coherent else "non-coherent DMA write at the PoC"
            return f"{actor}: {instr} ({how}) {snapshot(m, after, line)}"
        mt = m.access_type(before, t, line)
        return f"{actor}: {instr} enters PE{bt.pe}'s buffer ({mt})"
    if instr.op in ("DC", "DCSW"):
        when = "may complete at any time; complete for certain after a DSB"
        return f"{actor}: {instr} enters PE{bt.pe}'s buffer ({when})"
    if instr.op == "DSB":
        if instr.kind.endswith("LD"):
            return f"{actor}: {instr} (every earlier load has been satisfied)"
        return f"{actor}: {instr} (earlier stores{'' if 'ST' in instr.kind else ' and maintenance'} complete)"
    if instr.op == "MSR":
        return f"{actor}: {instr} (in effect at the latest at the next context synchronisation)"
    if instr.op == "MAP":
        return f"{actor}: {instr} (stage-2 mapping installed)"
    return f"{actor}: {instr}"


def _trap_reason(kind: str) -> str:
    return {
        "setway": "HCR_EL2.TSW: set/way maintenance",
        "sctlr": "HCR_EL2.TVM: write to SCTLR_EL1",
        "cmo": "HCR_EL2.TPCP/TPU: cache maintenance",
        "stage2-fault": "stage-2 translation fault",
        "mmio": "stage-2 abort on an emulated MMIO page: an exit",
    }.get(kind, kind)


def _load_source(m: Machine, before: State, t: int, line: int, offset: int, value: int) -> str:
    th = before.threads[t]
    if th.pe < 0:
        return "(coherent DMA read)" if m.threads[t].coherent else "(non-coherent DMA read at the PoC)"
    if buffer.forward(before.bufs[th.pe], line, offset) is not None:
        return "(forwarded from its own buffer)"
    mt = m.access_type(before, t, line)
    if mt.cacheable:
        return f"({mt}: coherent)"
    if before.mem[line][offset] == value:
        return f"({mt}: from the PoC)"
    for inst in m.h.paths[th.pe]:
        copy = before.copies[inst * m.nl + line]
        if copy and copy[1][offset] == value:
            return f"({mt}: hits the copy in {m.h.label(inst)}, B2.11 mismatched attributes)"
    return f"({mt})"


def _describe_complete(m: Machine, before: State, pe: int, index: int, after: State) -> str:
    entry = before.bufs[pe][index]
    ident = entry[-1]
    instr = m.code[ident]
    if entry[0] == STORE:
        line = entry[1]
        how = "cacheable write into L1" if entry[4] else "non-cacheable write at the PoC"
        return f"PE{pe} buffer: {instr} completes ({how}) {snapshot(m, after, line)}"
    if entry[0] == DCVA:
        line, depth = entry[2], entry[4]
        point = "PoC" if depth == m.h.poc_depth else "PoU"
        word = _OP_WORDS[entry[1]]
        return f"PE{pe} buffer: {instr} completes: {word} to the {point} {snapshot(m, after, line)}"
    if entry[0] == SETWAY:
        inst, line = entry[2], entry[3]
        word = _OP_WORDS[entry[1]]
        return (
            f"PE{pe} buffer: {instr} completes: {word} {m.h.label(inst)} only "
            f"(set/way: next level, local PE) {snapshot(m, after, line)}"
        )
    return f"PE{pe} buffer: entry {entry} completes"
