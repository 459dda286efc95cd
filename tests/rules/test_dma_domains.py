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


def _publish(barrier: str, coherent: bool, reader: str = "dma") -> Machine:
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
        b.device("dma", consume, coherent=coherent)
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


def test_the_domains_are_printed_with_a_dma_master() -> None:
    m = _publish("DMB ISHST", coherent=False)
    check(m)
    [line] = [a for a in assumptions(m) if "shareability domains" in a]
    assert "DMB ISHST" in line and "B2.6.10" in line
