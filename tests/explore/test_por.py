"""Partial-order reduction, depth-first and bitstate search (``explore/reduced.py``,
``machine/por.py``) against the plain breadth-first search.

The reduction must never change a verdict: "unreachable" is a proof.  Compared
on random small systems (traps, policies, migration, devices, weak ordering)
with random bad states over registers, and on every variant of the bundled
scenarios that explore in well under a second (``benchmarks/por_factor.py``
compares every bundled variant and prints the reduction factor).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stalecheck.explore.reduced import Order, SearchMode
from stalecheck.explore.search import Budget, check
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.machine.por import PartialOrder, conflict
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.state import UNREAD, State
from stalecheck.machine.system import Machine, Step
from stalecheck.runner import load_scenario, run_variant
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.support.policies import map_on_fault
from tests.machine.test_stateful import systems
from tests.machine.translated_systems import one_stage_host
from tests.machine.util import machine

SMALL = 5_000  # random systems bigger than this are drawn again


PLAIN = SearchMode()


def search(spec: SystemSpec, mode: SearchMode = PLAIN, max_states: int | None = None) -> Verdict:
    m = Machine(spec)
    return check(
        m,
        Budget(max_states=max_states),
        sanity=m.is_complete,
        mode=mode,
        reducer=lambda seen: PartialOrder(m, seen),
    )


def _bad_state(m: Machine, value: int, which: int, needs_done: bool) -> SystemSpec:
    """A random bad state over registers: some thread loaded ``value`` into r1."""
    names = [t.name for t in m.threads if "r1" in m.layout.regs[m.thread_index(t.name)]]
    assume(names)
    who = names[which % len(names)]
    if needs_done:
        bad = lambda v: v.done(who) and v.reg(who, "r1") == value  # noqa: E731
    else:
        bad = lambda v: v.reg(who, "r1") == value  # noqa: E731
    return dataclasses.replace(m.spec, bad=bad, bad_text="reads value")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(systems(), st.integers(0, 7), st.integers(0, 3), st.booleans(), st.booleans())
def test_random_systems_get_the_same_verdict_with_and_without_reduction(
    m: Machine, value: int, which: int, needs_done: bool, weak: bool
) -> None:
    spec = _bad_state(m, value, which, needs_done)
    # Both orders: out of order (the default; a register loaded twice is renamed) and in order.
    spec = dataclasses.replace(spec, options=dataclasses.replace(spec.options, weak_ordering=weak))
    full = search(spec, max_states=SMALL)
    assume(full.outcome != Outcome.UNKNOWN)
    reduced = search(spec, SearchMode(por=True))
    assert reduced.outcome == full.outcome
    if full.outcome == Outcome.UNREACHABLE:  # a proof only when some run finishes every program
        assert reduced.sane == full.sane
        assert reduced.states <= full.states  # the reduced graph's states are reachable ones
    if full.outcome == Outcome.REACHABLE:
        assert len(reduced.steps) == len(reduced.witness) >= len(full.witness), "a real run, replayed"
    depth_first = search(spec, SearchMode(order=Order.DFS, por=True))
    assert depth_first.outcome == full.outcome
    if full.outcome == Outcome.UNREACHABLE:
        assert depth_first.sane == full.sane
    bits = search(spec, SearchMode(order=Order.BITSTATE, bitstate_log2=16))
    assert bits.outcome != Outcome.UNREACHABLE, "a bitstate search is never a proof"
    if bits.outcome == Outcome.UNKNOWN:
        assert bits.reason == StopReason.BITSTATE


# Variants that explore in well under a second each way, with and without the
# translation model (``benchmarks/por_factor.py`` compares every bundled variant).
CASES = [
    *(("kvm-external-l3", v) for v in load_scenario("kvm-external-l3").variants),
    ("fcvm-vsock-nv2", "fwb+flush-linear"),
    ("fcvm-vsock-nv2", "ring-nc-fwb"),
    ("fcvm-vsock-nv2", "data-nc+flush-linear"),
    ("osv-pte-barriers", "no-barriers"),
    ("osv-pte-barriers", "dsb-only"),
    ("osv-pte-barriers", "make-before-break"),
    ("kvm-guest-faults-icache", "vipt-inval-page"),
    ("kvm-guest-faults-icache", "exec-fault-only-xn"),
    ("kvm-stage2-map-modern", "fwb"),
]


@pytest.mark.parametrize(("scenario", "variant"), CASES)
def test_bundled_variants_get_the_same_verdict(scenario: str, variant: str) -> None:
    sc = load_scenario(scenario)
    v = sc.variants[variant]
    full = run_variant(sc, v).verdict
    reduced = run_variant(sc, v, mode=SearchMode(por=True)).verdict
    assert reduced.outcome == full.outcome
    if full.outcome == Outcome.UNREACHABLE:
        assert reduced.sane == full.sane
        assert reduced.states <= full.states
    assert reduced.reduction == "partial-order"  # the translation model's steps too
    shortest = run_variant(sc, v, mode=SearchMode(por=True, shortest=True)).verdict
    assert len(shortest.witness) == len(full.witness)
    if full.outcome == Outcome.REACHABLE:
        assert shortest.shortest and shortest.steps


def test_the_reduction_leaves_out_steps_that_commute() -> None:
    """Two threads on two PEs storing to two lines with no one reading them: the
    stores, their completions and the cache steps of each line commute with the
    other thread's, so the reduced search visits fewer states."""

    def setup(b: object) -> None:
        b.system(pes=2)  # type: ignore[attr-defined]
        b.page("P0", "X")  # type: ignore[attr-defined]
        b.page("P1", "Y")  # type: ignore[attr-defined]
        b.host("a", "STR X, 1\nDSB SY\nLDR r1, X", pe=0)  # type: ignore[attr-defined]
        b.host("b", "STR Y, 1\nDSB SY\nLDR r1, Y", pe=1)  # type: ignore[attr-defined]
        b.bad_when(lambda v: v.done("a") and v.reg("a", "r1") != 1, "a reads X != 1")  # type: ignore[attr-defined]

    m = machine(setup)
    full = check(m, sanity=m.is_complete)
    reduced = search(m.spec, SearchMode(por=True))
    assert full.outcome == reduced.outcome == Outcome.UNREACHABLE
    assert reduced.sane
    assert reduced.states < full.states


