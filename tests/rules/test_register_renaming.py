"""Issue 10: a builder program may write a register twice, out of order as in order.

Each write gets a slot of its own (``paths.rename_plain``): B2.3.1 Local register read
successor makes a register read read the program-order-latest write of that register
(and B2.3.6 Dependency through registers and memory runs from it), so a read, a final
value and ``v.reg`` follow that write, whatever order the loads are satisfied in.
Without renaming, an older load satisfied after a newer one (allowed by B2.3.7 when
nothing orders them) would overwrite it.
"""

from __future__ import annotations

from collections.abc import Callable

from stalecheck.explore.verdict import Outcome
from stalecheck.machine.system import EARLY, EXEC
from stalecheck.machine.view import StateView
from stalecheck.report.witness_text import witness_lines
from stalecheck.scenarios.builder import Builder
from tests.machine.util import explore, machine, outcome, run


def _mp(consumer: str, weak: bool | None = None) -> Callable[[Builder], None]:
    """Message passing with distinct values: data=5, then a full barrier, then flag=7."""

    def setup(b: Builder) -> None:
        b.system(pes=2)
        b.page("P", "D:data F:flag O:out")
        b.host("producer", "STR data, 5\nDMB ISH\nSTR flag, 7", pe=0)
        b.host("consumer", consumer, pe=1)
        if weak is not None:
            b.options(weak_ordering=weak)

    return setup


def _outcome(setup: Callable[[Builder], None], bad: Callable[[StateView], bool]) -> Outcome:
    """Explored with the order ``setup`` chose, or the builder's default."""
    return outcome(setup, bad, weak=None)


def _final_r1(value: int) -> Callable[[StateView], bool]:
    return lambda v: v.done("consumer") and v.reg("consumer", "r1") == value


def test_the_default_runs_out_of_order_and_accepts_a_register_written_twice() -> None:
    """The builder's default is out-of-order execution (issue 10), and ``LDR r1`` twice is
    accepted: the final ``r1`` is the second load's (data: 0 or 5), never the flag (7)."""
    twice = "LDR r1, flag\nLDR r1, data"
    m = machine(_mp(twice), _final_r1(7))
    assert m.spec.options.weak_ordering
    assert m.layout.renamed[1] == {"r1": ((0, "r1"), (1, "r1'2"))}
    assert _outcome(_mp(twice), _final_r1(7)) == Outcome.UNREACHABLE
    assert _outcome(_mp(twice), _final_r1(5)) == Outcome.REACHABLE
    assert _outcome(_mp(twice, weak=False), _final_r1(7)) == Outcome.UNREACHABLE


def test_a_load_satisfied_late_does_not_overwrite_a_later_write() -> None:
    """B2.3.7: two loads of different locations with nothing between are not ordered, so
    the second (``data``) may be satisfied first.  The first (``flag``) then executes
    last; the register still holds the second load's value (its own slot), and the
    stale pair of MP (flag 7, data 0) shows through a reused register too: with a
    ``DMB LD`` between them it does not (Barrier-ordered-before)."""
    stale = "LDR r1, flag\nLDR r2, flag\nLDR r2, data"  # r1 flag, r2 flag then data

    def bad(v: StateView) -> bool:
        return v.done("consumer") and v.reg("consumer", "r1") == 7 and v.reg("consumer", "r2") == 0

    assert _outcome(_mp(stale), bad) == Outcome.REACHABLE
    assert _outcome(_mp("LDR r1, flag\nDMB LD\nLDR r2, flag\nLDR r2, data"), bad) == Outcome.UNREACHABLE
    assert _outcome(_mp(stale, weak=False), bad) == Outcome.UNREACHABLE



def test_the_register_holds_the_program_order_latest_write_whatever_the_execution_order() -> None:
    """Step by step: the second load (data=5) is satisfied first, then the first
    (flag=7) executes last, into its own slot; ``r1`` is 5 throughout: B2.3.1 Local
    register read successor, a read of ``r1`` reads the program-order-latest write."""

    def setup(b: Builder) -> None:
        b.system(pes=1)
        b.page("P", "D:data F:flag")
        b.init(data=5, flag=7)
        b.host("consumer", "LDR r1, flag\nLDR r1, data")

    m = machine(setup, lambda v: False)
    s = run(m, m.initial_state(), (EARLY, 0, 1, 0))  # LDR r1, data ahead of LDR r1, flag
    view = StateView(m, s)
    assert view.reg("consumer", "r1") == 5 and not view.done("consumer")
    s = run(m, s, (EXEC, 0, 0))  # LDR r1, flag reads 7 into its own slot
    view = StateView(m, s)
    assert view.done("consumer")
    assert view.reg("consumer", "r1") == 5, "the program-order-latest write, not the last executed"
    assert s.threads[0].regs == (7, 5)


def test_a_store_of_a_register_reads_the_latest_write() -> None:
    """B2.3.1 Local register read successor and B2.3.6 Data dependency: ``STR out, r1``
    reads the program-order-latest write of ``r1`` (the data load), so ``out`` is never
    the flag's 7; and the store waits for that load only, not for the first write of
    ``r1``."""
    prog = "LDR r1, flag\nLDR r1, data\nSTR out, r1"
    m = machine(_mp(prog), lambda v: v.all_done() and v.mem("out") == 7)
    window = m.execute.windows[1]
    assert window is not None
    assert window.precede[2] & 0b10 and not window.precede[2] & 0b01
    assert explore(m).outcome == Outcome.UNREACHABLE
    assert _outcome(_mp(prog), lambda v: v.all_done() and v.mem("out") == 5) == Outcome.REACHABLE


def test_a_witness_names_the_register_not_its_slot() -> None:
    """A witness prints the architectural register (``LDR r1, data``), never ``r1'2``."""
    m = machine(_mp("LDR r1, flag\nLDR r1, data"), _final_r1(5))
    verdict = explore(m)
    assert verdict.outcome == Outcome.REACHABLE
    text = "\n".join(witness_lines(verdict.steps))
    assert "LDR r1, data" in text and "r1'" not in text
