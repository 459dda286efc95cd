"""Issue 10: what the out-of-order window does with polls, waits, cache maintenance and traps.

Each test explores a small program with ``weak_ordering`` and quotes the rule that
makes the outcome reachable or not; where the rule relaxes an order the window used to
keep, the test also shows the order was observable (the outcome flips with a barrier).
"""

from __future__ import annotations

from collections.abc import Callable

from stalecheck.explore.verdict import Outcome
from stalecheck.machine.ordering import Window
from stalecheck.machine.program import parse_program
from stalecheck.machine.spec import TrapContext
from stalecheck.machine.system import EXEC, Machine
from stalecheck.machine.view import StateView
from stalecheck.scenarios.builder import Builder
from tests.machine.util import outcome as _outcome
from tests.machine.util import run


def test_await_at_least_leaves_on_any_later_value() -> None:
    """``AWAIT idx, >=1`` is ``while (READ_ONCE(idx) < 1)``: once the producer has moved
    the index past 1 the poller still leaves (``AWAIT idx, 1`` would spin for ever)."""
    b = Builder()
    b.system(pes=2)
    b.page("P", "I:idx")
    b.host("producer", "STR idx, 1\nSTR idx, 2\nDSB SY", pe=0)
    b.host("poller", "AWAIT idx, >=1", pe=1)
    b.host("exact", "AWAIT idx, 1", pe=1)
    b.bad_when(lambda v: False, "never")
    m = Machine(b.build())
    s = m.initial_state()
    s = run(m, s, (EXEC, 0, 0), (EXEC, 0, 0))
    while (EXEC, 0, 0) not in m.actions(s):  # complete both stores so the DSB can go
        s = m.next_state(s, next(a for a in m.actions(s) if a[0] != EXEC))
    s = run(m, s, (EXEC, 0, 0))
    assert (EXEC, 1, 0) in m.actions(s)
    assert (EXEC, 2, 0) not in m.actions(s)


def _mp_poll(consumer: str, wmb: str = "DMB ISHST") -> Callable[[Builder], None]:
    def setup(b: Builder) -> None:
        b.system(pes=2)
        b.page("P", "D:data F:flag")
        b.host("producer", f"STR data, 1\n{wmb}\nSTR flag, 1", pe=0)
        b.host("consumer", consumer, pe=1)

    return setup


def _stale(v: StateView) -> bool:
    return v.done("consumer") and v.reg("consumer", "r1") == 0


def test_a_poll_does_not_order_later_loads() -> None:
    """B2.3.7 Dependency-ordered-before orders after a Control dependency only "an Explicit
    Memory Write Effect", a Hardware Update, TLBI, DC CVAU or IC Effect: a later load may
    be satisfied before the polling loop exits (MP+dmb.st+ctrl is allowed).  A DMB LD
    (Barrier-ordered-before) or an acquire poll orders it."""
    poll = "AWAIT flag, >=1\nLDR r1, data"
    assert _outcome(_mp_poll(poll), _stale) == Outcome.REACHABLE
    assert _outcome(_mp_poll(poll), _stale, weak=False) == Outcome.UNREACHABLE
    assert _outcome(_mp_poll("AWAIT flag, >=1\nDMB LD\nLDR r1, data"), _stale) == Outcome.UNREACHABLE
    assert _outcome(_mp_poll("AWAITA flag, >=1\nLDR r1, data"), _stale) == Outcome.UNREACHABLE


def _lb(p0: str) -> Callable[[Builder], None]:
    def setup(b: Builder) -> None:
        b.system(pes=2)
        b.page("P", "X:x Y:y")
        b.host("p0", p0, pe=0)
        b.host("p1", "LDR r1, y\nDMB SY\nSTR x, 1", pe=1)

    return setup


def _lb_seen(v: StateView) -> bool:
    return v.all_done() and v.reg("p1", "r1") == 1


def test_a_poll_orders_later_stores() -> None:
    """B2.3.7 Dependency-ordered-before: "There is a Control dependency from E1 to E2" and
    "E2 is an Explicit Memory Write Effect" (B2.3.6: the loop's conditional branch reads
    the polled value).  So LB+dmb+ctrl is forbidden; without the poll the store may go
    first."""
    assert _outcome(_lb("AWAIT x, >=1\nSTR y, 1"), _lb_seen) == Outcome.UNREACHABLE
    both = lambda v: _lb_seen(v) and v.reg("p0", "r0") == 1  # noqa: E731
    assert _outcome(_lb("LDR r0, x\nSTR y, 1"), both) == Outcome.REACHABLE


def test_a_poll_orders_later_cache_maintenance_and_isb() -> None:
    """B2.3.7 Dependency-ordered-before: after a Control dependency, "E2 is a DC CVAU Effect"
    or "an IC Effect"; Instruction-fetch-barrier-ordered-before: "There is a Control
    dependency from E1 to E3. E3 is an Instruction Fetch Barrier Effect".  (A clean's
    timing is rarely observable, write-backs being spontaneous, so this is checked on the
    window's table.)  A later load is not held back."""
    b = Builder()
    b.system(pes=1)
    b.page("P", "D:data F:flag E:other")
    b.options(weak_ordering=True)
    b.host("cpu", "AWAIT flag, >=1\nDC CVAU D\nISB\nLDR r1, other")
    b.bad_when(lambda v: False, "never")
    window = Machine(b.build()).execute.windows[0]
    assert window is not None
    assert window.precede[1] & 1 and window.precede[2] & 1
    assert not Window(list(parse_program("AWAIT flag, >=1\nLDR r1, other")), (0, 1), "t").precede[1]


