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

    def loc_index(self, loc: str) -> tuple[int, int]: ...

    def finished(self, state: State, t: int) -> bool: ...

    def is_complete(self, state: State) -> bool: ...


class StateView:
    """Names in, values out: ``v.reg("guest", "r1")``, ``v.done("guest")``, ``v.mem("X")``."""

    __slots__ = ("_m", "_s")

    def __init__(self, machine: Machine, state: State) -> None:
        self._m = machine
        self._s = state

    def reg(self, thread: str, reg: str) -> int:
        t = self._m.thread_index(thread)
        return self._s.threads[t].regs[self._m.reg_index(t, reg)]

    def done(self, thread: str) -> bool:
        return self._m.finished(self._s, self._m.thread_index(thread))

    def all_done(self) -> bool:
        return self._m.is_complete(self._s)

    def fault(self, thread: str) -> int:
        """ESR of the fatal abort that stopped ``thread`` (0 if none)."""
        return self._s.threads[self._m.thread_index(thread)].fault

    def mem(self, loc: str) -> int:
        if self._m.pruned:
            raise ScenarioError(
                f"the bad state reads memory (v.mem({loc!r})), which the prune_dead_lines "
                "reduction does not preserve; turn the option off for this scenario"
            )
        line, offset = self._m.loc_index(loc)
        return self._s.mem[line][offset]
