"""The ``prune_dead_tlb`` reduction (``machine/dead_tlb.py``) changes no verdict.

Compared against the unreduced search: the same outcome and the same shortest
witness length on random systems with translation (stage 1 alone, and guests with
stage 2, stage-2 fault policies and migration), on every bundled variant that uses
translation and on the benchmark's two-vCPU guest, never more states; and a bad
state that reads a TLB is refused, not answered.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stalecheck.errors import ScenarioError
from stalecheck.explore.search import Budget, check
from stalecheck.explore.verdict import Outcome, Verdict
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario
from stalecheck.scenarios import registry
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.support.policies import kvm_stage2_map
from tests.machine.translated_systems import translated_systems

SMALL = 10_000  # random systems bigger than this unreduced are drawn again


def _search(spec: SystemSpec, on: bool, max_states: int | None = None) -> Verdict:
    spec = dataclasses.replace(spec, options=dataclasses.replace(spec.options, prune_dead_tlb=on))
    m = Machine(spec)
    return check(m, Budget(max_states=max_states), sanity=m.is_complete)


def _same(spec: SystemSpec, small: int = SMALL) -> tuple[Verdict, Verdict]:
    full = _search(spec, False, small)
    assume(full.outcome != Outcome.UNKNOWN)
    reduced = _search(spec, True)
    assert (reduced.outcome, len(reduced.witness)) == (full.outcome, len(full.witness))
    if full.outcome == Outcome.UNREACHABLE:
        assert reduced.sane == full.sane
    assert reduced.states <= full.states
    return full, reduced


# ---- stage 1: two PEs sharing one two-level regime ----------------------------------------

_CPU = (
    "LDR r1, V", "LDR r2, W", "STR V, 5", "STR l3e, 0", "DSB ISH", "ISB", "DMB ISH",
    "TLBI VAE1IS, V", "TLBI VALE1IS, V", "TLBI VMALLE1IS", "NOP",
)  # fmt: skip
_OTHER = ("LDR r3, V", "STR l3e, 0", "STR l3f, 0", "DSB ISH", "TLBI VAE1IS, V", "TLBI VMALLE1", "ISB")


def _stage1(cpu: list[str], other: list[str], weak: bool, ets2: bool, observe: int) -> SystemSpec:
    b = Builder()
    b.system(pes=2 if other else 1)
    b.page("PT", "L2T:l2e L3T:l3e,l3f")
    b.page("Q", "DATA")
    b.page("R", "MORE")
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0), "W": (0, 1)})
    b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("Q"), l3f=b.page_desc("R"), DATA=7, MORE=9)
    b.host("cpu", "\n".join(["LDR r1, V", *cpu, "LDR r4, V"]), pe=0)
    b.translate("cpu", "k")
    if other:
        b.host("other", "\n".join(other), pe=1)
        b.translate("other", "k")
    b.fetch(ets2=ets2)
    b.options(weak_ordering=weak)
    if observe == 0:
        b.bad_when(lambda v: v.fault("cpu") != 0, "an access faults")
    elif observe == 1:
        b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r4") == 7, "the last read sees DATA")
    else:
        b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r4") == 5, "the last read sees the store")
    return b.build()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_CPU), max_size=4),
    st.lists(st.sampled_from(_OTHER), max_size=3),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2),
)
def test_random_stage1_systems_get_the_same_verdict(
    cpu: list[str], other: list[str], weak: bool, ets2: bool, observe: int
) -> None:
    _same(_stage1(cpu, other, weak, ets2, observe))


# ---- guests: per-vCPU stage 1 over a shared stage 2 with a fault policy ---------------------

_VCPU_TAIL = ("LDR r2, {va}", "STR {pte}, 0", "DSB ISH", "TLBI VAE1IS, {va}", "TLBI VMALLE1IS", "ISB", "NOP")


def _guest(
    vcpus: int, tails: list[list[str]], migratable: bool, weak: bool, s2_mapped: bool, observe: int
) -> SystemSpec:
    """vCPU p stores through its VA, mapped in its own stage-1 table (a stage-2 fault
    unless the data page is mapped at start: the policy maps it), reads it back, then
    runs a random tail; the first vCPU may migrate to the other PE."""
    b = Builder()
    b.system(pes=2 if migratable or vcpus == 2 else 1)
    guest_pages = [*(f"GPT{p}" for p in range(vcpus)), "GD"]
    b.page("S2T", "S2L3:" + ",".join(f"s2{name}" for name in guest_pages))
    for p in range(vcpus):
        b.page(f"GPT{p}", f"G3x{p}:pte{p}", vm="vm")
    b.page("GD", "D", vm="vm")
    b.regime("s2", root="S2L3", levels=(3,), vas={n: (i,) for i, n in enumerate(guest_pages)}, stage=2)
    for p in range(vcpus):
        b.regime(f"g{p}", root=f"G3x{p}", levels=(3,), vas={f"V{p}": (0,)}, s2="s2")
    init = {f"s2GPT{p}": b.page_desc(f"GPT{p}") for p in range(vcpus)}
    init |= {f"pte{p}": b.page_desc("GD") for p in range(vcpus)}
    if s2_mapped:
        init["s2GD"] = b.page_desc("GD")
    b.init(**init)
    table = {name: (f"s2{name}", b.page_desc(name)) for name in guest_pages}
    b.vm("vm", mapped=tuple(guest_pages), on_stage2_fault=kvm_stage2_map(table=table))
    for p in range(vcpus):
        program = [f"STR V{p}, {p + 1}", f"LDR r1, V{p}"]
        program += [line.format(pte=f"pte{p}", va=f"V{p}") for line in tails[p]]
        b.guest(f"vcpu{p}", "\n".join(program), vm="vm", pe=p, migratable=migratable and p == 0)
        b.translate(f"vcpu{p}", f"g{p}")
    b.options(weak_ordering=weak)
    if observe == 0:
        b.bad_when(
            lambda v: v.done("vcpu0") and (v.reg("vcpu0", "r1") != 1 or v.fault("vcpu0") != 0),
            "vCPU0 does not read back its own store",
        )
    elif observe == 1:
        b.bad_when(lambda v: v.done("vcpu0") and v.reg("vcpu0", "r2") == 1, "vCPU0 reads its store again")
    else:
        b.bad_when(lambda v: v.fault("vcpu0") != 0, "vCPU0 faults")
    return b.build()


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(
    st.integers(1, 2),
    st.lists(st.lists(st.sampled_from(_VCPU_TAIL), max_size=3), min_size=2, max_size=2),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2),
)
def test_random_guests_get_the_same_verdict(
    vcpus: int, tails: list[list[str]], migratable: bool, weak: bool, s2_mapped: bool, observe: int
) -> None:
    if observe == 1 and "LDR r2, {va}" not in tails[0]:
        tails = [[*tails[0], "LDR r2, {va}"], tails[1]]  # the register the bad state reads
    _same(_guest(vcpus, tails, migratable, weak, s2_mapped, observe), 8_000)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(translated_systems())
def test_random_translated_systems_get_the_same_verdict(spec: SystemSpec) -> None:
    """The quiet-line tests' systems: attributes of both stages, a policy that writes a
    stage-2 entry, walks cacheable or not."""
    _same(spec)


# ---- bundled variants and the benchmark's guest ---------------------------------------------


def _translation_variants() -> list[tuple[str, str]]:
    out = []
    for name in registry.names():
        for variant, spec in load_scenario(name).variants.items():
            if spec.build().xlate is not None:
                out.append((name, variant))
    return out


@pytest.mark.parametrize(("scenario", "variant"), _translation_variants())
def test_bundled_translation_variants_get_the_same_verdict(scenario: str, variant: str) -> None:
    spec = load_scenario(scenario).variants[variant].build()
    full, reduced = _search(spec, False), _search(spec, True)
    assert (reduced.outcome, len(reduced.witness)) == (full.outcome, len(full.witness))
    assert reduced.states <= full.states


def _benchmark() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "explore_speed.py"
    spec = importlib.util.spec_from_file_location("explore_speed", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", [(1, 1, 0), (1, 1, 1)])
def test_the_benchmark_guest_explores_fewer_states(size: tuple[int, int, int]) -> None:
    spec = _benchmark().guest_case(*size)
    full, reduced = _search(spec, False), _search(spec, True)
    assert full.outcome == reduced.outcome == Outcome.UNREACHABLE
    assert reduced.states < full.states


# ---- rules ----------------------------------------------------------------------------------


def test_a_stale_entry_a_later_access_may_hit_is_kept() -> None:
    """D8.16: a TLB may keep an entry after its descriptor is unmapped without a TLBI, so
    the second read of V may still hit it and read DATA: the entry is live (a later
    access translates V) and must not be dropped."""
    spec = _stage1(["STR l3e, 0", "DSB ISH", "ISB"], [], False, False, 1)
    full, reduced = _search(spec, False), _search(spec, True)
    assert full.outcome == reduced.outcome == Outcome.REACHABLE
    assert len(reduced.witness) == len(full.witness)


def test_a_bad_state_that_reads_a_tlb_is_refused_not_answered() -> None:
    b = Builder()
    b.system(pes=1)
    b.page("PT", "L3T:l3e")
    b.page("Q", "DATA")
    b.regime("k", root="L3T", levels=(3,), vas={"V": (0,)})
    b.init(l3e=b.page_desc("Q"))
    b.host("cpu", "LDR r1, V")
    b.translate("cpu", "k")
    b.bad_when(lambda v: v.done("cpu") and bool(v.tlb(0)), "the TLB still holds V")
    spec = b.build()
    assert _search(spec, False).outcome == Outcome.REACHABLE
    with pytest.raises(ScenarioError, match="prune_dead_tlb"):
        _search(spec, True)


def test_the_witness_says_which_entries_a_step_dropped() -> None:
    """A drop folded into a step (module doc of dead_tlb.py) is printed with that step."""
    spec = _stage1(["STR l3e, 0", "DSB ISH", "ISB"], [], False, False, 1)
    m = Machine(spec)
    verdict = check(m, Budget())
    assert verdict.outcome == Outcome.REACHABLE
    state = m.initial_state()
    texts = []
    for index in verdict.witness:
        step = m.actions(state)[index]
        after = m.next_state(state, step)
        texts.append(m.describe(state, step, after).effect.text)
        state = after
    assert any("no translation still to come can use them" in text for text in texts)


def test_a_translation_made_ahead_leaves_its_entries_dead_until_a_tlbi_discards_it() -> None:
    """``cpu`` may translate its last load ahead; then only another PE's broadcast TLBI
    of V (D8.17 R_LXHLD) makes it walk again, and that TLBI removes V's entries from
    every TLB as it discards the translation: the reduction drops them meanwhile, and
    the fault after the unmap stays reachable with the same shortest witness."""
    other = ["STR l3e, 0", "DSB ISH", "TLBI VAE1IS, V", "DSB ISH"]
    spec = _stage1(["DSB ISH", "ISB"], other, False, False, 0)
    full, reduced = _search(spec, False), _search(spec, True)
    assert full.outcome == reduced.outcome == Outcome.REACHABLE
    assert len(reduced.witness) == len(full.witness)
    m = Machine(spec)
    assert m.dead_tlb is not None
    state = m.initial_state()
    early = state._replace(threads=(state.threads[0]._replace(pc=3, early=((3, 1),)), *state.threads[1:]))
    rg = m.mmu.regimes if m.mmu is not None else None
    assert rg is not None
    key = rg.tlb_key[0][rg.keys[0]["V"]]
    live = m.dead_tlb.live(early)[0]
    assert live is not None and (rg.leaf_tag(0), key) not in live  # left out while the early result stands
    assert (rg.leaf_tag(0), key) in m.dead_tlb.live(state)[0]  # live before it is made
