"""Hypothesis properties of the translation model, checked by exhaustive exploration."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stalecheck.explore.search import check
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder

# Instructions that may surround the PTE write: unrelated stores, maintenance,
# barriers that are not enough on their own.
FILLERS = ("STR X, 1", "STR X, 2", "DMB ISH", "DMB ISHST", "NOP", "DC CVAC X", "DC CIVAC l3e", "LDR r2, X")


def _outcome(before: list[str], after: list[str], barrier: str, ets2: bool = False, walk: str = "wb") -> str:
    b = Builder()
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("D", "X")
    b.page("Q", "DATA")
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)}, walk=walk)
    b.init(l2e=b.table_desc("L3T"), l3e=0, DATA=7)
    pte = b.page_desc("Q")
    code = [*before, f"STR l3e, {pte}", *after, *barrier.split(";"), "LDR r1, V"]
    b.host("cpu", "\n".join(c.strip() for c in code if c.strip()))
    b.fetch(ets2=ets2)
    b.translate("cpu", "k")
    b.bad_when(lambda v: v.fault("cpu") != 0, "the access after the PTE write faults")
    return check(Machine(b.build())).outcome.value


fillers = st.lists(st.sampled_from(FILLERS), max_size=3)


@settings(max_examples=25, deadline=None)
@given(before=fillers, after=fillers)
def test_dsb_ishst_isb_before_the_first_access_never_faults(before: list[str], after: list[str]) -> None:
    assert _outcome(before, after, "DSB ISHST; ISB") == "unreachable"


@settings(max_examples=15, deadline=None)
@given(before=fillers, after=fillers)
def test_with_ets2_the_dsb_alone_is_enough(before: list[str], after: list[str]) -> None:
    assert _outcome(before, after, "DSB ISHST", ets2=True) == "unreachable"


@settings(max_examples=15, deadline=None)
@given(
    before=fillers, after=st.lists(st.sampled_from(("NOP", "DMB ISH", "DMB ISHST", "STR X, 1")), max_size=3)
)
def test_without_the_isb_or_ets2_it_may_fault(before: list[str], after: list[str]) -> None:
    """Without a context synchronisation event after the DSB, the access may have been
    translated before the store was visible: the fault stays reachable."""
    assert _outcome(before, after, "DSB ISHST") == "reachable"


def test_a_non_coherent_walker_needs_the_table_cleaned_to_the_poc() -> None:
    assert _outcome([], [], "DSB ISHST; ISB", walk="noncoherent") == "reachable"
    assert _outcome([], ["DC CVAC l3e"], "DSB ISH; ISB", walk="noncoherent") == "unreachable"