def test_a_bad_state_reading_memory_turns_the_reduction_off() -> None:
    def setup(b: object) -> None:
        b.system(pes=1)  # type: ignore[attr-defined]
        b.page("P", "X")  # type: ignore[attr-defined]
        b.host("h", "STR X, 1\nDSB SY")  # type: ignore[attr-defined]
        b.bad_when(lambda v: v.done("h") and v.mem("X") == 1, "memory holds 1")  # type: ignore[attr-defined]

    m = machine(setup)
    full = check(m, sanity=m.is_complete)
    reduced = search(m.spec, SearchMode(por=True))
    assert full.outcome == reduced.outcome == Outcome.REACHABLE
    assert reduced.reduction.startswith("off: the bad state reads memory")
    assert len(reduced.witness) == len(full.witness)


def test_a_predicate_reading_more_threads_restarts_with_them_visible() -> None:
    """The predicate reads thread b only once a is done: the first search takes b's
    steps as invisible, meets the read, and searches again with b observed."""

    def setup(b: object) -> None:
        b.system(pes=2)  # type: ignore[attr-defined]
        b.page("P0", "X")  # type: ignore[attr-defined]
        b.host("a", "STR X, 1", pe=0)  # type: ignore[attr-defined]
        b.host("b", "LDR r1, X", pe=1)  # type: ignore[attr-defined]
        b.bad_when(lambda v: v.done("a") and v.reg("b", "r1") == 1, "b reads a's store")  # type: ignore[attr-defined]

    m = machine(setup)
    full = check(m, sanity=m.is_complete)
    reduced = search(m.spec, SearchMode(por=True))
    assert full.outcome == reduced.outcome == Outcome.REACHABLE
    assert reduced.reduction == "partial-order"


