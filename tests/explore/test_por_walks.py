"""Walk footprints bounded to table lines (``machine/por_walks.py``) under partial-order
reduction: the bounds themselves, the declared stores of policies, and the reduction
with them against the plain search on random guests with two stages, stage-2 faults
mapped by a policy that stores to the stage-2 table, and weak ordering or not.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stalecheck.explore.reduced import SearchMode
from stalecheck.explore.verdict import Outcome
from stalecheck.machine.isa import Instr, dsb, store
from stalecheck.machine.por import PartialOrder
from stalecheck.machine.por_walks import declare_stores
from stalecheck.machine.spec import Policy, SystemSpec, TrapContext
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.support.policies import kvm_stage2_map
from tests.explore.test_por import por_agrees, search

LIMIT = 20_000  # random guests bigger than this are drawn again (the smallest has 8,320 states)
_FILLERS = ("NOP", "DSB ISH", "ISB", "DMB ISH", "LDR r2, D0")
# The host on a second PE: its own line, an unmap at stage 2, a clean of the guest's table.
_HOST = ("STR X, 1", "LDR r3, X", "DSB ISH", "STR s2GD0, 0", "DC CIVAC G3x0")


def _guest(
    fillers: Sequence[str] = (),
    host: Sequence[str] = (),
    weak: bool = False,
    policy: Policy | None = None,
    observe: int = 0,
) -> SystemSpec:
    """A vCPU with its own one-level stage-1 table over a stage 2 in hypervisor memory:
    it writes the entry mapping its data page, ``DSB ISHST; ISB`` (``fillers`` in
    between), stores through it (a stage-2 fault the policy maps by a store to the
    stage-2 table) and reads it back.  ``host`` runs on a second PE (its own page X)."""
    b = Builder()
    b.system(pes=2 if host else 1)
    b.page("S2T", "S2L3:s2GPT0,s2GD0")
    b.page("GPT0", "G3x0:g3e0", vm="vm")
    b.page("GD0", "D0", vm="vm")
    b.page("H", "X")
    b.regime("s2", root="S2L3", levels=(3,), vas={"GPT0": (0,), "GD0": (1,)}, stage=2)
    b.regime("g0", root="G3x0", levels=(3,), vas={"V0": (0,)}, s2="s2")
    b.init(s2GPT0=b.page_desc("GPT0"))
    table = {"GPT0": ("s2GPT0", b.page_desc("GPT0")), "GD0": ("s2GD0", b.page_desc("GD0"))}
    chosen = policy if policy is not None else kvm_stage2_map(clean="poc", table=table)
    b.vm("vm", mapped=("GPT0", "GD0"), on_stage2_fault=chosen)
    code = [f"STR g3e0, {b.page_desc('GD0')}", *fillers, "DSB ISHST", "ISB", "STR V0, 1", "LDR r1, V0"]
    b.guest("vcpu", "\n".join(code), vm="vm", pe=0, sctlr=(1, 1, 1))
    b.translate("vcpu", "g0")
    if host:
        b.host("host", "\n".join(host), pe=1)
    b.options(weak_ordering=weak)
    if observe == 0:
        b.bad_when(lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 1, "reads a value other than its own")
    elif observe == 1:
        b.bad_when(lambda v: v.fault("vcpu") != 0, "the vCPU faults")
    else:
        b.bad_when(lambda v: v.done("vcpu") and v.reg("vcpu", "r2") == 1, "reads its store early")
    return b.build()


def _lines(m: Machine, mask: int) -> set[str]:
    return {line.name for i, line in enumerate(m.layout.lines) if mask >> i & 1}


def test_a_walk_reads_only_the_tables_its_descriptors_can_reach() -> None:
    """D8.2: the walk reads the root, then what descriptors name; a guest's stage-1 table
    is read where stage 2 puts its page (here only GPT0, by every value s2GPT0 may hold)."""
    m = Machine(_guest(host=["STR X, 1"]))
    fp = PartialOrder(m).fp
    bounds = fp.walk_bounds
    assert bounds is not None
    rid = m.mmu.regimes.rid if m.mmu is not None else {}
    assert _lines(m, bounds.regime(rid["s2"])) == {"S2L3"}
    assert _lines(m, bounds.regime(rid["g0"])) == {"S2L3", "G3x0"}
    # PE 0's TLB fills conflict with writers of those lines only, not with X or D0.
    tlb0 = fp.tlb(0)
    assert _lines(m, tlb0.reads & fp.all_lines) == {"S2L3", "G3x0"}
    assert not fp.tlb(1).reads & fp.all_lines  # no thread on PE 1 translates


def test_a_policy_that_declares_nothing_may_store_anything() -> None:
    """An undeclared policy's code is unknown: every line may hold any descriptor."""
    declared = kvm_stage2_map(clean="poc", table={"GD0": ("s2GD0", 0)})

    def opaque(trap: TrapContext) -> Sequence[Instr]:
        return declared(trap)

    m = Machine(_guest(policy=opaque))
    bounds = PartialOrder(m).fp.walk_bounds
    assert bounds is not None and m.mmu is not None
    assert bounds.regime(m.mmu.regimes.rid["g0"]) == bounds.all


def test_a_policy_storing_what_it_did_not_declare_turns_the_reduction_off() -> None:
    """The bounds rely on the declaration: code that breaks it is caught where the search
    meets it, and the search runs again without the reduction."""
    pages = Machine(_guest()).layout.pages
    mapping = store("s2GD0", 1 | 4 | pages.index("GD0") << 8)  # page_desc("GD0")
    liar = declare_stores(lambda trap: [mapping, dsb("ISH")], ())
    spec = _guest(policy=liar)
    full = search(spec, max_states=LIMIT)
    assert full.outcome != Outcome.UNKNOWN
    reduced = search(spec, SearchMode(por=True), max_states=LIMIT)
    assert reduced.outcome == full.outcome
    assert reduced.reduction.startswith("off:") and "declared stores" in reduced.reduction


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_FILLERS), max_size=2),
    st.lists(st.sampled_from(_HOST), max_size=2),
    st.booleans(),
    st.integers(0, 2),
)
def test_random_guests_get_the_same_verdict_with_and_without_reduction(
    fillers: list[str], host: list[str], weak: bool, observe: int
) -> None:
    assume(observe != 2 or "LDR r2, D0" in fillers)
    spec = _guest(fillers, host, weak, observe=observe)
    por_agrees(spec, LIMIT, 60)
