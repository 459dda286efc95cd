"""Symmetry reduction (``machine/symmetry.py``, ``explore/reduced.py``) against the plain search.

A renaming is only a symmetry if it maps the steps of every state onto the steps
of the renamed state; the reduction may then never change a verdict.  Both are
checked on random symmetric systems: two or three vCPUs (or host threads) running
one random program, with shared lines and, when declared, a line of their own
each; with traps and their policies, migration, weak ordering, a DMA master or an
extra thread that is not interchangeable; against random bad states that need
not be symmetric.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stalecheck.errors import ScenarioError
from stalecheck.explore.reduced import PLAIN, Order, SearchMode, SymmetryBroken
from stalecheck.explore.search import Budget, check, replay
from stalecheck.explore.verdict import Outcome, Verdict
from stalecheck.machine import symmetry
from stalecheck.machine.por import PartialOrder
from stalecheck.machine.spec import HCR, SystemSpec, TrapContext
from stalecheck.machine.state import State
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.support.policies import map_on_fault, on_sctlr_toggle_flush, on_setway_flush

SMALL = 2_000  # random systems bigger than this are drawn again
SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much]


def _instruction(guest: bool) -> st.SearchStrategy[str]:
    line = st.sampled_from(["X", "OWN"])  # OWN: the thread's own line (or Y when lines stay)
    choices = [
        st.builds(lambda x, v: f"STR {x}, {v}", line, st.integers(1, 2)),
        st.builds(lambda op, x: f"DC {op} {x}", st.sampled_from(["CVAC", "CVAU", "CIVAC"]), line),
        st.builds(lambda op, x: f"DC {op} L1, {x}", st.sampled_from(["CSW", "CISW"]), line),
        st.sampled_from(["DSB SY", "DMB SY", "DMB ST", "ISB"]),
    ]
    if guest:
        choices.append(st.builds(lambda v: f"MSR SCTLR_EL1.C, {v}", st.integers(0, 1)))
    return st.one_of(choices)


@st.composite
def symmetric_systems(draw: st.DrawFn) -> tuple[SystemSpec, bool]:
    """A system whose threads ``t0..t{n-1}`` run one program; with ``own`` each has a line
    of its own (declared interchangeable), else the symmetry is left to be found."""
    n = draw(st.sampled_from([2, 2, 3]))
    own = draw(st.booleans())
    guest = draw(st.booleans())
    extra = draw(st.booleans())  # a thread that is not interchangeable, on a PE of its own
    weak = not own and draw(st.booleans())
    b = Builder()
    b.system(pes=n + extra, system_cache=draw(st.booleans()))
    b.page("P0", "X", vm="vm")
    owns = [f"Y{p}" for p in range(n)] if own else ["Y"] * n
    for name in dict.fromkeys(owns):
        b.page(f"Q{name}", name, vm="vm")
    mapped = ("P0",) if draw(st.booleans()) else ()
    if draw(st.booleans()):
        mapped += tuple(f"Q{name}" for name in dict.fromkeys(owns))
    bits = draw(st.sets(st.sampled_from(["TSW", "TVM", "TPC"])))
    b.vm(
        "vm",
        hcr=HCR(**{bit: True for bit in bits}),
        mapped=mapped,
        on_stage2_fault=map_on_fault(clean=draw(st.sampled_from(["", "poc"]))),
        on_setway=on_setway_flush(draw(st.booleans()), False),
        on_sctlr=on_sctlr_toggle_flush(),
        on_cmo=lambda trap: [],
    )
    template = draw(st.lists(_instruction(guest), min_size=0, max_size=2))
    template.append(draw(st.sampled_from(["LDR r1, X", "LDR r1, OWN"])))  # one load: what bad states read
    migratable = guest and draw(st.booleans())
    for p in range(n):
        program = "\n".join(line.replace("OWN", owns[p]) for line in template)
        if guest:
            b.guest(f"t{p}", program, vm="vm", pe=p, migratable=migratable)
        else:
            b.host(f"t{p}", program, pe=p)
    if extra:
        b.host(
            "other",
            "\n".join(
                draw(
                    st.lists(st.sampled_from(["STR X, 3", "LDR r1, X", "DC CIVAC X"]), min_size=1, max_size=2)
                )
            ),
            pe=n,
        )
    if draw(st.booleans()):
        b.device("dma", "STR X, 3\nLDR r1, X")
    if own:
        b.interchangeable(*[(f"t{p}", owns[p]) for p in range(n)])
    b.options(weak_ordering=weak)
    b.bad_when(lambda v: False, "never")
    spec = b.build()
    Machine(spec)  # registers written twice are renamed: every drawn program is accepted
    return spec, own


def _with_bad(spec: SystemSpec, who: str, value: int, needs_done: bool) -> SystemSpec:
    if needs_done:
        bad = lambda v: v.done(who) and v.reg(who, "r1") == value  # noqa: E731
    else:
        bad = lambda v: v.reg(who, "r1") == value  # noqa: E731
    return dataclasses.replace(spec, bad=bad, bad_text="reads value")


def _search(
    spec: SystemSpec, mode: SearchMode = PLAIN, max_states: int | None = None
) -> tuple[Machine, Verdict]:
    m = Machine(spec)
    verdict = check(
        m,
        Budget(max_states=max_states),
        sanity=m.is_complete,
        mode=mode,
        reducer=lambda seen: PartialOrder(m, seen),
        symmetry=lambda: symmetry.find(m),
    )
    return m, verdict


def _reachable(m: Machine, limit: int) -> list[State]:
    init = m.initial_state()
    seen = {init}
    frontier = [init]
    while frontier and len(seen) < limit:
        nxt = []
        for state in frontier:
            for action in m.actions(state):
                succ = m.next_state(state, action)
                if succ not in seen:
                    seen.add(succ)
                    nxt.append(succ)
        frontier = nxt
    return list(seen)


@settings(max_examples=12, deadline=None, suppress_health_check=SLOW)
@given(symmetric_systems())
def test_renamings_map_the_steps_of_a_state_onto_the_steps_of_the_renamed_state(
    drawn: tuple[SystemSpec, bool],
) -> None:
    spec, own = drawn
    m = Machine(spec)
    sym = symmetry.find(m)
    assert sym is not None, "threads with one program on PEs placed alike are interchangeable"
    assert sym.size >= 2
    if own:
        assert sym.why.startswith("declared")
    sym.start()  # policies are checked as the symmetric search checks them
    try:
        for state in _reachable(m, 80):
            for k in range(sym.size - 1):
                image = sym.apply(state, k)
                renamed_succs = {sym.apply(m.next_state(state, a), k) for a in m.actions(state)}
                succs_of_image = {m.next_state(image, a) for a in m.actions(image)}
                assert renamed_succs == succs_of_image
                assert sym.canonical(image) == sym.canonical(state)
    except SymmetryBroken:
        # A policy named the lines in an order renaming does not keep (flush_vm walks the
        # RAM in address order): the search would run without the symmetry.
        assert own
    finally:
        sym.done()


@settings(max_examples=12, deadline=None, suppress_health_check=SLOW)
@given(symmetric_systems(), st.integers(0, 2), st.integers(0, 2), st.booleans())
def test_random_symmetric_systems_get_the_same_verdict_with_and_without_symmetry(
    drawn: tuple[SystemSpec, bool], which: int, value: int, needs_done: bool
) -> None:
    spec, _ = drawn
    m = Machine(spec)
    names = [t.name for t in m.threads if "r1" in m.layout.regs[m.thread_index(t.name)]]
    assume(names)
    bad_spec = _with_bad(spec, names[which % len(names)], value, needs_done)  # need not be symmetric
    _, full = _search(bad_spec, max_states=SMALL)
    assume(full.outcome != Outcome.UNKNOWN)
    for mode in (
        SearchMode(symmetry=True),
        SearchMode(symmetry=True, por=True),
        SearchMode(symmetry=True, order=Order.DFS),
    ):
        sm, reduced = _search(bad_spec, mode)
        assert reduced.outcome == full.outcome, mode
        assert "symmetry" in reduced.reduction
        if full.outcome == Outcome.UNREACHABLE:
            assert reduced.sane == full.sane
            assert reduced.states <= full.states
        else:  # a real run to a bad state, replayed from the initial state
            assert len(reduced.steps) == len(reduced.witness)
            state = sm.initial_state()
            for index in reduced.witness:
                state = sm.next_state(state, sm.actions(state)[index])
            assert sm.is_bad(state)
            if mode.order == Order.BFS and not mode.por:
                assert len(reduced.witness) == len(full.witness), (
                    "renamings keep distances: still the shortest"
                )


def _pair(program_1: str = "STR X, 1\nLDR r1, X", policy: object = None) -> Builder:
    b = Builder()
    b.system(pes=2)
    b.page("P0", "X", vm="vm")
    b.page("P1", "Y0", vm="vm")
    b.page("P2", "Y1", vm="vm")
    b.vm("vm", on_stage2_fault=policy or map_on_fault(clean="poc"))  # type: ignore[arg-type]
    b.guest("vcpu0", "STR X, 1\nLDR r1, X", vm="vm", pe=0)
    b.guest("vcpu1", program_1, vm="vm", pe=1)
    return b


def test_a_bad_state_only_a_renamed_member_meets_gets_a_real_witness() -> None:
    b = _pair()
    b.bad_when(lambda v: v.done("vcpu1") and not v.done("vcpu0"), "vcpu1 finishes first")
    m = Machine(b.build())
    _, plain = _search(m.spec)
    sm, found = _search(m.spec, SearchMode(symmetry=True))
    assert plain.outcome == found.outcome == Outcome.REACHABLE
    assert len(found.witness) == len(plain.witness)
    state = sm.initial_state()
    for index in found.witness:
        state = sm.next_state(state, sm.actions(state)[index])
    assert sm.is_bad(state)
    assert found.steps == replay(sm, found.witness)


def test_a_declaration_that_is_no_symmetry_is_refused() -> None:
    b = _pair(program_1="STR Y1, 1\nLDR r1, Y1")
    b.interchangeable(("vcpu0", "Y0"), ("vcpu1", "Y1"))
    b.options(weak_ordering=False)  # lines are interchanged only in program order (symmetry.py)
    b.bad_when(lambda v: False, "never")
    with pytest.raises(ScenarioError, match="run different programs"):
        symmetry.find(Machine(b.build()))


def test_lines_renamed_with_their_threads() -> None:
    b = Builder()
    b.system(pes=2)
    b.page("P1", "Y0", vm="vm")
    b.page("P2", "Y1", vm="vm")
    b.vm("vm", on_stage2_fault=map_on_fault(clean="poc"))
    for p in range(2):
        b.guest(f"vcpu{p}", f"STR Y{p}, 1\nDC CIVAC Y{p}\nLDR r1, Y{p}", vm="vm", pe=p)
    b.interchangeable(("vcpu0", "Y0"), ("vcpu1", "Y1"))
    b.options(weak_ordering=False)  # lines are interchanged only in program order (symmetry.py)
    b.bad_when(lambda v: v.reg("vcpu1", "r1") == 5, "never")
    m, plain = _search(b.build())
    _, reduced = _search(m.spec, SearchMode(symmetry=True))
    assert plain.outcome == reduced.outcome == Outcome.UNREACHABLE
    assert reduced.states < plain.states
    assert reduced.reduction == "symmetry (2)"
    assert any(a.startswith("symmetry reduction (machine/symmetry.py") for a in reduced.search_assumptions)
    _, both = _search(m.spec, SearchMode(symmetry=True, por=True))
    assert len(both.search_assumptions) == 2, "both reductions are printed with the verdict"


def test_lines_are_not_interchanged_out_of_order() -> None:
    """Under the default out-of-order execution a declaration that moves lines is refused
    with the reason (the buffer's canonical order compares lines, docs/ordering.md)."""
    b = Builder()
    b.system(pes=2)
    b.page("P1", "Y0", vm="vm")
    b.page("P2", "Y1", vm="vm")
    b.vm("vm", on_stage2_fault=map_on_fault(clean="poc"))
    for p in range(2):
        b.guest(f"vcpu{p}", f"STR Y{p}, 1\nLDR r1, Y{p}", vm="vm", pe=p)
    b.interchangeable(("vcpu0", "Y0"), ("vcpu1", "Y1"))
    b.bad_when(lambda v: False, "never")
    with pytest.raises(ScenarioError, match="only without weak_ordering"):
        symmetry.find(Machine(b.build()))


def test_a_policy_that_tells_threads_apart_turns_the_symmetry_off() -> None:
    def by_name(trap: TrapContext) -> list:  # type: ignore[type-arg]
        return map_on_fault(clean="poc" if trap.thread == "vcpu0" else "")(trap)  # type: ignore[return-value]

    b = _pair(policy=by_name)
    b.bad_when(lambda v: False, "never")
    m, plain = _search(b.build())
    _, reduced = _search(m.spec, SearchMode(symmetry=True))
    assert reduced.outcome == plain.outcome
    assert reduced.states == plain.states
    assert reduced.reduction.startswith("symmetry off: the stage2-fault policy")


def test_no_symmetry_found_is_said() -> None:
    b = _pair(program_1="STR X, 2\nLDR r1, X")
    b.bad_when(lambda v: False, "never")
    m, plain = _search(b.build())
    _, reduced = _search(m.spec, SearchMode(symmetry=True))
    assert reduced.states == plain.states
    assert reduced.reduction == "symmetry: none found"
