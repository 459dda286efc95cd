"""Traps to EL2 (D24.2.62 HCR_EL2.TSW/TVM/TPCP/TPU, stage-2 faults) and vCPU migration.

A trap calls the VM's policy with a ``TrapContext`` and the policy's code runs
on the trapping thread at EL2 before the guest resumes; ERET is a context
synchronisation event.  Recording policies let each test see what was called.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from stalecheck.errors import ScenarioError
from stalecheck.machine.isa import Instr, dsb, emulate_sctlr, map_page
from stalecheck.machine.spec import HCR, TrapContext
from stalecheck.machine.state import SCTLR_C, STORE
from stalecheck.machine.system import COMPLETE, EXEC, MIGRATE, Machine
from stalecheck.scenarios.builder import Builder
from tests.machine.util import exec_thread, explore, machine, run


class Recorder:
    """A policy that records each trap and emits fixed code."""

    def __init__(self, code: Sequence[Instr] = ()) -> None:
        self.code = list(code)
        self.traps: list[TrapContext] = []

    def __call__(self, trap: TrapContext) -> Sequence[Instr]:
        self.traps.append(trap)
        return self.code


def _guest(program: str, hcr: HCR, mapped: tuple[str, ...] = ("P",), **policies: Recorder) -> Machine:
    def setup(b: Builder) -> None:
        b.system(pes=1)
        b.page("P", "X", vm="vm")
        b.vm("vm", hcr=hcr, mapped=mapped, **policies)  # type: ignore[arg-type]
        b.guest("g", program, vm="vm")

    return machine(setup)


def test_tsw_traps_set_way_and_runs_the_policy_instead() -> None:
    policy = Recorder([dsb("SY")])
    m = _guest("DC CISW L1, X\nNOP", HCR(TSW=True), on_setway=policy)
    s = exec_thread(m, m.initial_state(), "g")
    assert [t.kind for t in policy.traps] == ["setway"]
    th = s.threads[0]
    assert th.pc == 1 and [m.code[i].op for i in th.hyp] == ["DSB"], "skipped, policy code pending"
    assert s.bufs[0] == (), "the guest's own set/way op was not performed"
    s = exec_thread(m, s, "g")
    assert not s.threads[0].hyp


def test_without_tsw_set_way_is_not_trapped() -> None:
    policy = Recorder()
    m = _guest("DC CISW L1, X", HCR(), on_setway=policy)
    s = exec_thread(m, m.initial_state(), "g")
    assert not policy.traps and s.bufs[0]


def test_tvm_traps_sctlr_writes_and_the_emulated_write_takes_effect_at_eret() -> None:
    policy = Recorder([emulate_sctlr("C", 0), dsb("SY")])
    m = _guest("MSR SCTLR_EL1.C, 0\nNOP", HCR(TVM=True), on_sctlr=policy)
    s = exec_thread(m, m.initial_state(), "g")
    (trap,) = policy.traps
    assert (trap.kind, trap.field, trap.value, trap.sctlr) == ("sctlr", "C", 0, (1, 1, 1))
    s = exec_thread(m, s, "g")  # emulate MSR at EL2: pending
    assert s.threads[0].sctlr & SCTLR_C and s.threads[0].pending >= 0
    s = exec_thread(m, s, "g")  # DSB, last EL2 instruction, then ERET
    assert not s.threads[0].sctlr & SCTLR_C and s.threads[0].pending == -1


@pytest.mark.parametrize(
    ("program", "hcr", "trapped"),
    [
        ("DC CVAC X", HCR(TPC=True), True),
        ("DC CIVAC X", HCR(TPC=True), True),
        ("DC CVAU X", HCR(TPC=True), False),
        ("DC CVAU X", HCR(TPU=True), True),
        ("DC CVAC X", HCR(TPU=True), False),
    ],
)
def test_tpc_traps_cmos_to_the_poc_and_tpu_to_the_pou(program: str, hcr: HCR, trapped: bool) -> None:
    policy = Recorder()
    m = _guest(program, hcr, on_cmo=policy)
    s = exec_thread(m, m.initial_state(), "g")
    assert bool(policy.traps) == trapped
    assert bool(s.bufs[0]) != trapped


def test_an_empty_policy_returns_at_once_and_the_instruction_is_skipped() -> None:
    m = _guest("DC CVAC X\nNOP", HCR(TPC=True), on_cmo=Recorder())
    s = exec_thread(m, m.initial_state(), "g")
    assert s.threads[0].pc == 1 and not s.threads[0].hyp and not s.bufs[0]


def test_stage2_fault_runs_the_policy_then_retries_the_access() -> None:
    policy = Recorder([map_page("P")])
    m = _guest("STR X, 1", HCR(), mapped=(), on_stage2_fault=policy)
    s = exec_thread(m, m.initial_state(), "g")
    assert [t.page for t in policy.traps] == ["P"] and s.threads[0].pc == 0
    s = exec_thread(m, s, "g")  # MAP at EL2, then ERET
    assert s.mapped == (1,)
    s = exec_thread(m, s, "g")  # the STR again, now mapped
    assert s.bufs[0][0][0] == STORE and len(policy.traps) == 1


def test_a_trap_without_a_policy_is_a_scenario_error() -> None:
    m = _guest("DC CISW L1, X", HCR(TSW=True))
    with pytest.raises(ScenarioError, match="no policy"):
        m.next_state(m.initial_state(), (EXEC, 0, 0))


# ---- migration -------------------------------------------------------------------------------


def _migratable(max_migrations: int) -> Machine:
    def setup(b: Builder) -> None:
        b.system(pes=2)
        b.page("P", "X", vm="vm")
        b.vm("vm", mapped=("P",))
        b.guest("g", "STR X, 1\nDSB SY\nSTR X, 2\nDSB SY", vm="vm", migratable=True)
        b.options(max_migrations=max_migrations)

    return machine(setup)


def test_migration_only_between_instructions_with_an_empty_buffer() -> None:
    m = _migratable(1)
    s = m.initial_state()
    assert (MIGRATE, 0, 1) in m.actions(s)
    s = exec_thread(m, s, "g")
    assert not [a for a in m.actions(s) if a[0] == MIGRATE], "a store is still buffered"
    s = run(m, s, (COMPLETE, 0, 0), (MIGRATE, 0, 1))
    assert s.threads[0].pe == 1 and s.migrations == 1
    assert not [a for a in m.actions(s) if a[0] == MIGRATE], "the bound is used up"


@pytest.mark.parametrize("bound", [0, 1, 2])
def test_no_reachable_state_exceeds_the_migration_bound(bound: int) -> None:
    m = _migratable(bound)
    seen = {m.initial_state()}
    frontier = list(seen)
    while frontier:
        state = frontier.pop()
        for action in m.actions(state):
            nxt = m.next_state(state, action)
            if nxt not in seen:
                assert nxt.migrations <= bound
                if action[0] == MIGRATE:
                    assert state.bufs[state.threads[action[1]].pe] == ()
                seen.add(nxt)
                frontier.append(nxt)
    assert max(s.migrations for s in seen) == bound


def test_migrating_leaves_dirty_lines_behind_on_the_old_pe() -> None:
    """Seed 001's mechanism: after a migration, set/way on the new PE does not see
    the old PE's dirty line, so a Device read after it can be stale."""

    def setup(b: Builder) -> None:
        b.system(pes=2, system_cache=False)
        b.page("P", "X", vm="vm")
        b.vm("vm", mapped=("P",))
        b.guest(
            "g",
            "STR X, 1\nDSB SY\nDC CISW L1, X\nDSB SY\nMSR SCTLR_EL1.C, 0\nISB\nLDR r1, X",
            vm="vm",
            migratable=True,
        )
        b.options(host_linear_map=False)
        b.bad_when(lambda v: v.done("g") and v.reg("g", "r1") != 1, "stale")

    b = Builder()
    setup(b)
    m = Machine(b.build())
    verdict = explore(m)
    assert verdict.outcome.value == "reachable"
    assert any(step.operation == "migrate" and step.actor.kind == "hypervisor" for step in verdict.steps)
