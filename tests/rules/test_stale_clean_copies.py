"""Issue 11, item 3: a coherent observer can read a clean cached copy that is stale
against memory.

B2.11 (Mismatched memory attributes): once a location is written through a
Non-cacheable alias while a cacheable alias has a clean copy cached, "a read of the
memory Location by one agent might not return the value most recently written".  The
old model let a coherent reader see only dirty copies of other caches, so both cases
below came out unreachable.
"""

from __future__ import annotations

from stalecheck.explore.search import check
from stalecheck.machine import caches
from stalecheck.machine.hierarchy import CacheConfig, Hierarchy
from stalecheck.machine.memtypes import NORMAL_NC
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder


def test_fill_sources_list_a_peers_stale_clean_copy_only_when_it_differs() -> None:
    h = Hierarchy(CacheConfig(), 2)
    nl = 1
    pe0 = h.l1[0]
    copies: caches.Copies = (caches.NO_COPY, (0, (1,)))
    assert caches.fill_sources(copies, ((2,),), h, pe0, 0, nl) == ((2,), (1,))
    assert caches.fill_sources(copies, ((1,),), h, pe0, 0, nl) == ((1,),)  # coherent: one source
    assert caches.fill(copies, ((2,),), h, pe0, 0, nl, source=1)[pe0 * nl] == (0, (1,))


def test_snooping_device_described_as_non_coherent_reads_a_stale_clean_line() -> None:
    """Linux ``arch_dma_prep_coherent()`` cleans the buffer only; the CPU then writes it
    through a Non-cacheable mapping.  A device that really snoops (described as
    non-coherent) can hit the clean copy the linear map left in L1 (B2.11)."""
    b = Builder()
    b.system(pes=1)
    b.page("P", "X", vm="vm")
    b.init(X=1)
    # The kernel's buffer mapping is Normal NC; EL2's linear map of RAM is cacheable and
    # may fill X=1 into L1 at any time (D7.5.1).
    b.vm("vm", mapped=("P",), stage1={"X": NORMAL_NC})
    b.options(host_linear_map=True)
    b.guest("cpu", "STR X, 2\nDSB SY\nSIGNAL go", vm="vm")
    b.device("dma", "WAIT go\nLDR r1, X", coherent=True)
    b.bad_when(lambda v: v.done("dma") and v.reg("dma", "r1") != 2, "device reads stale data")
    verdict = check(Machine(b.build()))
    assert verdict.outcome.value == "reachable"


def _caches_off_writer(invalidate: bool) -> str:
    """PE1 holds X=1 clean; the vCPU on PE0 writes X=2 with its data caches off, turns
    them on and reads X back (the case seed 001 calls a stale line on another PE)."""
    b = Builder()
    b.system(pes=2)
    b.page("P", "X", vm="vm")
    b.init(X=1)
    b.options(host_linear_map=False)
    b.vm("vm", mapped=("P",))
    b.host("peer", "LDR r0, X", pe=1)
    inval = "DC CIVAC X\nDSB ISH\n" if invalidate else ""
    b.guest(
        "vcpu",
        f"WAIT read\nSTR X, 2\nDSB SY\nMSR SCTLR_EL1.C, 1\nISB\n{inval}LDR r1, X",
        vm="vm",
        pe=0,
        sctlr=(1, 0, 1),
        migratable=False,
    )
    b.host("signal", "SIGNAL read", pe=1)
    b.bad_when(lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 2, "reads its own write back stale")
    return check(Machine(b.build())).outcome.value


def test_stale_clean_line_on_another_pe_after_a_caches_off_phase() -> None:
    """After the caches-off write, PE0's L1 may be filled from PE1's clean copy X=1 (a
    snoop hit; B2.11, D7.5.1); invalidating to the PoC (broadcast in the Inner Shareable
    domain, D7.5.9.5) after turning caches on removes it."""
    assert _caches_off_writer(invalidate=False) == "reachable"
    assert _caches_off_writer(invalidate=True) == "unreachable"
