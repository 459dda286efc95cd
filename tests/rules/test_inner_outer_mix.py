"""Issue 11, item 4: Inner Write-Back / Outer Non-cacheable is not Non-cacheable.

D8.6.5.2 keeps inner and outer cacheability apart: an Inner WB / Outer NC buffer is held
in the inner caches.  The old model treated every mix as Non-cacheable, so a CPU store
went straight to the PoC and a non-coherent DMA master could never read a stale buffer.
"""

from __future__ import annotations

from stalecheck.explore.search import check
from stalecheck.machine.memtypes import Cacheability, MemType, Shareability
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder

INNER_WB_OUTER_NC = MemType(False, Cacheability.WB, Cacheability.NC, Shareability.ISH)


def _dma_reads_buffer(clean: bool) -> str:
    b = Builder()
    b.system(pes=1)
    b.page("P", "X")
    b.host_type("X", INNER_WB_OUTER_NC)
    dc = "DC CVAC X\n" if clean else ""
    b.host("cpu", f"STR X, 1\n{dc}DSB SY\nSIGNAL go")
    b.device("dma", "WAIT go\nLDR r1, X", coherent=False)
    b.bad_when(lambda v: v.done("dma") and v.reg("dma", "r1") != 1, "the device reads a stale buffer")
    return check(Machine(b.build())).outcome.value


def test_inner_cached_buffer_is_stale_for_a_non_coherent_master() -> None:
    assert INNER_WB_OUTER_NC.mixed and not INNER_WB_OUTER_NC.cacheable
    assert _dma_reads_buffer(clean=False) == "reachable"
    assert _dma_reads_buffer(clean=True) == "unreachable"
