"""A read-only view of a state by names, for bad-state predicates and reports."""

from __future__ import annotations

from typing import Protocol

from stalecheck.errors import ScenarioError
from stalecheck.machine.state import State


class Machine(Protocol):
    """What a view reads of a machine (``system.Machine`` is one)."""

    @property
    def pruned(self) -> bool:
        """Whether the dead-lines reduction skips hardware steps (memory is then not exact)."""
        ...

    def thread_index(self, name: str) -> int: ...

    def reg_index(self, thread: int, reg: str) -> int: ...

    def final_value(self, state: State, t: int, reg: str) -> int | None:
        """A register's value when thread ``t`` has finished a program with paths, or when
        its writes of ``reg`` were renamed (None: read the slot named ``reg``)."""
        ...

    def loc_index(self, loc: str) -> tuple[int, int]: ...

    def finished(self, state: State, t: int) -> bool: ...

    def is_complete(self, state: State) -> bool: ...

    def line_of(self, name: str) -> int: ...

    def cache_labels(self) -> tuple[str, ...]:
        """The name of each cache instance, in ``State.copies`` order."""
        ...

    def reduced_lines(self) -> frozenset[int]:
        """Lines whose spontaneous cache steps a reduction skips (their copies and memory
        are then not exact)."""
        ...

    def tlb_entries(self, state: State, pe: int) -> list[str]: ...

    @property
    def tlbs_pruned(self) -> bool:
        """Whether the dead-TLB reduction drops entries (TLB contents are then not exact)."""
        ...

    def icache_entries(self, state: State, pe: int) -> list[tuple[str, int]]: ...


class StateView:
    """Names in, values out: ``v.reg("guest", "r1")``, ``v.done("guest")``, ``v.mem("X")``."""

    __slots__ = ("_m", "_s", "wide")

    def __init__(self, machine: Machine, state: State) -> None:
        self._m = machine
        self._s = state
        # Set by every read of more than ``state.threads`` (memory, caches, TLBs,
        # I-caches): while it stays False the answer is a function of the threads
        # alone, which lets ``Machine.is_bad`` memoize it by them.
        self.wide = False

    def reg(self, thread: str, reg: str) -> int:
        t = self._m.thread_index(thread)
        value = self._m.final_value(self._s, t, reg)  # a program with paths (machine/paths.py)
        if value is not None:
            return value
        return self._s.threads[t].regs[self._m.reg_index(t, reg)]

    def done(self, thread: str) -> bool:
        return self._m.finished(self._s, self._m.thread_index(thread))

    def all_done(self) -> bool:
        return self._m.is_complete(self._s)

    def fault(self, thread: str) -> int:
        """ESR of the fatal abort that stopped ``thread`` (0 if none)."""
        return self._s.threads[self._m.thread_index(thread)].fault

    def _exact(self, what: str, line: int | None) -> None:
        """Reductions skip fills, drops and write-backs: what they change is not exact."""
        self.wide = True
        if self._m.pruned or (line is not None and line in self._m.reduced_lines()) or (
            line is None and self._m.reduced_lines()
        ):
            raise ScenarioError(
                f"the bad state reads {what}, which the prune_dead_lines / quiet_coherent_lines "
                "reductions do not preserve; turn them off for this scenario"
            )

    def mem(self, loc: str) -> int:
        """The value at the PoC."""
        line, offset = self._m.loc_index(loc)
        self._exact(f"memory (v.mem({loc!r}))", line)
        return self._s.mem[line][offset]

    def cached(self, loc: str) -> dict[str, tuple[int, bool]]:
        """Every cached copy of ``loc``: cache name (``L1.PE0``, ``L2``, ``SC``) -> (value,
        dirty).  Lets a bad state say "a stale dirty copy survives", not only what was read."""
        line, offset = self._m.loc_index(loc)
        self._exact(f"cache contents (v.cached({loc!r}))", line)
        labels = self._m.cache_labels()
        nl = len(self._s.mem)
        out: dict[str, tuple[int, bool]] = {}
        for inst, label in enumerate(labels):
            copy = self._s.copies[inst * nl + line]
            if copy:
                out[label] = (copy[1][offset], bool(copy[0]))
        return out

    def tlb(self, pe: int) -> list[str]:
        """PE ``pe``'s TLB entries as ``regime:VA -> page (type)`` or ``-> fault`` text."""
        self._exact(f"a TLB (v.tlb({pe}))", None)
        if self._m.tlbs_pruned:
            raise ScenarioError(
                f"the bad state reads a TLB (v.tlb({pe})), whose entries the prune_dead_tlb reduction "
                "drops once no translation can use them; turn it off for this scenario"
            )
        return self._m.tlb_entries(self._s, pe)

    def icache(self, pe: int) -> list[tuple[str, int]]:
        """PE ``pe``'s instruction-cache entries as (line, code version)."""
        self._exact(f"an instruction cache (v.icache({pe}))", None)
        return self._m.icache_entries(self._s, pe)