def test_bitstate_finds_a_real_witness_and_never_proves() -> None:
    sc = load_scenario("kvm-external-l3")
    found = run_variant(sc, sc.variants["clean-to-pou"], mode=SearchMode(order=Order.BITSTATE)).verdict
    assert found.outcome == Outcome.REACHABLE and found.steps
    fixed = run_variant(sc, sc.variants["clean-to-poc"], mode=SearchMode(order=Order.BITSTATE)).verdict
    assert (fixed.outcome, fixed.reason) == (Outcome.UNKNOWN, StopReason.BITSTATE)
    assert "not a proof" in fixed.visited_assumption


def depth_first(m: Machine, limit: int) -> Iterator[tuple[State, list[Step]]]:
    """Up to ``limit`` reachable states, depth first, each with its enabled steps (its
    successors already queued): the states the footprint checks below look at."""
    init = m.initial_state()
    seen = {init}
    frontier = [init]
    for _ in range(limit):
        if not frontier:
            return
        state = frontier.pop()
        enabled = m.actions(state)
        for step in enabled:
            succ = m.next_state(state, step)
            if succ not in seen:
                seen.add(succ)
                frontier.append(succ)
        yield state, enabled


def por_agrees(spec: SystemSpec, max_states: int, pairs_limit: int) -> None:
    """One random system, searched plain (up to ``max_states``; undecided ones are drawn
    again) and reduced: the same outcome, and when unreachable the same sanity and never
    more states; then the steps taken as independent commute on its first states."""
    full = search(spec, max_states=max_states)
    assume(full.outcome != Outcome.UNKNOWN)
    reduced = search(spec, SearchMode(por=True))
    assert reduced.reduction == "partial-order"
    assert reduced.outcome == full.outcome
    if full.outcome == Outcome.UNREACHABLE:
        assert reduced.sane == full.sane
        assert reduced.states <= full.states
    commute_everywhere(Machine(spec), pairs_limit)


def commute_everywhere(m: Machine, limit: int) -> int:
    """In up to ``limit`` reachable states: two enabled steps of components the
    reduction treats as independent (the first's ``cur`` footprint does not conflict
    with the second's ``fut``) neither disable each other nor differ in the state
    they reach in either order.  Returns how many such pairs were checked."""
    po = PartialOrder(m, frozenset())
    pairs = 0
    for state, enabled in depth_first(m, limit):
        found = po.components(state, enabled)
        assert found is not None
        owner = {i: c for c, indices in found.steps.items() for i in indices}
        for i, a in enumerate(enabled):
            for j, b in enumerate(enabled):
                if owner[i] == owner[j] or conflict(found.cur[owner[i]], found.fut[owner[j]]):
                    continue
                after_a, after_b = m.next_state(state, a), m.next_state(state, b)
                assert b in m.actions(after_a) and a in m.actions(after_b), (state, a, b)
                assert m.next_state(after_a, b) == m.next_state(after_b, a), (state, a, b)
                pairs += 1
    return pairs


def test_a_trap_waits_behind_a_dmb_marker_of_another_thread_on_its_pe() -> None:
    """Found by the random test below: two threads on one PE share its buffer, and a full
    DMB's marker there holds back a later load (B2.6.2 Data Memory Barrier, as modelled:
    ``buffer.loads_blocked``), also one about to take a stage-2 fault. So the host's DMB
    disables the guest's trapping load: taking the trap must read the PE's buffer."""
    b = Builder()
    b.system(pes=1)
    b.page("P0", "X", vm="vm")
    b.page("P1", "Y", vm="vm")
    b.vm("vm", on_stage2_fault=map_on_fault(clean=""))
    b.host("host", "DMB SY", pe=0)
    b.guest("vcpu", "STR X, 1\nLDR r1, Y", vm="vm", pe=0)
    b.options(weak_ordering=False)
    b.bad_when(lambda v: False, "never")
    assert commute_everywhere(Machine(b.build()), 150) > 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(systems(), st.booleans())