def _dc_setup(barrier: str) -> Callable[[Builder], None]:
    def setup(b: Builder) -> None:
        b.system(pes=1)
        b.page("P", "D:data F:flag")
        b.device("dma", "STR data, 1\nSTR flag, 1", coherent=False)
        b.host("cpu", f"LDR r1, flag\n{barrier}DC CIVAC D\nDSB SY\nLDR r2, data", pe=0)

    return setup


def _dc_stale(v: StateView) -> bool:
    return v.all_done() and v.reg("cpu", "r1") == 1 and v.reg("cpu", "r2") == 0


def test_a_dc_to_another_line_may_run_before_an_earlier_load() -> None:
    """D7.5.9.15: data cache instructions "Can execute in any order relative to loads or
    stores that access an address in a different cache line ..., unless a DMB or DSB is
    executed between the instructions" ("a DMB or DSB whose required access type is both
    loads and stores").  A CPU reads a non-coherent DMA master's flag, then invalidates the
    buffer: the invalidate may run before the flag read, a speculative fill then brings the
    old buffer back, and the read after the DSB hits it.  DMB SY (not DMB LD) closes it."""
    assert _outcome(_dc_setup(""), _dc_stale) == Outcome.REACHABLE
    assert _outcome(_dc_setup(""), _dc_stale, weak=False) == Outcome.UNREACHABLE
    assert _outcome(_dc_setup("DMB LD\n"), _dc_stale) == Outcome.REACHABLE
    assert _outcome(_dc_setup("DMB SY\n"), _dc_stale) == Outcome.UNREACHABLE


def test_an_earlier_load_may_complete_after_a_wait() -> None:
    """A WAIT is an acquire (or an ioctl returning): "an Explicit Memory Read Effect with
    Acquire semantics" is Barrier-ordered-before every later access (B2.3.7), not after
    earlier ones.  So a load before the WAIT may be satisfied after it, once a store after
    the WAIT has been seen (LB through an acquire is allowed)."""

    def setup(b: Builder) -> None:
        b.system(pes=2)
        b.page("P", "Y:y Z:z")
        b.host("p0", "SIGNAL go\nAWAIT z, 1\nSTR y, 1", pe=0)
        b.host("p1", "LDR r1, y\nWAIT go\nSTR z, 1", pe=1)

    late = lambda v: v.all_done() and v.reg("p1", "r1") == 1  # noqa: E731
    assert _outcome(setup, late) == Outcome.REACHABLE
    assert _outcome(setup, late, weak=False) == Outcome.UNREACHABLE


def test_nothing_after_a_wait_runs_before_it() -> None:
    """The other half of the acquire: the waiter's later load sees what the signaller
    stored before its SIGNAL (SIGNAL waits until those stores have completed)."""

    def setup(b: Builder) -> None:
        b.system(pes=2)
        b.page("P", "X:x")
        b.host("p0", "STR x, 1\nSIGNAL go", pe=0)
        b.host("p1", "WAIT go\nLDR r1, x", pe=1)

    assert _outcome(setup, lambda v: v.done("p1") and v.reg("p1", "r1") == 0) == Outcome.UNREACHABLE


def test_nothing_runs_ahead_of_an_instruction_that_may_trap() -> None:
    """Exceptions are precise: a later instruction may be executed early only if the
    earlier one does not fault, and it is discarded when it does (D1.4: on taking an
    exception, instructions after the preferred return address have not executed;
    B2.3.7 orders an MMU Fault Effect after a DMB or an acquire).  The guest's MMIO store
    exits to the hypervisor, which stores 5 to X before returning: the guest's later load
    of X must see it."""

    def on_mmio(trap: TrapContext) -> list:  # type: ignore[type-arg]
        return list(parse_program("STR X, 5"))

    def setup(b: Builder) -> None:
        b.system(pes=1)
        b.page("RAM", "X", vm="vm")
        b.page("MMIO", "Q")
        b.vm("vm", mapped=("RAM",), mmio=("MMIO",), on_mmio=on_mmio)
        b.guest("vcpu", "STR Q, 1\nLDR r1, X", vm="vm")

    assert _outcome(setup, lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 5) == Outcome.UNREACHABLE


def test_a_dc_keeps_program_order_with_a_store_to_its_line() -> None:
    """D7.5.9.15: data cache instructions "Execute in program order relative to loads or
    stores that ... Access an address in Normal memory with either Inner Write Through or
    Inner Write Back attributes within the same cache line".  The clean after the store
    pushes the store's data to the PoC, where a non-coherent DMA master reads it; a clean
    of another line does not (the store may still be dirty in L1)."""

    def setup(clean: str) -> Callable[[Builder], None]:
        def build(b: Builder) -> None:
            b.system(pes=1)
            b.page("P", "X:x Y:y")  # X is the first line: line index 0
            b.host("cpu", f"STR x, 1\nSTR y, 1\nDC CVAC {clean}\nDSB SY\nSIGNAL done", pe=0)
            b.device("dma", "WAIT done\nLDR r1, x", coherent=False)

        return build

    stale = lambda v: v.done("dma") and v.reg("dma", "r1") == 0  # noqa: E731
    assert _outcome(setup("X"), stale) == Outcome.UNREACHABLE
    assert _outcome(setup("Y"), stale) == Outcome.REACHABLE
