"""The plans of ``machine/plan.py`` give, state by state, the successors ``next_state``
gives over ``actions``: memo on equals memo off.

Every state a breadth-first search reaches (up to a bound) is asked for its successor
codes three times (the first two times an outer part is met they are computed directly,
from fine plans keyed with and without the TLBs, later from the plan, and a plan grows
its tree of load answers as states ask it), and each code,
resolved into a state, must equal ``next_state`` of the action at its index; the numbers
in the codes must be those of the parts they name.  On random systems (hypothesis), with
and without out-of-order execution, and on bundled variants that exercise weak
ordering, translation, instruction fetch, DMA masters, atomics and litmus execution
counts.  The searches themselves are compared in tests/explore/test_split.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stalecheck.errors import ScenarioError
from stalecheck.machine.plan import ASK, COMPUTE, DYNAMIC, SAME, TLBS
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.state import UNREAD, InnerRead, State
from stalecheck.machine.steps import TLB_FILL
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario
from tests.machine.test_stateful import systems
from tests.machine.translated_systems import translated_systems


def _resolve(m: Machine, state: State, code: tuple[int, Any, Any]) -> State:
    key, place, part = code
    if key == COMPUTE:
        return m.next_state(state, place)
    if key == SAME:
        assert part is None
        inner = state[: m.split_at]
    else:
        assert m.inner_keys[part] == key  # the number is the part's
        inner = part
    outer = state[m.split_at :] if place == SAME else m.outer_list[place]
    return m.join(inner, outer)


def _agree(m: Machine, limit: int) -> int:
    """Compare plans with ``next_state`` on up to ``limit`` states; return how many."""
    init = m.initial_state()
    seen = {init}
    frontier = [init]
    while frontier and len(seen) < limit:
        nxt = []
        for state in frontier:
            own = m.inner_keys.setdefault(state[: m.split_at], len(m.inner_keys))
            oid = m.number_outer(state[m.split_at :])
            actions = m.actions(state)
            expected = [m.next_state(state, a) for a in actions]
            for _ in range(3):  # directly twice, then from the plan (built for the third)
                codes = m.expand_numbered(state, own, oid)
                assert [_resolve(m, state, c) for c in codes] == expected
            for succ in expected:
                if succ not in seen:
                    seen.add(succ)
                    nxt.append(succ)
        frontier = nxt
    return len(seen)


def _weak(m: Machine) -> Machine:
    spec = m.spec
    options = dataclasses.replace(spec.options, weak_ordering=True)
    try:
        return Machine(dataclasses.replace(spec, options=options))
    except ScenarioError:
        assume(False)
        raise


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(systems(), st.booleans())
def test_plans_give_next_state_on_random_systems(m: Machine, weak: bool) -> None:
    _agree(_weak(m) if weak else m, 3000)


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("kvm-external-l3", "clean-to-pou"),
        ("kvm-external-l3", "hcr-dc-dma"),  # a device
        ("osv-pte-barriers", "spurious-fault-retry"),  # translation: TLBs and walks
        ("kvm-guest-faults-icache", "swap-in-clean-poc"),  # instruction fetch
        ("virtio-ring-rmb", "no-rmb"),  # weak ordering
        ("fcvm-vsock-nv2", "vmm-no-acquire-fwb"),  # weak ordering, no cache steps
        ("fcvm-vsock-nv2", "ring-nc+all-patches+desc-flush-before-publish"),
        ("xen-set-way", "tsw-tvm"),  # traps and policies
    ],
)
def test_plans_give_next_state_on_bundled_variants(scenario: str, variant: str) -> None:
    m = Machine(load_scenario(scenario).variants[variant].build())
    assert _agree(m, 4000) >= 100


def test_a_probe_refuses_every_read_of_memory_and_copies() -> None:
    """What makes a plan exact: a computation on the probe cannot look at the inner part
    without raising, whatever it does with it (the tuple comparisons included)."""
    reads = [
        lambda: UNREAD[0],
        lambda: len(UNREAD),  # type: ignore[arg-type]
        lambda: hash(UNREAD),
        lambda: UNREAD == (),
        lambda: ((), UNREAD) == ((), ()),
        lambda: bool(UNREAD),
        lambda: list(UNREAD),  # type: ignore[call-overload]
        lambda: (*UNREAD,),  # type: ignore[misc]
        lambda: 1 in UNREAD,  # type: ignore[operator]
        lambda: {UNREAD: 1},
    ]
    for read in reads:
        with pytest.raises(InnerRead):
            read()


def test_a_load_makes_a_tree_of_answers() -> None:
    """A thread whose next instruction is a load has its plan keyed by the value read:
    two states with the same outer part and different memory take different leaves of
    one tree, each the successor ``next_state`` gives."""
    from stalecheck.scenarios.builder import Builder

    b = Builder()
    b.system(pes=1)
    b.page("P", "X")
    b.host("a", "LDR r1, X")
    b.bad_when(lambda v: False, "never")
    m = Machine(b.build())
    first = m.initial_state()
    line, offset = m.loc_index("X")
    values = list(first.mem[line])
    values[offset] = 5
    second = first._replace(mem=(*first.mem[:line], tuple(values), *first.mem[line + 1 :]))
    oid = m.number_outer(first[m.split_at :])
    loaded = set()
    for state in (first, first, second, second, first):
        own = m.inner_keys.setdefault(state[: m.split_at], len(m.inner_keys))
        codes = m.expand_numbered(state, own, oid)
        got = [_resolve(m, state, c) for c in codes]
        assert got == [m.next_state(state, a) for a in m.actions(state)]
        loaded.add(got[0].threads[0].regs)
    assert len(loaded) == 2  # r1 = 0 and r1 = 5
    plan = m.planner._plans[oid]
    assert plan is not None and plan.nodes[0][0] == ASK and len(plan.nodes[0][2]) == 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(translated_systems(), st.booleans())
def test_plans_give_next_state_on_translated_systems_with_walk_memo(spec: SystemSpec, quiet: bool) -> None:
    """Translated systems, with quiet lines (outer parts that are mostly TLBs): a probe's
    walks are answered through the walk memo (walker.py), which asks the plan's oracle
    each question once, in the order a walk asks it."""
    options = dataclasses.replace(spec.options, quiet_coherent_lines=quiet)
    try:
        _agree(Machine(dataclasses.replace(spec, options=options)), 2000)
    except ScenarioError as err:  # a quiet line accessed Non-cacheably: refused
        assert "quiet_coherent_lines" in str(err)


def test_a_fine_plan_keyed_without_the_tlbs_serves_every_tlb_unless_it_reads_one() -> None:
    """Two states that differ only in a TLB entry: the step of an untranslated store comes
    from one fine plan keyed without the TLBs (its probe's TLBs refuse every use), a
    translated load's from plans keyed with them (its light leaf is DYNAMIC); each
    successor is the one ``next_state`` gives."""
    from tests.machine.translated_systems import host_system

    spec = host_system([], [], [], "wb", "wb", 2)
    # In program order: out of order, the store's segment would also run the loads ahead.
    m = Machine(dataclasses.replace(spec, options=dataclasses.replace(spec.options, weak_ordering=False)))
    assert m.mmu is not None and m.planner.light
    first = m.initial_state()
    fill = next(a for a in m.actions(first) if a[0] == TLB_FILL)
    second = m.next_state(first, fill)
    assert second.tlbs != first.tlbs and second[: m.split_at] == first[: m.split_at]
    keys = {}
    for state in (first, second):
        own = m.inner_keys.setdefault(state[: m.split_at], len(m.inner_keys))
        oid = m.number_outer(state[m.split_at :])
        codes = m.expand_numbered(state, own, oid)
        assert [_resolve(m, state, c) for c in codes] == [m.next_state(state, a) for a in m.actions(state)]
        keys[state] = set(m.planner._fine)
    light = {k for k in keys[second] if k[0] == 0}  # thread 0's segment: one light key only
    assert len(light) == 1, "the untranslated store's plan is shared by both TLB contents"
    # A translated access with a TLB entry for it: the light leaf read the TLB (DYNAMIC),
    # the step comes from the plan keyed with the TLBs.
    frontier, seen = [first], {first}
    while True:
        state = frontier.pop(0)
        pc = state.threads[0].pc
        prog = m.programs[0]
        if pc < len(prog) and m.code[prog[pc]].loc == "V" and state.tlbs[0]:
            break
        for succ in (m.next_state(state, a) for a in m.actions(state)):
            if succ not in seen:
                seen.add(succ)
                frontier.append(succ)
    own = m.inner_keys.setdefault(state[: m.split_at], len(m.inner_keys))
    codes = m.expand_numbered(state, own, m.number_outer(state[m.split_at :]))
    assert [_resolve(m, state, c) for c in codes] == [m.next_state(state, a) for a in m.actions(state)]
    th = state.threads[0]
    light_key = (0, th, state.bufs[0], state[4:TLBS], state[TLBS + 1 :])
    assert m.planner._fine[light_key][0] == DYNAMIC
    assert (0, th, state.bufs[0], state[4:]) in m.planner._fine
