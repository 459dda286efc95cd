"""Which write each load read, and the order writes reached coherence (litmus counts).

herd7 counts *candidate executions*: a path through each thread's code, a
read-from relation (for each read, the write it takes its value from) and a
coherence order (per location, the order of its writes), that the model allows.
Two executions may end in the same final state: a load that reads 0 from the
initial write or from another thread's write of 0, a CAS whose outcome is
written in two ways, a loop whose store-exclusive failed once.  With
``Options.record_executions`` (on only for ``stalecheck litmus --engine
machine``) each thread keeps a ``Thread.trace``, indexed by program index:

- for a load, the write it read: ``INIT`` (the location's initial value) or
  ``write_id(t, j)`` (instruction ``j`` of thread ``t``), recorded when the
  load is satisfied;
- for a store, its position in its location's coherence order (1, 2, ...),
  recorded when it propagates into the coherent memory system (the buffer
  entry completes: Arm is other-multi-copy-atomic, B2.3.2, so that moment is
  its place in coherence order, B2.3.1 Coherence order).

A final state's traces and paths are then one execution: the number of
distinct ones reached is herd's count (``litmus_machine.py``).  The source of
a load mirrors the value ``Execute.load_values`` gives it: a program-order
earlier store of the thread not yet propagated (forwarded), else the
coherence-latest write of the location (the coherent caches hold its value).
Only coherent, cacheable accesses are tracked (the litmus system); anything
else is refused rather than counted wrongly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from stalecheck.errors import ScenarioError
from stalecheck.machine.memtypes import PATH_CACHEABLE
from stalecheck.machine.state import Entry, State, Thread, with_thread

if TYPE_CHECKING:
    from stalecheck.machine.isa import Instr
    from stalecheck.machine.layout import Layout
    from stalecheck.machine.ordering import Window

INIT = 1  # a load read the location's initial value
_STRIDE = 1 << 16  # program indices per thread in a write id


def write_id(t: int, j: int) -> int:
    """The trace value of a load that read instruction ``j`` of thread ``t``."""
    return 2 + t * _STRIDE + j


def _set(th: Thread, j: int, value: int) -> Thread:
    trace = th.trace
    if len(trace) <= j:
        trace = trace + (0,) * (j + 1 - len(trace))
    return th._replace(trace=(*trace[:j], value, *trace[j + 1 :]))


class Placing(Protocol):
    """What the recorder needs of ``execute.Execute``, which owns it: an interface
    here rather than an import, so that the two modules do not import each other."""

    @property
    def layout(self) -> Layout: ...

    @property
    def windows(self) -> tuple[Window | None, ...]: ...

    def where(self, th: Thread, t: int, j: int, instr: Instr) -> tuple[int, int] | None: ...


class RfCo:
    """Records read-from and coherence order in the threads of a state (module doc)."""

    def __init__(self, layout: Layout, execute: Placing) -> None:
        self.execute = execute
        self.thread_on: dict[int, int] = {}
        self.stores: list[tuple[int, ...]] = []
        for t, spec in enumerate(layout.threads):
            window = execute.windows[t]
            if window is None or spec.pe < 0:
                raise ScenarioError(f"record_executions: thread {spec.name!r} is not a CPU thread")
            if spec.pe in self.thread_on:
                raise ScenarioError("record_executions needs one thread per PE")
            self.thread_on[spec.pe] = t
            self.stores.append(tuple(j for j, i in enumerate(window.instrs) if i.op == "STR"))

    def _path_stores(self, th: Thread, t: int) -> tuple[int, ...]:
        """The stores of the path thread ``t`` runs (a thread's program holds all its
        paths one after the other, ``paths.py``; the others never execute)."""
        span = self.execute.layout.path_of(t, th.pc)
        if span is None:
            return self.stores[t]
        return tuple(j for j in self.stores[t] if span.start <= j < span.stop)

    def _where(self, th: Thread, t: int, j: int) -> tuple[int, int] | None:
        window = self.execute.windows[t]
        assert window is not None
        return self.execute.where(th, t, j, window.instrs[j])

    def _latest(self, state: State, where: tuple[int, int]) -> tuple[int, int]:
        """The coherence-latest propagated write to ``where``: (its position, its id)."""
        best, source = 0, INIT
        for t, th in enumerate(state.threads):
            trace = th.trace
            for j in self.stores[t]:
                if j < len(trace) and trace[j] > best and self._where(th, t, j) == where:
                    best, source = trace[j], write_id(t, j)
        return best, source

    def source(self, state: State, t: int, th: Thread, index: int, forwarder: int) -> int:
        """The write load ``index`` of thread ``t`` reads in ``state``: ``forwarder`` (the
        not-yet-executed store its value is forwarded from, ``Execute.forwarder``), else
        the newest own store to the location still in the buffer (``buffer.forward``:
        same-location stores enter it in program order, and none after the load has
        executed), else the coherence-latest propagated write."""
        if forwarder >= 0:
            return write_id(t, forwarder)
        where = self._where(th, t, index)
        assert where is not None
        done = th.ahead | ((1 << th.pc) - 1)
        trace = th.trace
        for j in reversed(self._path_stores(th, t)):
            unpropagated = j >= len(trace) or not trace[j]
            if j < index and done >> j & 1 and unpropagated and self._where(th, t, j) == where:
                return write_id(t, j)
        return self._latest(state, where)[1]

    def read(self, state: State, t: int, th: Thread, index: int, forwarder: int) -> Thread:
        """``th`` (thread ``t`` after its load ``index`` was satisfied) with the load's
        source recorded (``state`` is the state before the load)."""
        return _set(th, index, self.source(state, t, th, index, forwarder))

    def propagated(self, state: State, pe: int, entry: Entry, ident: int) -> State:
        """A store of PE ``pe`` (buffer entry ``entry``, interned instruction ``ident``)
        has propagated: it takes the next place in its location's coherence order.  It
        is the program-order first executed, unpropagated store of the thread with that
        instruction and location (same-location stores propagate in program order)."""
        if entry[4] != PATH_CACHEABLE:
            raise ScenarioError("record_executions tracks coherent, cacheable stores only")
        t = self.thread_on[pe]
        th = state.threads[t]
        window = self.execute.windows[t]
        assert window is not None
        ids = self.execute.layout.ids
        where = (entry[1], entry[2])
        done = th.ahead | ((1 << th.pc) - 1)
        trace = th.trace
        for j in self._path_stores(th, t):
            candidate = done >> j & 1 and (j >= len(trace) or not trace[j]) and ids[window.instrs[j]] == ident
            if candidate and self._where(th, t, j) == where:
                position = self._latest(state, where)[0] + 1
                return with_thread(state, t, _set(th, j, position))
        raise ScenarioError(f"record_executions: no executed store of thread {t} matches a propagated entry")
