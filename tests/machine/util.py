"""Small helpers shared by the machine tests: build a machine from a few builder
calls, and drive it step by step by naming the step kind we expect."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import assume

from stalecheck.errors import ScenarioError
from stalecheck.explore.search import Budget, check
from stalecheck.explore.verdict import Outcome, Verdict
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.state import State
from stalecheck.machine.system import EXEC, Machine, Step
from stalecheck.machine.view import StateView
from stalecheck.scenarios.builder import Builder
from tests.tally import Tally


def machine(setup: Callable[[Builder], None], bad: Callable[..., bool] | None = None) -> Machine:
    """A machine from ``setup``; the bad state defaults to "never" for unit tests."""
    b = Builder()
    setup(b)
    if b._bad is None:
        b.bad_when(bad or (lambda v: False), "test")
    return Machine(b.build())


def steps_of(m: Machine, state: State, kind: int) -> list[Step]:
    return [s for s in m.actions(state) if s[0] == kind]


def exec_thread(m: Machine, state: State, thread: str, choice: int = 0) -> State:
    """Execute ``thread``'s next instruction; fails if it is not enabled."""
    t = m.thread_index(thread)
    step = (EXEC, t, choice)
    assert step in m.actions(state), f"{thread} cannot execute {m.current(state, t)} now"
    return m.next_state(state, step)


def run(m: Machine, state: State, *steps: Step) -> State:
    """Apply steps in order, each checked to be enabled (so a test cannot take an
    impossible step and prove something about an unreachable state)."""
    for step in steps:
        assert step in m.actions(state), f"{step} not enabled; enabled: {m.actions(state)}"
        state = m.next_state(state, step)
    return state


def explore(m: Machine, max_states: int = 200_000) -> Verdict:
    return check(m, Budget(max_states=max_states), sanity=m.is_complete)


def outcome(
    setup: Callable[[Builder], None], bad: Callable[[StateView], bool], weak: bool | None = True
) -> Outcome:
    """The outcome of exploring ``setup`` with ``bad`` as the bad state, out of program
    order unless ``weak`` is False (None: as ``setup`` and the builder's default leave it).
    An "unreachable" counts only when some run ends: otherwise the bad state was missed
    because every run was cut, which proves nothing."""
    b = Builder()
    setup(b)
    if weak is not None:
        b.options(weak_ordering=weak)
    b.bad_when(bad, "the outcome under test")
    verdict = explore(Machine(b.build()))
    assert verdict.outcome != Outcome.UNREACHABLE or verdict.sane, "unreachable only because no run ends"
    return verdict.outcome


def quiet_agrees(search: Callable[[SystemSpec, bool], Verdict], spec: SystemSpec, tally: Tally) -> None:
    """One draw of a quiet-lines property test: ``search(spec, on)`` with the reduction
    off and on gives the same outcome and shortest witness length, never more states; a
    system the reduction refuses (ScenarioError naming the option) counts as unanswered
    in ``tally``, so the caller can require that most were answered.  Systems the full
    search does not decide are drawn again."""
    full = search(spec, False)
    assume(full.outcome != Outcome.UNKNOWN)
    try:
        reduced = search(spec, True)
    except ScenarioError as err:
        assert "quiet_coherent_lines" in str(err)
        tally.saw(False)
        return
    tally.saw(True)
    assert (reduced.outcome, len(reduced.witness)) == (full.outcome, len(full.witness))
    assert reduced.states <= full.states
