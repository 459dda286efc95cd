"""Seed 000: fcvm, FUSE over vsock from an L1 guest hypervisor (FEAT_NV2) to the L0 VMM.

The L1 kernel (running at virtual EL2 under NV2) fills an skb with a framed FUSE
request ``[CRC32][len][body]``, adds it to the vsock TX virtqueue and kicks the
device with ``writel`` to QueueNotify; the write takes a stage-2 abort to L0, whose
KVM signals the ioeventfd; the Firecracker VMM thread on another PE reads the ring
and the skb through its own (host, Normal WB) mapping of L1's memory, then returns
the buffer through the used ring and an interrupt.  The server saw ``WIRE CRC
MISMATCH`` beyond about 1.3 MB; the patches posted in the PR (cache flushes of the
skb, DSBs at the kick, in the RX path, at nested exit, before the ioeventfd) did
not fix it.

Which memory types each side uses is data (``_types``): L1's stage 1, L0's stage 2
for L1, and whether L0 runs L1 with HCR_EL2.FWB (KVM does whenever the CPU has
FEAT_S2FWB).  The nested layering (which stage 2 applies to which observer, which
exits synchronise) is ``scenarios/support/nested.py``.

Ordering: both PEs execute out of program order as far as the Arm memory model
allows (``weak_ordering``, docs/ordering.md), and each side reads the ring with the
barriers its real code has: the VMM reads ``avail->idx``, then
``fence(Ordering::Acquire)`` (``DMB ISHLD``, Firecracker ``Queue::do_pop_unchecked``),
then the descriptor and the skb, and ``fence(Ordering::Release)`` (``DMB ISH``) before
``used->idx`` (``add_used``); the driver reads ``used->idx``, then ``virtio_rmb``
(``DMB ISHLD``) before reusing a slot.  The VMM waits for the first kick (its
eventfd read is an acquire) and then pops the next chains as soon as ``avail->idx``
shows them, as Firecracker's ``process_tx`` loop does, without reading the eventfd
again.  Every verdict below therefore holds for out-of-order executions and for a
VMM that pops without a kick, where the verdicts of earlier versions assumed loads
in order and a VMM that read a message only after its own kick.

Scaling: a virtqueue of 2 descriptors with 2 messages in flight, and of 1
descriptor with 2 messages (the slot reused).  A stale read needs a line written
by one side and read by the other while the reader holds an older copy; lines of
different slots never interact (each word's history depends only on the messages
that use its slot), so more slots repeat the same per-slot interleavings, and the
first lap versus later laps is the only distinction that size brings: the
one-slot variants cover reuse.  The 2-slot ring used to send 4 messages (every
slot reused), which out-of-order execution made too large to explore in
``make run`` (363,097 states for baseline-fwb); the rising failure rate with size
is the stress mode's job (``stalecheck stress``).

What exploring says (see the variants' ``expect`` and tests/virtio): with FWB at L0
every L1 RAM access is Normal WB and nothing stale is reachable, with or without
any patch, with or without the NV2 traffic or a relaxed kick: the cache theory
is refuted there.  Without FWB it is still unreachable while L1 maps RAM Normal
WB.  A stale read needs an L1 mapping that is Non-cacheable (H2 vring, H3 skb
data); both are reachable even without a ring wrap (a speculative fill through
L0's linear map suffices), so the size dependence is a matter of probability,
which the stress curve shows.  DSBs alone never close them (a DSB completes
L1's stores, it does not remove the VMM's stale copy); DC CIVAC on the linear
and paged data closes H3.  For H2, cleaning the vring after publishing (even
between DSBs, since a Non-cacheable store and a DC CIVAC of the same line are not
ordered, D7.5.9.15) is too late for a VMM that pops without waiting for the kick:
it may read the new ``avail->idx`` from memory and the descriptor from a line it
had cached before the clean (``ring-nc+all-patches+ring-flush-dsb``, reachable
since the VMM pops without a kick; it was unreachable when the VMM read each message
only after its own kick).  Cleaning the descriptor before publishing closes it.

The readers' barriers matter only with out-of-order execution: without the VMM's
``fence(Acquire)`` its loads of the descriptor and the skb may be satisfied before
its poll of ``avail->idx`` exits, and it takes the previous message's frame for
the new one with every line Normal WB (``vmm-no-acquire-fwb``, reachable).  The
driver's ``virtio_rmb`` is not needed on the TX path as modelled: its stores into a
reused skb wait for the poll of ``used->idx`` (a control dependency, B2.3.6; also
without the interrupt wait: tests/virtio); it still orders the reads of the used
entries, which the model leaves out (with one descriptor per message, completed in
order, an entry reads the same on every lap, so a stale one names the same skb).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from stalecheck.machine.isa import Instr
from stalecheck.machine.memtypes import DEVICE, NORMAL_NC, NORMAL_WB, MemType
from stalecheck.machine.program import parse_program
from stalecheck.machine.spec import HCR, TrapContext
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder, Scenario
from stalecheck.scenarios.support import nested
from stalecheck.scenarios.support.nested import NESTED_FCVM
from stalecheck.scenarios.support.virtio import ALL_PATCHES, RING_LINES, Patches, Virtqueue

SCENARIO = Scenario(
    "fcvm-vsock-nv2",
    "fcvm: FUSE-over-vsock CRC mismatch from an NV2 L1 guest hypervisor to the L0 VMM",
    seed="000",
)

SLOTS = 2  # virtqueue size in the model


def l0_exit_policy(patches: Patches, release: bool = True) -> Callable[[TrapContext], list[Instr]]:
    """L0 KVM's handling of the QueueNotify abort (io_mem_abort -> ioeventfd).

    ``release``: eventfd_signal publishes the count under the wait-queue spinlock,
    whose unlock is a release (``STLR``), so every store before it in program order
    (the guest's ring stores included: program order runs through the exception) is
    seen first; modelled as ``DMB ISH`` before the counter store (B2.3 barrier-ordered-
    before).  ``dsb_nested_exit``/``dsb_ioeventfd`` are the seed's two host patches.
    """

    def policy(trap: TrapContext) -> list[Instr]:
        if trap.page == nested.TRAP_PAGE:  # L1's TLBI at vEL2: L0 emulates it, then ERET
            return list(parse_program("\n".join(nested.L0_TLBI_EMULATION), source="<L0 TLBI emulation>"))
        code = []
        if patches.dsb_nested_exit:
            code.append("DSB SY  // nv2-vsock-cache-sync: kvm_nested_sync_hwstate")
        if patches.dsb_ioeventfd:
            code.append("DSB SY  // nv2-mmio-barrier: before kvm_io_bus_write")
        if release:
            code.append("DMB ISH  // eventfd_signal: spin_unlock release")
        code.append(f"STR k{trap.value - 1}, 1  // ioeventfd count")
        return list(parse_program("\n".join(code), source="<L0 KVM exit>"))

    policy.__name__ = f"l0_kvm_exit({','.join(patches.names()) or 'no patches'})"
    return policy


def _types(ring: MemType = NORMAL_WB, data: MemType = NORMAL_WB, frags: MemType = NORMAL_WB) -> dict:  # type: ignore[type-arg]
    """L1's stage-1 types: Linux maps RAM Normal WB; NC appears only if L1 allocates the
    vring with dma_alloc_coherent for a device it believes non-coherent."""
    out: dict[str, MemType] = {"QN": DEVICE}
    for name in RING_LINES:
        out[name] = ring
    for i in range(SLOTS):
        out[f"SKB{i}"] = data
        out[f"FRAG{i}"] = frags
    return out


def build(
    b: Builder,
    vq: Virtqueue,
    fwb: bool,
    l1_stage1: dict[str, MemType] | None = None,
    release: bool = True,
    weak: bool = True,
) -> None:
    """The whole system for one variant: two PEs, L1's vCPU on PE0, the VMM on PE1.
    ``weak``: each PE executes out of program order as far as the Arm memory model
    allows (docs/ordering.md); off only where noted, for the state count."""
    # FEAT_S2FWB hardware has CLIDR_EL1.LoUU=LoUIS=0 (Arm ARM D8.6, IRRDBK).
    b.system(pes=2, louu=0 if fwb else None)
    b.options(quiet_coherent_lines=True, prune_dead_lines=True, weak_ordering=weak)
    ram = []
    declared = {"QN"}  # the lines this build declares (L1's stage-1 types cover only those)
    for page, lines in vq.pages():
        b.page(page, lines, vm="l1")
        ram.append(page)
        declared.update(item.partition(":")[0] for item in lines.split())
    b.page("MMIO", "QN")
    if vq.nv2:
        b.page(nested.TRAP_PAGE, nested.TRAP_LINE)
        b.host_type(nested.TRAP_LINE, DEVICE)
    b.page("HOST", vq.efd_line())
    b.host_type("QN", DEVICE)  # the doorbell is not memory: nothing caches it
    stage1 = {k: v for k, v in (l1_stage1 or _types()).items() if k in declared}
    b.vm(
        "l1",
        hcr=HCR(FWB=fwb),
        mapped=tuple(ram),
        stage1=stage1,
        mmio=("MMIO", nested.TRAP_PAGE) if vq.nv2 else ("MMIO",),
        on_mmio=l0_exit_policy(vq.patches, release=release),
    )
    b.guest("l1-vsock", vq.driver(), vm="l1", pe=NESTED_FCVM.pe_of("l1-vsock"))
    b.host("fc-vmm", vq.device(), pe=NESTED_FCVM.pe_of("fc-vmm"))
    regs = vq.all_registers()

    def corrupt(v) -> bool:  # type: ignore[no-untyped-def]
        return bool(vq.corruption({r: v.reg("fc-vmm", r) for r in regs}))

    b.bad_when(corrupt, "the VMM receives a frame that fails the seed's CRC check (or is not the one sent)")


def corruption_text(vq: Virtqueue, view) -> str:  # type: ignore[no-untyped-def]
    return vq.corruption({r: view.reg("fc-vmm", r) for r in vq.all_registers()})


def _variant(name: str, expect: str, summary: str, **kw: object) -> None:
    """Register one variant: ``kw`` are ``build``'s arguments (data, never engine code)."""

    def fn(b: Builder) -> None:
        build(b, **kw)  # type: ignore[arg-type]

    SCENARIO.variant(name, expect=expect, summary=summary)(fn)


# Two messages in flight at once, one per slot (no slot reused: the one-slot variants
# below reuse theirs).  Out-of-order execution made the ring of 2 slots and 4 messages
# (every slot reused) too large to explore in ``make run`` (363,097 states for
# baseline-fwb against 23,920 with loads in order).
PAGED = Virtqueue(SLOTS, SLOTS, paged=True)
RING_NC = _types(ring=NORMAL_NC)
DATA_NC = _types(data=NORMAL_NC, frags=NORMAL_NC)

# ---- the baseline, with and without FWB ---------------------------------------------
_variant(
    "baseline-fwb",
    "unreachable",
    "No patches; L0 runs L1 with FWB: every L1 RAM access is Normal WB.",
    vq=PAGED,
    fwb=True,
)
_variant(
    "baseline-no-fwb",
    "unreachable",
    "No patches, no FWB: L1 stage 1 WB x L0 stage 2 WB is still WB on both sides.",
    vq=PAGED,
    fwb=False,
)

# ---- each posted patch alone, and all together, on the baseline (FWB) ---------------
_SINGLE = {
    "flush-linear": Patches(flush_linear=True),
    "flush-linear-frags": Patches(flush_linear=True, flush_frags=True),
    "dsb-isb-kick": Patches(dsb_isb_kick=True),
    "dsb-rx": Patches(dsb_rx=True),
    "dsb-nested-exit": Patches(dsb_nested_exit=True),
    "dsb-ioeventfd": Patches(dsb_ioeventfd=True),
}
for _name, _p in _SINGLE.items():
    _variant(
        f"fwb+{_name}",
        "unreachable",
        f"Baseline with FWB plus the seed's {_name} patch alone.",
        vq=replace(PAGED, patches=_p),
        fwb=True,
    )
_variant(
    "fwb+all-patches",
    "unreachable",
    "Baseline with FWB plus every posted patch.",
    vq=replace(PAGED, patches=ALL_PATCHES),
    fwb=True,
)

# ---- hypotheses for the root cause ---------------------------------------------------
# One slot, two messages (the second reuses the slot): slots never interact, so one
# slot shows every per-slot interleaving at a size the search finishes in seconds.
HYP = Virtqueue(1, 2, paged=True)
HYP_NO_WRAP = Virtqueue(1, 1, paged=True)
_variant(
    "nv2-order-fwb",
    "unreachable",
    "H1: L1's NV2 traffic (VNCR stores, a TLBI trapped and emulated by L0) interleaved with the ring, FWB.",
    vq=replace(PAGED, nv2=True),
    fwb=True,
)
_variant(
    "nv2-order-no-fwb",
    "unreachable",
    "H1 without FWB (all WB anyway).",
    vq=replace(PAGED, nv2=True),
    fwb=False,
)
_variant(
    "ring-nc-no-fwb",
    "reachable",
    "H2: L1 maps the vring Non-cacheable (dma_alloc_coherent, device believed non-coherent), no FWB.",
    vq=HYP,
    fwb=False,
    l1_stage1=RING_NC,
)
_variant(
    "ring-nc-no-wrap",
    "reachable",
    "H2 with one message per slot (no slot reused).",
    vq=HYP_NO_WRAP,
    fwb=False,
    l1_stage1=RING_NC,
)
_variant(
    "ring-nc-fwb",
    "unreachable",
    "H2 with FWB: stage 2 forces Normal WB over L1's NC.",
    vq=HYP,
    fwb=True,
    l1_stage1=RING_NC,
)
_variant(
    "ring-nc+all-patches",
    "reachable",
    "H2 with every posted patch.",
    vq=replace(HYP, patches=ALL_PATCHES),
    fwb=False,
    l1_stage1=RING_NC,
)
_variant(
    "ring-nc+all-patches+ring-flush",
    "reachable",
    "H2 with every posted patch and DC CIVAC of the vring after publishing (the seed's next idea).",
    vq=replace(HYP, patches=replace(ALL_PATCHES, flush_ring=True)),
    fwb=False,
    l1_stage1=RING_NC,
)
_variant(
    "ring-nc+all-patches+ring-flush-dsb",
    "reachable",
    "H2 with every posted patch and DC CIVAC of the vring after publishing, with"
    " a DSB SY before and after: too late for a VMM that pops the next chain as soon as"
    " avail->idx shows it (Firecracker's process_tx loop, without waiting for the kick),"
    " from a descriptor line its cacheable mapping filled (speculatively, D7.5.1) before"
    " the clean: the NC store of avail->idx reaches memory before the DC CIVAC removes"
    " that copy (B2.11 mismatched attributes). Unreachable when the VMM reads a chain"
    " only after its own kick.",
    vq=replace(HYP, patches=replace(ALL_PATCHES, flush_ring=True, ring_flush_dsb=True)),
    fwb=False,
    l1_stage1=RING_NC,
)
_variant(
    "ring-nc+all-patches+desc-flush-before-publish",
    "unreachable",
    "H2 with every posted patch, the descriptor cleaned (DSB, DC CIVAC, DSB) before"
    " avail->idx is published, and the vring cleaned after.",
    vq=replace(
        HYP,
        patches=replace(ALL_PATCHES, flush_ring=True, ring_flush_dsb=True, desc_flush_before_publish=True),
    ),
    fwb=False,
    l1_stage1=RING_NC,
)
_variant(
    "data-nc-no-fwb",
    "reachable",
    "H3: skb data written Non-cacheably by L1, read cacheably by the VMM: stale lines across a ring wrap.",
    vq=HYP,
    fwb=False,
    l1_stage1=DATA_NC,
)
_variant(
    "data-nc-no-wrap",
    "reachable",
    "H3 with one message per slot (no slot reused).",
    vq=HYP_NO_WRAP,
    fwb=False,
    l1_stage1=DATA_NC,
)
_variant("data-nc-fwb", "unreachable", "H3 with FWB.", vq=HYP, fwb=True, l1_stage1=DATA_NC)
_CLOSES_H3 = ("flush-linear-frags", "all-patches")  # what exploring found (see the module doc)
for _name, _p in {**_SINGLE, "all-patches": ALL_PATCHES}.items():
    _variant(
        f"data-nc+{_name}",
        "unreachable" if _name in _CLOSES_H3 else "reachable",
        f"H3 plus the {_name} patch.",
        vq=replace(HYP, patches=_p),
        fwb=False,
        l1_stage1=DATA_NC,
    )
_variant(
    "store-in-buffer",
    "unreachable",
    "H4: kick with writel_relaxed and no release in L0's ioeventfd path (a ring store may still be "
    "buffered when the VMM wakes), FWB.",
    vq=replace(PAGED, writel=False),
    fwb=True,
    release=False,
)


# ---- the readers' barriers: the VMM's fence(Acquire), the driver's virtio_rmb -------------
# Every variant above runs the code as Linux and Firecracker write it: the VMM reads
# avail->idx, then fence(Ordering::Acquire) (DMB ISHLD), then the ring and the skb; the
# driver reads used->idx, then virtio_rmb (DMB ISHLD), then reuses the slot.  With
# out-of-order execution those barriers are what keeps the reads in order.
_variant(
    "vmm-no-acquire-fwb",
    "reachable",
    "The VMM without fence(Acquire) after reading avail->idx (FWB, all WB): it may read the"
    " descriptor and the skb before the index moved, a stale frame with no cache involved.",
    vq=replace(HYP, vmm_acquire=False),
    fwb=True,
)
_variant(
    "vmm-acquire-fwb",
    "unreachable",
    "The same ring as vmm-no-acquire-fwb, with Firecracker's fence(Acquire) (DMB ISHLD).",
    vq=HYP,
    fwb=True,
)
_variant(
    "driver-no-rmb-fwb",
    "unreachable",
    "The driver without virtio_rmb after reading used->idx before it reuses a slot (FWB):"
    " its stores into the reused skb wait for its poll of used->idx anyway (a control"
    " dependency orders later writes, B2.3.6/B2.3.7; also without the interrupt wait,"
    " tests/virtio).  What virtio_rmb orders in Linux, the read of the used entry that"
    " names the buffer to free, is not modelled: in order, one descriptor per message,"
    " that entry reads the same on every lap.",
    vq=replace(HYP, driver_rmb=False),
    fwb=True,
)


# ---- stress mode: the seed's sizes, scaled ------------------------------------------
# The seed sweeps cumulative transfer sizes; the model sends one framed request per
# 256K of the seed's units, through a 2-slot ring (so 512K fills the ring once).
SEED_SIZES = ("512K", "768K", "1M", "1280K", "1536K", "2M")
MESSAGES_PER_SIZE = {"512K": 2, "768K": 3, "1M": 4, "1280K": 5, "1536K": 6, "2M": 8}
STRESS_HYPOTHESES = {"data-nc": DATA_NC, "ring-nc": RING_NC, "baseline": _types()}


@SCENARIO.stress_sweep(
    sizes=SEED_SIZES,
    hypotheses=tuple(STRESS_HYPOTHESES),
    flags=("fwb",),
    label="transfer size (seed's units, scaled to the model)",
)
def stress_build(b: Builder, size: str, hypothesis: str = "data-nc", fwb: bool = False) -> None:
    """One swept size: ``hypothesis`` names L1's stage-1 types, ``fwb`` whether L0 runs
    L1 with HCR_EL2.FWB."""
    build(
        b,
        Virtqueue(SLOTS, MESSAGES_PER_SIZE[size], paged=True),
        fwb=fwb,
        l1_stage1=STRESS_HYPOTHESES[hypothesis],
    )


def stress_model(size: str, hypothesis: str = "data-nc", fwb: bool = False) -> Machine:
    """The model ``stalecheck stress`` runs for one size (a module-level function, so
    worker processes can build it)."""
    from stalecheck.machine.schedule import RareHardware

    sweep = SCENARIO.stress
    assert sweep is not None
    return RareHardware(sweep.build(size, hypothesis, ("fwb",) if fwb else ()))
