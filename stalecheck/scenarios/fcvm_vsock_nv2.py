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
exits synchronise) is ``machine/nested.py``.

Scaling: a virtqueue of 2 descriptors and up to 4 messages (2 laps).  A stale read
needs a line written by one side and read by the other while the reader holds an
older copy; lines of different slots never interact (each word's history depends
only on the messages that use its slot), so more slots repeat the same per-slot
interleavings, and the first lap (messages < slots) versus later laps is the only
distinction that size brings.  The verdict at 2 slots with ``messages = slots`` (no
wrap) and ``messages = 2 * slots`` (every slot reused) therefore covers "passes up
to the ring's capacity, fails beyond it"; the rising failure rate with size is the
stress mode's job (``stalecheck stress``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from stalecheck.machine.isa import Instr
from stalecheck.machine.memtypes import DEVICE, NORMAL_NC, NORMAL_WB, MemType
from stalecheck.machine.nested import L0_KVM_EXIT, NESTED_FCVM
from stalecheck.machine.program import parse_program
from stalecheck.machine.spec import HCR, TrapContext
from stalecheck.machine.virtio import ALL_PATCHES, RING_LINES, Patches, Virtqueue
from stalecheck.scenarios.builder import Builder, Scenario

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
) -> None:
    """The whole system for one variant: two PEs, L1's vCPU on PE0, the VMM on PE1."""
    b.system(pes=2)
    b.options(quiet_coherent_lines=True)
    ram = []
    for page, lines in vq.pages():
        b.page(page, lines, vm="l1")
        ram.append(page)
    b.page("MMIO", "QN")
    b.page("HOST", vq.efd_line())
    b.host_type("QN", DEVICE)  # the doorbell is not memory: nothing caches it
    stage1 = {k: v for k, v in (l1_stage1 or _types()).items() if k in {ln.name for ln in b._lines}}
    b.vm(
        "l1",
        hcr=HCR(FWB=fwb),
        mapped=tuple(ram),
        stage1=stage1,
        mmio=("MMIO",),
        on_mmio=l0_exit_policy(vq.patches, release=release),
    )
    b.guest("l1-vsock", vq.driver(), vm="l1", pe=NESTED_FCVM.pe_of("l1-vsock"))
    b.host("fc-vmm", vq.device(), pe=NESTED_FCVM.pe_of("fc-vmm"))
    regs = vq.all_registers()

    def corrupt(v) -> bool:  # type: ignore[no-untyped-def]
        if not v.done("fc-vmm"):
            return False
        return bool(vq.corruption({r: v.reg("fc-vmm", r) for r in regs}))

    b.bad_when(corrupt, "the VMM receives a frame that fails the seed's CRC check (or is not the one sent)")


def corruption_text(vq: Virtqueue, view) -> str:  # type: ignore[no-untyped-def]
    return vq.corruption({r: view.reg("fc-vmm", r) for r in vq.all_registers()})


_ = (replace, ALL_PATCHES, NORMAL_NC, L0_KVM_EXIT)


@SCENARIO.variant("baseline-fwb", expect="unreachable")
def _baseline_fwb(b: Builder) -> None:
    """No patches, L0 runs L1 with FWB (every L1 RAM access Normal WB), ring wraps."""
    build(b, Virtqueue(SLOTS, 2 * SLOTS), fwb=True)


@SCENARIO.variant("baseline-no-fwb", expect="unreachable")
def _baseline_no_fwb(b: Builder) -> None:
    """No patches, no FWB: L1 stage 1 WB x L0 stage 2 WB is still WB on both sides."""
    build(b, Virtqueue(SLOTS, 2 * SLOTS), fwb=False)
