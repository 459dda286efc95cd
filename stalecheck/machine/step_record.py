"""One witness step as plain data: who did what to which line, and every copy of it.

The machine builds these records (``machine/describe.py``) while it replays a
witness; ``report/`` renders the same records as text, JSON, DOT and HTML.  This
module imports nothing from the engine, so a renderer needs only the record and
never has to parse a sentence back into its parts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class ActorKind(StrEnum):
    """Who takes a step.  A policy step is code the hypervisor runs at EL2 on the
    trapped thread's PE; the hardware kinds act on their own, at any time."""

    PE = "PE"  # a thread's instruction on its PE
    DEVICE = "device"  # a DMA master (no PE, no buffer)
    POLICY = "policy"  # hypervisor code run at EL2 for a trap (on the thread's PE)
    BUFFER = "buffer"  # a PE's buffer completing a store, CMO, TLBI or IC
    WALKER = "walker"  # a translation table walk or instruction fetch made ahead of time
    CACHE = "cache"  # a data cache evicting, dropping or speculatively filling a line
    TLB = "TLB"  # a TLB caching or dropping a translation
    ICACHE = "I-cache"  # an instruction cache prefetching or dropping a line
    HYPERVISOR = "hypervisor"  # a vCPU migration between PEs


class Action(StrEnum):
    """The hardware (or hypervisor) action of a step that is no instruction issue."""

    COMPLETE = "complete"  # a buffered operation takes effect
    WRITE_BACK = "write-back"
    DROP = "drop"
    FILL = "fill"
    SYSREG = "sysreg-takes-effect"
    MIGRATE = "migrate"
    TRANSLATE_AHEAD = "translate-ahead"
    FETCH_AHEAD = "fetch-ahead"
    TLB_FILL = "tlb-fill"
    TLB_DROP = "tlb-drop"
    IC_FILL = "icache-fill"
    IC_DROP = "icache-drop"


class Actor(NamedTuple):
    """``name`` is the actor's own lane in a sequence chart (``PE0 vcpu``, ``L1.PE0``,
    ``PE0 walker``); ``label`` is what the text line starts with (``hardware`` for
    every unprompted cache, TLB and I-cache action, as the witness has always said).
    ``el`` is the Exception level, or the host's EL2&0 regime; empty for hardware."""

    kind: ActorKind
    name: str
    label: str
    pe: int = -1
    thread: str = ""
    role: str = ""  # host / guest / device / EL2 policy
    el: str = ""


class Copy(NamedTuple):
    """One cached copy of a line: the cache instance, its values (one per location
    of the line) and whether it is dirty."""

    holder: str
    values: tuple[int, ...]
    dirty: bool


class LineCopies(NamedTuple):
    """Every copy of one line at one moment: the cached copies, outermost last,
    and the value in memory (at the PoC)."""

    line: str
    locations: tuple[str, ...]
    copies: tuple[Copy, ...]
    memory: tuple[int, ...]

    def __str__(self) -> str:
        """``[X: L1.PE0=1* SC=1 mem=0]``: ``*`` marks a dirty copy."""
        parts = [f"{c.holder}={_values(c.values)}{'*' if c.dirty else ''}" for c in self.copies]
        parts.append(f"mem={_values(self.memory)}")
        return f"[{self.line}: {' '.join(parts)}]"


def _values(values: tuple[int, ...]) -> str:
    return "/".join(str(v) for v in values)


class Effect(NamedTuple):
    """What the step did.  ``text`` is the sentence after the actor (it names the
    instruction where one is involved); the other fields hold the same facts as
    data: the memory type that decided the access's path, the value read or
    fetched, why the step trapped to EL2 and what the policy then runs, the fatal
    abort, and ``views``: the other structures the step changed or consulted (TLB,
    I-cache contents), each already in words."""

    text: str
    memtype: str = ""
    value: int | None = None
    trap: str = ""
    policy: tuple[str, ...] = ()
    fault: str = ""
    views: tuple[str, ...] = ()


class StepRecord(NamedTuple):
    """One step of a witness.

    ``before``/``after`` hold every copy of each line the step names or changes
    (so replaying the ``after`` of every step over the initial copies gives the
    copies of every line after each step).  ``shows_copies`` says whether the
    text line ends with them (a store entering a buffer changes no copy and shows
    none).
    """

    actor: Actor
    operation: str  # the opcode (STR, LDR, DC, ...) or an ``Action``
    instruction: str  # the instruction as written, "" for a hardware action
    target: str  # the location, line, page or register acted on
    effect: Effect
    before: tuple[LineCopies, ...] = ()
    after: tuple[LineCopies, ...] = ()
    shows_copies: bool = False
