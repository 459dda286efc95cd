"""Issue 11, item 5 (the rest): ISH barriers do not order stores for a DMA master.

B2.6.10: a DMB or DSB takes "The shareability domain over which the instruction must
operate"; B2.6.9: a DSB "completes when all of the following are complete for the set of
observers in the required shareability domain".  B2.10.1.1.1 Note: "The Inner Shareable
domain is expected to be the set of PEs controlled by a single hypervisor or operating
system", so a DMA master is not in it: an ISH barrier orders a PE's stores for the other
PEs only, an OSH or SY one for the DMA master too (Linux's dma_wmb() is DMB OSHST).

The old model made every ISH and OSH barrier act like SY, so a descriptor published to
a device with DMB ISHST (or DSB ISH) before the flag came out "unreachable".
"""

from __future__ import annotations

import pytest

from stalecheck.explore.search import check
from stalecheck.machine.assumptions import assumptions
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def _publish(barrier: str, coherent: bool, reader: str = "dma", inner: bool = False) -> Machine:
    """A PE writes the descriptor D, then ``barrier``, then the flag F; the reader polls F
    and reads D.  With a non-coherent DMA master the two are Device memory (written at
    the PoC); with an I/O-coherent one, Normal write-back (in the caches)."""
    b = Builder()
    b.system(pes=2)
    b.page("P", "D F")
    if not coherent:
        b.host_type("D", DEVICE)
        b.host_type("F", DEVICE)
    b.host("cpu", f"STR D, 1\n{barrier}\nSTR F, 1", pe=0)
    consume = "AWAIT F, >=1\nLDR r1, D"
    if reader == "dma":
        b.device("dma", consume, coherent=coherent, inner_shareable=inner)
    else:
        b.host("pe1", "AWAIT F, >=1\nDMB SY\nLDR r1, D", pe=1)
    b.bad_when(
        lambda v: v.done(reader) and v.reg(reader, "r1") == 0, "the flag is seen before the descriptor"
    )
    return Machine(b.build())


CASES = [
    ("DMB ISHST", "reachable"),
    ("DMB ISH", "reachable"),
    ("DSB ISH", "reachable"),
    ("DSB ISHST", "reachable"),
    ("DMB OSHST", "unreachable"),
    ("DMB OSH", "unreachable"),
    ("DSB OSHST", "unreachable"),
    ("DMB SY", "unreachable"),
    ("DMB ST", "unreachable"),
    ("DSB SY", "unreachable"),
]


@pytest.mark.parametrize("coherent", [False, True])
@pytest.mark.parametrize(("barrier", "expect"), CASES)
def test_an_ish_barrier_does_not_order_stores_for_a_dma_master(
    barrier: str, expect: str, coherent: bool
) -> None:
    assert check(_publish(barrier, coherent)).outcome.value == expect


@pytest.mark.parametrize("barrier", ["DMB ISHST", "DSB ISH"])
def test_an_ish_barrier_still_orders_stores_for_another_pe(barrier: str) -> None:
    assert check(_publish(barrier, coherent=False, reader="pe1")).outcome.value == "unreachable"


@pytest.mark.parametrize("barrier", ["DMB ISHST", "DSB ISH"])
def test_a_dma_master_declared_inner_shareable_is_ordered_like_a_pe(barrier: str) -> None:
    """B2.10.1.1.1: the domains are system specific; a master inside the PEs' Inner
    Shareable domain is among the observers an ISH barrier orders accesses for."""
    for coherent in (False, True):
        assert check(_publish(barrier, coherent, inner=True)).outcome.value == "unreachable"


def test_the_domains_are_printed_with_a_dma_master() -> None:
    m = _publish("DMB ISHST", coherent=False)
    check(m)
    [line] = [a for a in assumptions(m) if "shareability domains" in a]
    assert "DMB ISHST" in line and "B2.6.10" in line


def _clean_then_kick(barrier: str) -> str:
    """A PE writes a buffer D through its cache, cleans it to the PoC (``DC CVAC``), then
    ``barrier``, then rings the doorbell F (Device memory); a non-coherent DMA master
    polls F and reads D at the PoC.  B2.6.9: the DSB waits for the clean to be complete
    "for the set of observers in the required shareability domain" only; D7.5.9.15: a
    CMO's effects are visible to other observers "following a DSB"."""
    b = Builder()
    b.system(pes=1)
    b.page("P", "D")
    b.page("R", "F")
    b.host_type("F", DEVICE)
    b.host("cpu", f"STR D, 1\nDC CVAC D\n{barrier}\nSTR F, 1")
    b.device("dma", "AWAIT F, >=1\nLDR r1, D", coherent=False)
    b.bad_when(
        lambda v: v.done("dma") and v.reg("dma", "r1") == 0, "the device reads D from before the clean"
    )
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("barrier", "expect"),
    [
        ("DSB ISH", "reachable"),
        ("DSB OSH", "unreachable"),
        ("DSB SY", "unreachable"),
        ("DMB ISH", "reachable"),
        ("DMB OSH", "unreachable"),
    ],
)
def test_a_clean_completed_by_dsb_ish_may_not_have_reached_a_dma_master(barrier: str, expect: str) -> None:
    assert _clean_then_kick(barrier) == expect


