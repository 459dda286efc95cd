"""Small random systems with translation, for the tests of the quiet-line reduction
and the walk memo: a two-stage guest (its own stage-1 table in guest RAM, a stage 2
in hypervisor memory, data pages that fault in through a policy writing the stage-2
entry) or a one-stage host, with random leaf attributes, walk attributes, fillers and
a second PE that may break the mapping."""

from __future__ import annotations

from hypothesis import strategies as st

from stalecheck.machine.spec import HCR, SystemSpec
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.support.policies import kvm_stage2_map

FILLERS = ("STR X, 1", "DMB ISH", "DSB ISH", "ISB", "DC CVAC l3e", "LDR r2, X", "NOP", "DC CIVAC DATA")
OTHER = ("STR X, 2", "LDR r3, X", "STR l3e, 0", "DSB ISH", "TLBI VAE1IS, V", "LDR r4, V", "ISB")
ATTRS = ("wb", "nc", "device")


def one_stage_host(two_pes: bool, walk: str) -> Builder:
    """The one-stage host both random translation families start from (here and in
    tests/explore/test_por.py): a two-level table ``L2T -> L3T`` whose leaf ``l3e``
    starts invalid, a page ``D`` with ``X`` and a page ``Q`` with ``DATA = 7`` that the
    program maps at ``V``; walks of type ``walk``."""
    b = Builder()
    b.system(pes=2 if two_pes else 1)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("D", "X")
    b.page("Q", "DATA")
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)}, walk=walk)
    b.init(l2e=b.table_desc("L3T"), l3e=0, DATA=7)
    return b


def host_system(
    before: list[str], after: list[str], other: list[str], walk: str, attr: str, observe: int
) -> SystemSpec:
    """One-stage translation on the host: the PTE written by the program (with leaf
    attribute ``attr``), then a load through it; ``other`` on a second PE."""
    b = one_stage_host(bool(other), walk)
    code = [*before, f"STR l3e, {b.page_desc('Q', attr=attr)}", *after, "STR V, 5", "LDR r1, V"]
    b.host("cpu", "\n".join(code), pe=0)
    b.translate("cpu", "k")
    if other:
        b.host("other", "\n".join(other), pe=1)
        b.translate("other", "k")
    _observe(b, observe)
    return b.build()


def guest_system(
    before: list[str], s1_attr: str, s2_attr: str, policy_attr: str, observe: int, fwb: bool
) -> SystemSpec:
    """A guest maps its data page at stage 1 (``s1_attr``), stores and loads through it;
    the page starts unmapped at stage 2 and the fault policy writes a stage-2 entry
    with ``policy_attr`` (a descriptor only the run reveals); the stage-2 entry of the
    guest's own table has ``s2_attr``."""
    b = Builder()
    b.system(pes=1, **({"louu": 0, "louis": 0} if fwb else {}))  # D8.6 IRRDBK: FWB needs LoUU=0
    b.page("S2T", "S2L3:s2GPT,s2Q")
    b.page("GPT", "G3:l3e", vm="vm")
    b.page("Q", "DATA", vm="vm")
    b.page("D", "X", vm="vm")
    b.regime("s2", root="S2L3", levels=(3,), vas={"GPT": (0,), "Q": (1,)}, stage=2)
    b.regime("g", root="G3", levels=(3,), vas={"V": (0,)}, s2="s2")
    b.init(s2GPT=b.page_desc("GPT", attr=s2_attr), DATA=7)
    table = {"Q": ("s2Q", b.page_desc("Q", attr=policy_attr))}
    policy = kvm_stage2_map(clean="poc", table=table)
    b.vm("vm", hcr=HCR(FWB=fwb), mapped=("GPT", "Q", "D"), on_stage2_fault=policy)
    pte = b.page_desc("Q", attr=s1_attr)
    code = [*before, f"STR l3e, {pte}", "DSB ISHST", "ISB", "STR V, 5", "LDR r1, V"]
    b.guest("cpu", "\n".join(code), vm="vm", pe=0, sctlr=(1, 1, 1))
    b.translate("cpu", "g")
    _observe(b, observe)
    return b.build()


def _observe(b: Builder, observe: int) -> None:
    if observe == 0:
        b.bad_when(lambda v: v.fault("cpu") != 0, "the access through the new mapping faults")
    elif observe == 1:
        b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") != 5, "reads back another value")
    else:
        b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") == 7, "reads the old data")


fillers = st.lists(st.sampled_from(FILLERS), max_size=2)


@st.composite
def translated_systems(draw: st.DrawFn) -> SystemSpec:
    """A host or a guest system with random attributes (see the module doc)."""
    observe = draw(st.integers(0, 2))
    if draw(st.booleans()):
        other = draw(st.lists(st.sampled_from(OTHER), max_size=3))
        walk = draw(st.sampled_from(("wb", "wb", "nc")))
        return host_system(draw(fillers), draw(fillers), other, walk, draw(st.sampled_from(ATTRS)), observe)
    attrs = st.sampled_from(("wb", "wb", "nc"))
    return guest_system(draw(fillers), draw(attrs), draw(attrs), draw(attrs), observe, draw(st.booleans()))
