"""Witness steps as records: who did what to which copy (``step_record.StepRecord``).

A reader checks these against the Arm ARM, so each record names the actor, the
instruction or hardware action, the memory type that decided its path, and every
copy of the lines it touched before and after it.  ``report/`` turns the records
into text (one sentence per step, ``*`` marking a dirty copy), JSON, DOT and HTML.
Translation and instruction-fetch steps are described by ``mmu_text.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from stalecheck.errors import ScenarioError
from stalecheck.machine import buffer
from stalecheck.machine.isa import Instr
from stalecheck.machine.memtypes import MemType
from stalecheck.machine.mmu_text import MmuText
from stalecheck.machine.state import (
    DCVA,
    OP_CLEAN,
    OP_CLEAN_INVAL,
    OP_INVAL,
    SETWAY,
    STORE,
    STORE_DMA_LATE,
    Entry,
    State,
)
from stalecheck.machine.step_record import Action, Actor, ActorKind, Effect, StepRecord
from stalecheck.machine.steps import COMPLETE, DROP, EARLY, EXEC, FILL, MIGRATE, SYSREG, WRITE_BACK, Step
from stalecheck.machine.text import Names, Where, buffer_actor, every_line, hardware, record, thread_actor
from stalecheck.machine.traps import Traps


class Machine(Names, Protocol):
    """What the witness reads of a machine (``system.Machine`` is one)."""

    @property
    def code(self) -> Mapping[int, Instr]: ...

    @property
    def programs(self) -> tuple[tuple[int, ...], ...]: ...

    @property
    def mmu_text(self) -> MmuText | None: ...

    @property
    def traps(self) -> Traps: ...

    def current(self, state: State, t: int) -> Instr | None: ...

    def loc_index(self, loc: str) -> tuple[int, int]: ...

    def line_of(self, name: str) -> int: ...

    def reg_index(self, thread: int, reg: str) -> int: ...

    def access_type(self, state: State, t: int, line: int) -> MemType: ...


_OP_WORDS = {OP_CLEAN: "cleans", OP_INVAL: "invalidates", OP_CLEAN_INVAL: "cleans and invalidates"}


def describe(m: Machine, before: State, step: Step, after: State) -> StepRecord:
    if m.mmu_text is not None:  # translation and instruction fetch describe their own steps
        rec = m.mmu_text.describe(before, step, after)
        if rec is not None:
            return rec
    kind = step[0]
    if kind == EXEC:
        return _describe_exec(m, before, step[1], step[2], after)
    if kind == EARLY:
        t, index = step[1], step[2]
        instr = m.code[m.programs[t][index]]
        translated = m.mmu_text.describe_at(before, t, index, after) if m.mmu_text is not None else None
        rec = translated if translated is not None else _describe_exec(m, before, t, step[3], after, instr)
        ahead = f"(out of program order, ahead of {m.current(before, t)}: machine/ordering.py)"
        text = f"{rec.effect.text} {ahead}"
        return rec._replace(effect=rec.effect._replace(text=text))
    if kind == COMPLETE:
        return _describe_complete(m, before, step[1], step[2], after, len(step) > 3)
    if kind in (WRITE_BACK, DROP, FILL):
        inst, line = step[1], step[2]
        name = m.lines[line].name
        label = m.h.label(inst)
        if kind == WRITE_BACK:
            below = m.h.below[inst]
            target = m.h.label(below) if below >= 0 else "memory"
            action, what = (
                Action.WRITE_BACK,
                f"{label} writes back dirty {name} to {target} (eviction, D7.5.1)",
            )
        elif kind == DROP:
            action, what = Action.DROP, f"{label} drops its clean copy of {name}"
        elif len(step) > 3:
            action = Action.FILL
            what = (
                f"{label} speculatively fills {name} from another PE's stale clean copy "
                "(snoop hit after a mismatched-attribute write, B2.11)"
            )
        else:
            action = Action.FILL
            what = (
                f"{label} speculatively fills {name} from the level below "
                "(Normal cacheable in some regime, D7.5.1)"
            )
        owner = m.h.instances[inst].pe
        actor = hardware(ActorKind.CACHE, label, owner if owner is not None else -1)
        return record(
            m, before, after, actor, action, Effect(what), target=name, lines=(line,), shows_copies=True
        )
    if kind == SYSREG:
        t = step[1]
        text = f"the SCTLR_EL1 write takes effect (M={_bit(after, t, 1)}, C={_bit(after, t, 2)})"
        return record(
            m, before, after, thread_actor(m, before, t), Action.SYSREG, Effect(text), target="SCTLR_EL1"
        )
    if kind == MIGRATE:
        t, pe = step[1], step[2]
        text = (
            f"migrates vCPU {m.threads[t].name} from PE{before.threads[t].pe} "
            f"to PE{pe} (context switch: its PE's buffer is empty)"
        )
        actor = Actor(ActorKind.HYPERVISOR, "hypervisor", "hypervisor", thread=m.threads[t].name, el="EL2")
        return record(m, before, after, actor, Action.MIGRATE, Effect(text), target=f"PE{pe}")
    return record(m, before, after, hardware(ActorKind.CACHE, "hardware"), repr(step), Effect(repr(step)))


def _named_line(m: Machine, loc: str) -> tuple[int, ...]:
    """The line a location or line name denotes; none for a virtual address."""
    try:
        return (m.line_of(loc),)
    except ScenarioError:
        return ()


def _bit(state: State, t: int, bit: int) -> int:
    return int(bool(state.threads[t].sctlr & bit))


def trap_words(m: Machine, before: State, after: State, t: int, reason: str, instr: object) -> Effect:
    """A trap to EL2 in words and as data: why, and the policy code it runs."""
    policy = tuple(str(m.code[i]) for i in after.threads[t].hyp)
    code = "; ".join(policy) or "nothing"
    return Effect(f"{instr} traps to EL2 ({reason}); policy runs: {code}", trap=reason, policy=policy)


def _describe_exec(
    m: Machine, before: State, t: int, choice: int, after: State, early: Instr | None = None
) -> StepRecord:
    instr = early if early is not None else m.current(before, t)
    assert instr is not None
    actor = thread_actor(m, before, t)
    bt, at = before.threads[t], after.threads[t]
    text = str(instr)
    common: Where = {"instruction": text, "target": instr.loc}
    if early is None and ((not bt.hyp and at.hyp) or (not bt.hyp and at.retry and not bt.retry)):
        trap = m.traps.trap(before, t, instr)
        effect = trap_words(m, before, after, t, _trap_reason(trap.kind if trap else "trap"), instr)
        return record(m, before, after, actor, instr.op, effect, **common)
    if instr.op in ("LDR", "AWAIT", "STR"):
        line, offset = m.loc_index(instr.loc)
    if instr.op == "LDR":
        value = at.regs[m.reg_index(t, instr.reg)]
        source, mt = _load_source(m, before, t, line, offset, value)
        effect = Effect(f"{instr} reads {instr.loc}={value} {source}", memtype=mt, value=value)
        return record(m, before, after, actor, instr.op, effect, lines=(line,), shows_copies=True, **common)
    if instr.op == "AWAIT":
        until = f"{instr.loc}{'>=' if instr.at_least else '='}{instr.value}"
        effect = Effect(f"{instr} (polls until it reads {until})", value=instr.value)
        return record(m, before, after, actor, instr.op, effect, lines=(line,), shows_copies=True, **common)
    if instr.op == "STR":
        if bt.pe < 0:
            how = "coherent DMA write" if m.threads[t].coherent else "non-coherent DMA write at the PoC"
            effect = Effect(f"{instr} ({how})")
            return record(
                m, before, after, actor, instr.op, effect, lines=(line,), shows_copies=True, **common
            )
        mt = str(m.access_type(before, t, line))
        effect = Effect(f"{instr} enters PE{bt.pe}'s buffer ({mt})", memtype=mt)
        return record(m, before, after, actor, instr.op, effect, lines=(line,), **common)
    if instr.op in ("DC", "DCSW"):
        when = "may complete at any time; complete for certain after a DSB"
        effect = Effect(f"{instr} enters PE{bt.pe}'s buffer ({when})")
        return record(m, before, after, actor, instr.op, effect, lines=_named_line(m, instr.loc), **common)
    if instr.op == "DSB":
        if instr.kind.endswith("LD"):
            words = f"{instr} (every earlier load has been satisfied)"
        else:
            words = f"{instr} (earlier stores{'' if 'ST' in instr.kind else ' and maintenance'} complete)"
        return record(m, before, after, actor, instr.op, Effect(words), **common)
    if instr.op == "MSR":
        words = f"{instr} (in effect at the latest at the next context synchronisation)"
        common["target"] = f"SCTLR_EL1.{instr.kind}"
        return record(m, before, after, actor, instr.op, Effect(words), **common)
    if instr.op == "MAP":
        return record(
            m, before, after, actor, instr.op, Effect(f"{instr} (stage-2 mapping installed)"), **common
        )
    return record(m, before, after, actor, instr.op, Effect(text), **common)


def _trap_reason(kind: str) -> str:
    return {
        "setway": "HCR_EL2.TSW: set/way maintenance",
        "sctlr": "HCR_EL2.TVM: write to SCTLR_EL1",
        "cmo": "HCR_EL2.TPCP/TPU: cache maintenance",
        "stage2-fault": "stage-2 translation fault",
        "mmio": "stage-2 abort on an emulated MMIO page: an exit",
    }.get(kind, kind)


def _load_source(m: Machine, before: State, t: int, line: int, offset: int, value: int) -> tuple[str, str]:
    """Where a load's value came from, in words, and the memory type of the access
    ("" for a DMA master or a value forwarded from the PE's own buffer)."""
    th = before.threads[t]
    if th.pe < 0:
        return ("(coherent DMA read)" if m.threads[t].coherent else "(non-coherent DMA read at the PoC)"), ""
    if buffer.forward(before.bufs[th.pe], line, offset) is not None:
        return "(forwarded from its own buffer)", ""
    mt = m.access_type(before, t, line)
    if mt.cacheable:
        return f"({mt}: coherent)", str(mt)
    if before.mem[line][offset] == value:
        return f"({mt}: from the PoC)", str(mt)
    for inst in m.h.paths[th.pe]:
        copy = before.copies[inst * m.nl + line]
        if copy and copy[1][offset] == value:
            return f"({mt}: hits the copy in {m.h.label(inst)}, B2.11 mismatched attributes)", str(mt)
    return f"({mt})", str(mt)


def _dma_old(after: State, pe: int, entry: Entry) -> int:
    """The value the DMA masters still read after ``entry`` completed for the PEs only
    (-1: it completed for every observer)."""
    for e in after.bufs[pe]:
        if e[0] == STORE and e[5] & STORE_DMA_LATE and e[1:3] == entry[1:3]:
            return e[3]
    return -1


def _describe_complete(
    m: Machine, before: State, pe: int, index: int, after: State, bypass: bool = False
) -> StepRecord:
    entry = before.bufs[pe][index]
    instr = m.code[entry[-1]]
    actor = buffer_actor(pe)
    common: Where = {"instruction": str(instr), "target": instr.loc}
    if entry[0] == STORE:
        line = entry[1]
        if entry[5] & STORE_DMA_LATE:  # shareability.py: the second step
            effect = Effect(f"{instr} reaches the DMA masters (outside the Inner Shareable domain)")
            return record(m, before, after, actor, Action.COMPLETE, effect, lines=(line,), **common)
        how = "cacheable write into L1" if entry[4] and not bypass else "non-cacheable write at the PoC"
        if entry[4] > 1:
            how += ", an inner/outer cacheability mix"
        old = _dma_old(after, pe, entry)
        if old >= 0:  # it stayed in the buffer: performed for the PEs only (shareability.py)
            how += f"; for the PEs only: DMA masters still read {old}"
        effect = Effect(f"{instr} completes ({how})")
        return record(
            m, before, after, actor, Action.COMPLETE, effect, lines=(line,), shows_copies=True, **common
        )
    if entry[0] == DCVA:
        line, depth = entry[2], entry[4]
        point = "PoC" if depth == m.h.poc_depth else "PoU"
        late = [e[3] for e in after.bufs[pe] if e[0] == STORE and e[5] & STORE_DMA_LATE and e[7] == entry[7]]
        dma = f" (for the PEs only: DMA masters still read {late[0]})" if late else ""  # shareability.py
        effect = Effect(f"{instr} completes: {_OP_WORDS[entry[1]]} to the {point}{dma}")
        return record(
            m, before, after, actor, Action.COMPLETE, effect, lines=(line,), shows_copies=True, **common
        )
    if entry[0] == SETWAY:
        inst, line = entry[2], entry[3]
        word = _OP_WORDS[entry[1]]
        effect = Effect(f"{instr} completes: {word} {m.h.label(inst)} only (set/way: next level, local PE)")
        return record(
            m, before, after, actor, Action.COMPLETE, effect, lines=(line,), shows_copies=True, **common
        )
    return record(m, before, after, actor, Action.COMPLETE, Effect(f"entry {entry} completes"), **common)


__all__ = ["describe", "every_line"]