def _read_after_dma(barrier: str) -> str:
    """An I/O-coherent DMA master writes the data D, then the status F; a PE (executing out
    of order) polls F, then ``barrier``, then reads D.  B2.6.2: a DMB orders accesses for
    the observers "to the extent required by the DMB options"; Linux reads DMA-written
    descriptors after dma_rmb() (DMB OSHLD), not virt_rmb() (DMB ISHLD)."""
    b = Builder()
    b.system(pes=1)
    b.page("P", "D F")
    b.options(weak_ordering=True)
    b.device("dma", "STR D, 1\nSTR F, 1", coherent=True)
    b.host("cpu", f"AWAIT F, >=1\n{barrier}\nLDR r1, D")
    b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") == 0, "the PE reads D from before the status")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("barrier", "expect"),
    [
        ("DMB ISHLD", "reachable"),
        ("DMB ISH", "reachable"),
        ("DMB OSHLD", "unreachable"),
        ("DMB LD", "unreachable"),
    ],
)
def test_an_ish_barrier_does_not_order_loads_of_what_a_dma_master_wrote(barrier: str, expect: str) -> None:
    assert _read_after_dma(barrier) == expect


def _read_after_dma_ordered_by(consume: str) -> str:
    """As ``_read_after_dma``, with the PE's whole program given: it polls F, then is to
    read D only after it (``consume``)."""
    b = Builder()
    b.system(pes=1)
    b.page("P", "D F X")
    b.options(weak_ordering=True)
    b.device("dma", "STR D, 1\nSTR F, 1", coherent=True)
    b.host("cpu", consume)
    b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") == 0, "the PE reads D from before the status")
    return check(Machine(b.build())).outcome.value


@pytest.mark.parametrize(
    ("consume", "expect"),
    [
        # B2.6.9: a DSB "completes when all of the following are complete for the set of
        # observers in the required shareability domain": a DSB ISH completes the poll of F
        # for the PEs only, so for the DMA master the read of D may come first.
        ("AWAIT F, >=1\nDSB ISH\nLDR r1, D", "reachable"),
        ("AWAIT F, >=1\nDSB ISHLD\nLDR r1, D", "reachable"),
        ("AWAIT F, >=1\nDSB OSH\nLDR r1, D", "unreachable"),
        ("AWAIT F, >=1\nDSB SY\nLDR r1, D", "unreachable"),
        # B2.3: the ordering relations, Barrier-ordered-before of an acquire included, are
        # stated for PEs "part of the same Inner Shareable domain": an acquire (smp_rmb's or
        # smp_load_acquire's use instead of dma_rmb) does not order D after F for the device.
        ("AWAITA F, >=1\nLDR r1, D", "reachable"),
        ("AWAITA F, >=1\nDMB OSHLD\nLDR r1, D", "unreachable"),
        # A DMB ISH after the PE's own store X: its marker does not hold the read of D.
        ("STR X, 1\nAWAIT F, >=1\nDMB ISH\nLDR r1, D", "reachable"),
        ("STR X, 1\nAWAIT F, >=1\nDMB OSH\nLDR r1, D", "unreachable"),
    ],
)
def test_a_dsb_ish_or_an_acquire_does_not_order_loads_of_dma_data(consume: str, expect: str) -> None:
    assert _read_after_dma_ordered_by(consume) == expect


def test_a_dsb_ish_still_orders_loads_of_what_another_pe_wrote() -> None:
    """The same program with a second PE as the writer: DSB ISH and an acquire order
    the PE's loads for the Inner Shareable domain (B2.3.7 Barrier-ordered-before)."""
    for consume in ("AWAIT F, >=1\nDSB ISH\nLDR r1, D", "AWAITA F, >=1\nLDR r1, D"):
        b = Builder()
        b.system(pes=2)
        b.page("P", "D F")
        b.options(weak_ordering=True)
        b.host("pe1", "STR D, 1\nDMB ISHST\nSTR F, 1", pe=1)
        b.host("cpu", consume, pe=0)
        b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") == 0, "stale D")
        assert check(Machine(b.build())).outcome.value == "unreachable", consume


@pytest.mark.parametrize(("barrier", "expect"), [("DMB ISHST", "reachable"), ("DMB OSHST", "unreachable")])
def test_partial_order_reduction_keeps_the_dma_verdicts(barrier: str, expect: str) -> None:
    """The two completion steps of a store (for the PEs, then for the DMA masters) are
    seen by --por as buffer completions touching the store's line: same verdicts."""
    from stalecheck.explore.reduced import SearchMode
    from stalecheck.explore.search import Budget
    from stalecheck.machine.por import PartialOrder

    for coherent in (False, True):
        m = _publish(barrier, coherent)
        por = SearchMode(por=True)
        reduced = check(m, Budget(), mode=por, reducer=lambda seen, m=m: PartialOrder(m, seen))
        assert reduced.outcome.value == expect