def test_steps_taken_as_independent_commute(m: Machine, weak: bool) -> None:
    options = dataclasses.replace(m.spec.options, weak_ordering=weak)  # both orders, every program
    m = Machine(dataclasses.replace(m.spec, options=options))
    commute_everywhere(m, 150)


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("xen-set-way", "untrapped"),
        ("xen-set-way", "tsw-tvm"),
        ("osv-pte-barriers", "break-before-make"),  # TLBs, walks, TLBI
        ("kvm-guest-faults-icache", "vipt-inval-page"),  # I-caches, fetches, IC
        ("kvm-stage2-map-modern", "fwb"),
    ],
)
def test_steps_taken_as_independent_commute_in_a_bundled_variant(scenario: str, variant: str) -> None:
    sc = load_scenario(scenario)
    assert commute_everywhere(Machine(sc.variants[variant].build()), 300) > 0


# Random translation systems: a PTE write on one PE between random fillers, a second PE
# that may break the mapping with a broadcast TLBI, walks cacheable or not.
_XLATE_FILLERS = ("STR X, 1", "DMB ISH", "DSB ISH", "ISB", "DC CVAC l3e", "LDR r2, X", "NOP")
_OTHER = ("STR X, 2", "LDR r3, X", "STR l3e, 0", "DSB ISH", "TLBI VAE1IS, V", "LDR r4, V", "ISB")


def _translation_system(
    before: list[str], after: list[str], other: list[str], walk: str, ets2: bool, observe: int
) -> SystemSpec:
    b = one_stage_host(bool(other), walk)
    code = [*before, f"STR l3e, {b.page_desc('Q')}", *after, "LDR r1, V"]
    b.host("cpu", "\n".join(code), pe=0)
    b.translate("cpu", "k")
    if other:
        b.host("other", "\n".join(other), pe=1)
        b.translate("other", "k")
    b.fetch(ets2=ets2)
    if observe == 0:
        b.bad_when(lambda v: v.fault("cpu") != 0, "the access after the PTE write faults")
    elif observe == 1:
        b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") == 7, "reads DATA")
    else:
        b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r2") == 2, "reads the other store")
    return b.build()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_XLATE_FILLERS), max_size=2),
    st.lists(st.sampled_from(_XLATE_FILLERS), max_size=2),
    st.lists(st.sampled_from(_OTHER), max_size=3),
    st.sampled_from(("wb", "nc")),
    st.booleans(),
    st.integers(0, 2),
)
def test_random_translation_systems_get_the_same_verdict_with_and_without_reduction(
    before: list[str], after: list[str], other: list[str], walk: str, ets2: bool, observe: int
) -> None:
    assume(observe != 2 or "LDR r2, X" in before + after)  # a register the thread loads
    spec = _translation_system(before, after, other, walk, ets2, observe)
    por_agrees(spec, SMALL, 100)


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("xen-set-way", "tsw-tvm"),  # traps, policies
        ("osv-pte-barriers", "break-before-make"),  # TLBs, walks, TLBI
        ("kvm-guest-faults-icache", "vipt-inval-page"),  # I-caches, fetches, stage-2 faults
        ("fcvm-vsock-nv2", "ring-nc-fwb"),  # weak ordering, devices
    ],
)
def test_footprints_read_no_memory_or_copies(scenario: str, variant: str) -> None:
    """``PartialOrder`` memoizes footprints by a state's outer part: on a probe whose
    memory and copies refuse every use (``state.UNREAD``), the components are those of
    the real state."""
    m = Machine(load_scenario(scenario).variants[variant].build())
    for state, enabled in depth_first(m, 300):
        probe = state._replace(mem=UNREAD, copies=UNREAD)
        assert PartialOrder(m).components(probe, enabled) == PartialOrder(m).components(state, enabled)
