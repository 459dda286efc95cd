"""What every witness record shares: who acts, and every copy of a line.

``describe.py`` (data-side steps) and ``mmu_text.py`` (translation and fetch
steps) build their ``step_record.StepRecord`` with these helpers, so an actor
and a line's copies are taken from the state the same way for every step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypedDict

from stalecheck.machine.hierarchy import Hierarchy
from stalecheck.machine.spec import Context, LineSpec, ThreadSpec
from stalecheck.machine.state import State
from stalecheck.machine.step_record import Actor, ActorKind, Copy, Effect, LineCopies, StepRecord


class Names(Protocol):
    """What the witness words need to know about a machine (a ``Layout`` or a ``Machine``)."""

    @property
    def h(self) -> Hierarchy: ...

    @property
    def nl(self) -> int: ...

    @property
    def lines(self) -> tuple[LineSpec, ...]: ...

    @property
    def threads(self) -> tuple[ThreadSpec, ...]: ...


def line_copies(m: Names, state: State, line: int) -> LineCopies:
    """Every copy of ``line`` in ``state``, innermost cache first, and memory."""
    copies = []
    for inst in range(len(m.h.instances)):
        copy = state.copies[inst * m.nl + line]
        if copy:
            copies.append(Copy(m.h.label(inst), tuple(copy[1]), bool(copy[0])))
    spec = m.lines[line]
    return LineCopies(spec.name, tuple(spec.locations), tuple(copies), tuple(state.mem[line]))


def every_line(m: Names, state: State) -> tuple[LineCopies, ...]:
    """Every copy of every line (the first row of a witness's table of copies)."""
    return tuple(line_copies(m, state, line) for line in range(m.nl))


def snapshot(m: Names, state: State, line: int) -> str:
    """Every copy of ``line`` in words: ``[X: L1.PE0=1* SC=1* mem=0]``."""
    return str(line_copies(m, state, line))


def _changed(m: Names, before: State, after: State) -> list[int]:
    if before.copies is after.copies and before.mem is after.mem:
        return []
    n = len(m.h.instances)
    return [
        line
        for line in range(m.nl)
        if before.mem[line] != after.mem[line]
        or any(before.copies[i * m.nl + line] != after.copies[i * m.nl + line] for i in range(n))
    ]


class Where(TypedDict):
    """The instruction and target a step's record names (passed on as ``record``'s keywords)."""

    instruction: str
    target: str


def record(
    m: Names,
    before: State,
    after: State,
    actor: Actor,
    operation: str,
    effect: Effect,
    *,
    instruction: str = "",
    target: str = "",
    lines: Iterable[int] = (),
    shows_copies: bool = False,
) -> StepRecord:
    """A step's record, with the copies of the lines it names and of any line whose
    copies it changed (so the records alone rebuild every line after every step)."""
    affected = list(dict.fromkeys([*lines, *_changed(m, before, after)]))
    return StepRecord(
        actor,
        str(operation),
        instruction,
        target,
        effect,
        tuple(line_copies(m, before, line) for line in affected),
        tuple(line_copies(m, after, line) for line in affected),
        shows_copies,
    )


def thread_actor(m: Names, state: State, t: int, kind: ActorKind | None = None) -> Actor:
    """The thread ``t`` as the actor of a step: on its PE (or a DMA master), or the
    EL2 policy running for it after a trap."""
    th = state.threads[t]
    spec = m.threads[t]
    name = f"{'PE' + str(th.pe) if th.pe >= 0 else 'DMA'} {spec.name}"
    if th.hyp:
        label = f"{name} [EL2 policy]"
        return Actor(kind or ActorKind.POLICY, name, label, th.pe, spec.name, "EL2 policy", "EL2")
    if th.pe < 0:
        return Actor(kind or ActorKind.DEVICE, name, name, -1, spec.name, "device")
    # Host code (VMM, host kernel, hypervisor) runs in the EL2&0 regime (spec.Context).
    el = "EL1" if spec.context == Context.GUEST else "EL2&0"
    return Actor(kind or ActorKind.PE, name, name, th.pe, spec.name, str(spec.context), el)


def hardware(kind: ActorKind, name: str, pe: int = -1) -> Actor:
    """A cache, TLB or I-cache acting on its own: the text calls every one "hardware"."""
    return Actor(kind, name, "hardware", pe)


def buffer_actor(pe: int) -> Actor:
    """A PE's buffer, completing a store, CMO, TLBI or IC it holds."""
    return Actor(ActorKind.BUFFER, f"PE{pe} buffer", f"PE{pe} buffer", pe)
