"""Seed 003: OSv on KVM arm64 maps a device page and reads it at once.

``map_range()`` writes a new level-3 PTE for the virtio-mmio page and the very
next instruction reads the device register through it.  The table walk is an
observer of its own: it does not see the store while it sits in the PE's
buffer, and without an ``ISB`` the load may have been translated *before* the
``DSB`` made the store visible (seed 003, quoting the Arm ARM: the write is
observable to the walker only after a DSB, and only walks of instructions
after a context synchronisation event are guaranteed to use it).  The old
entry was invalid, and an invalid entry is never cached in a TLB, so no
``TLBI`` is needed: ``DSB ISHST; ISB`` is the whole fix.

Scaling: one PE, a two-level stage-1 regime (one level-2 table line, one
level-3 table line), one device page.  KVM's stage 2 maps all of OSv's RAM and
the device page traps to the VMM as MMIO; neither is part of the question, so
OSv runs as a single-stage regime here.

The break-before-make pair changes a *live* mapping from page A to page B
while a second PE reads through it: without the break, two PEs' TLBs may hold
both translations and a lookup may take a TLB conflict abort (D8.16 Translation Lookaside Buffers).

Every variant runs with out-of-order execution (``weak_ordering``, docs/ordering.md)
and no verdict changes.  The load may now execute before the PTE store enters the
buffer, but its walk could already be made before the store was visible (the walker
never sees the buffer), so nothing new is reachable; a DSB still holds the load until
the store completes (B2.6.9), with FEAT_ETS2 a faulting walk still waits for the older
store (B2.3.7 ETS-ordered-before), and an ISB that executes before the store (it waits
for no earlier store) does not help ``isb-only``.  In the remap pair the writer's TLBI
is ordered by its DSBs (D8.17.8 R_TGVWD).  The reader's two loads through V may be
satisfied in either order (read-read coherence is checked on the physical location
each translation gives, docs/ordering.md); they kept program order until 2026-11-30,
and lifting that changed no verdict: a TLB conflict abort needs both translations
cached, whichever load looks first.
"""

from __future__ import annotations

from stalecheck.machine.memtypes import DEVICE
from stalecheck.scenarios.builder import Builder, Scenario

SCENARIO = Scenario(
    "osv-pte-barriers",
    "OSv maps a device page and reads it at once: translation fault from a stale walk",
    seed="003",
)

ESR_L3_TRANSLATION = 0x96000007  # seed 003's crash: data abort, same EL, level-3 translation fault
ESR_TLB_CONFLICT = 0x96000030  # data abort, same EL, TLB conflict abort


def _osv(b: Builder, barriers: str, ets2: bool = False, on_fault: str = "fatal") -> None:
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:l3e")  # the level-2 and level-3 tables (one entry each)
    b.page("MMIO", "DEV")  # the virtio-mmio configuration page
    b.host_type("DEV", DEVICE)  # nothing maps the device page cacheable: never filled
    b.regime("osv", root="L2T", levels=(2, 3), vas={"VDEV": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=0, DEV=5)
    pte = b.page_desc("MMIO", attr="device", xn=True)
    code = f"STR l3e, {pte}\n{barriers}LDR r1, VDEV"  # map_range(), then mmio_getl()
    b.host("osv", code)
    b.fetch(ets2=ets2)
    b.translate("osv", "osv", on_fault=on_fault)
    b.options(weak_ordering=True)
    b.bad_when(
        lambda v: v.fault("osv") != 0,
        "OSv takes a fatal abort reading the device page it has just mapped (seed 003: ESR 0x96000007)",
    )


@SCENARIO.variant("no-barriers", expect="reachable")
def _no_barriers(b: Builder) -> None:
    """map_range() as it was: the PTE store, then the access."""
    _osv(b, "")


@SCENARIO.variant("dsb-only", expect="reachable")
def _dsb_only(b: Builder) -> None:
    """DSB ISHST after the PTE store but no ISB, without FEAT_ETS2."""
    _osv(b, "DSB ISHST\n")


@SCENARIO.variant("dsb-only-ets2", expect="unreachable")
def _dsb_only_ets2(b: Builder) -> None:
    """DSB ISHST without ISB on a PE with FEAT_ETS2."""
    _osv(b, "DSB ISHST\n", ets2=True)


@SCENARIO.variant("isb-only", expect="reachable")
def _isb_only(b: Builder) -> None:
    """ISB without the DSB: the store may still sit in the buffer when the walk runs."""
    _osv(b, "ISB\n")


@SCENARIO.variant("dsb-isb", expect="unreachable")
def _dsb_isb(b: Builder) -> None:
    """The fix that landed: synchronize_page_table_modifications() = DSB ISHST; ISB."""
    _osv(b, "DSB ISHST\nISB\n")


@SCENARIO.variant("spurious-fault-retry", expect="unreachable")
def _spurious_retry(b: Builder) -> None:
    """Linux's alternative: keep DSB ISHST without ISB, and let the fault handler
    re-walk (AT) and retry when the translation is now valid."""
    _osv(b, "DSB ISHST\n", on_fault="retry")


@SCENARIO.variant("no-barriers-retry", expect="reachable")
def _no_barriers_retry(b: Builder) -> None:
    """The retry handler alone, with no DSB: the store may still be buffered when
    the handler re-walks, so the fault is judged real."""
    _osv(b, "", on_fault="retry")


def _remap(b: Builder, writer: str) -> None:
    b.system(pes=2)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("PA", "A")
    b.page("PB", "B")
    b.host_type("A", DEVICE)  # the data pages are Device memory: no data-cache steps for them
    b.host_type("B", DEVICE)
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("PA", attr="device"), A=1, B=2)
    new = b.page_desc("PB", attr="device")
    b.host("writer", writer.format(new=new), pe=0)
    b.host("reader", "LDR r1, V\nLDR r2, V", pe=1)
    b.translate("writer", "k")
    b.translate("reader", "k")
    b.options(weak_ordering=True)
    b.bad_when(
        lambda v: v.fault("reader") == ESR_TLB_CONFLICT,
        "the reader takes a TLB conflict abort (two translations of V cached at once)",
    )


@SCENARIO.variant("break-before-make", expect="unreachable")
def _bbm(b: Builder) -> None:
    """Change V from page A to page B: invalidate, DSB, TLBI, DSB, then write the new
    entry (D8.16.1 break-before-make)."""
    _remap(b, "STR l3e, 0\nDSB ISH\nTLBI VAE1IS, V\nDSB ISH\nSTR l3e, {new}\nDSB ISH\nISB")


@SCENARIO.variant("make-before-break", expect="reachable")
def _mbb(b: Builder) -> None:
    """Overwrite the live entry with the new one, then TLBI: a TLB may hold both."""
    _remap(b, "STR l3e, {new}\nDSB ISH\nTLBI VAE1IS, V\nDSB ISH\nISB")
