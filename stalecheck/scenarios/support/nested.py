"""Nested virtualisation with FEAT_NV2 as a layer of plain data.

Who runs where, which stage 2 translates whose accesses, what becomes a memory
access and what exits: the scenario reads these tables, the engine never does.
The facts, from the Arm ARM (DDI 0487) and Linux's KVM NV implementation:

- An L1 guest hypervisor runs at *virtual* EL2: the hardware runs it at EL1 with
  ``HCR_EL2.NV=1`` (D24.2.62 HCR_EL2.NV, FEAT_NV).  Its own data accesses are
  translated by its own stage 1 (the EL2&0 regime it believes in, held in the
  hardware's EL1 registers under ``HCR_EL2.E2H``) and then by L0's stage 2 for the
  L1 VM: there is exactly one hardware stage 2, L0's (D8.1).
- With FEAT_NV2 (``HCR_EL2.NV2=1``), L1's accesses at vEL2 to most EL1 and some EL2
  system registers are transformed into loads and stores to the VNCR page at
  ``VNCR_EL2.BADDR`` (D8 "Enhanced support for nested virtualization", D13
  VNCR_EL2): *deferred* accesses that are ordinary memory accesses, ordered like
  any other load or store and consumed by L0 only when L1 traps (ERET, a nested
  exit, an MMIO abort).
- L1's TLBI instructions at vEL2 trap to L0 (HCR_EL2.NV), which emulates them:
  invalidating its shadow stage 2 for L2 and issuing the real TLBI, bracketed by
  ``DSB ISH`` (KVM's kvm_tlbi_s1e2 / handle_tlbi_el2 paths).
- L2's accesses go through L2's stage 1 and L0's *shadow* stage 2 (L1's stage 2
  composed with L0's); the hardware never walks L1's stage 2.
- An exit (exception entry to EL2) and ERET are context synchronisation events
  (B2.6 / D1.12); neither is a DSB, so neither completes a store still in the
  PE's buffer (B2.3: only DSB waits for completion).

Seed 000's traffic is L1 <-> L0 (the L1 kernel's vsock driver, the L0 VMM): no L2 is
running, so only L0's canonical stage 2 for L1 applies, with L0's HCR_EL2.FWB.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    L0 = "L0"  # host: KVM at EL2 (VHE) and the VMM at EL0
    L1 = "L1"  # guest hypervisor at virtual EL2 (hardware EL1, HCR_EL2.NV=1)
    L2 = "L2"  # nested guest at EL1, run by L0 on L1's behalf


@dataclass(frozen=True)
class Observer:
    """One observer of memory: which level it belongs to, on which PE it runs, and
    which translation applies to its data accesses."""

    name: str
    level: Level
    pe: int
    stage1: str  # whose stage 1 translates its accesses
    stage2: str  # which stage 2 ("" for none)


@dataclass(frozen=True)
class Exit:
    """A way out of a guest to L0: whether it synchronises context, whether it drains
    the PE's buffer (it never does: only a DSB in the handler would)."""

    name: str
    cause: str
    context_sync: bool = True  # exception entry and ERET are CSEs (B2.6)
    completes_stores: bool = False  # exception entry is not a DSB (B2.3)


@dataclass(frozen=True)
class NestedLayout:
    observers: tuple[Observer, ...]
    exits: tuple[Exit, ...]
    fwb: bool  # L0's HCR_EL2.FWB for the L1 VM
    vncr_registers: tuple[str, ...]  # L1 sysreg accesses deferred to the VNCR page
    trapped: tuple[str, ...]  # L1 instructions that exit to L0 for emulation

    def pe_of(self, name: str) -> int:
        for obs in self.observers:
            if obs.name == name:
                return obs.pe
        raise KeyError(name)

    def observer(self, name: str) -> Observer:
        return next(o for o in self.observers if o.name == name)


L0_KVM_EXIT = Exit("mmio-abort", "L1 writes virtio-mmio QueueNotify: stage-2 abort, io_mem_abort")

NESTED_FCVM = NestedLayout(
    observers=(
        Observer("l1-vsock", Level.L1, 0, stage1="L1 EL2&0 regime (hardware EL1&0)", stage2="L0 for L1"),
        Observer("fc-vmm", Level.L0, 1, stage1="L0 host (EL2&0)", stage2=""),
        Observer("l0-kvm", Level.L0, 0, stage1="L0 host (EL2)", stage2=""),
    ),
    exits=(
        L0_KVM_EXIT,
        Exit("tlbi", "L1 executes TLBI at vEL2 (HCR_EL2.NV): L0 emulates it"),
        Exit("eret", "L1 executes ERET at vEL2 (HCR_EL2.NV): L0 switches to L2"),
    ),
    fwb=True,
    vncr_registers=("HCR_EL2", "VTTBR_EL2", "SCTLR_EL1", "TCR_EL1", "TTBR0_EL1", "CNTV_CTL_EL0"),
    trapped=("TLBI", "ERET"),
)


# ---- the NV2 layer's traffic, as program text for the L1 driver ------------------------

VNCR_PAGE = "VNCR"
VNCR_LINE = "VNCR:vncr_hcr,vncr_vttbr"  # two deferred registers in the VNCR page
TRAP_PAGE = "NV2TRAP"
TRAP_LINE = "TLBI_EXIT"  # stands for an instruction that exits to L0 under HCR_EL2.NV


def vel2_activity(m: int, after_publish: bool = False) -> list[str]:
    """What an L1 hypervisor does at vEL2 between two ring updates (e.g. its timer or
    scheduler touching the state of an L2 it is preparing): under FEAT_NV2 an MSR to
    HCR_EL2/VTTBR_EL2 is a store to the VNCR page (D8, VNCR_EL2), and a TLBI traps to
    L0 (HCR_EL2.NV), which emulates it.  The trapped TLBI is written as a store to an
    exit page because the engine's TLBI needs the translation model; the exit and L0's
    emulation (``l0_tlbi_emulation``) are what matter to the ring."""
    if after_publish:
        return [f"STR vncr_vttbr, {m + 1}  // MSR VTTBR_EL2 at vEL2: a store to the VNCR page (NV2)"]
    return [
        f"STR vncr_hcr, {m + 1}  // MSR HCR_EL2 at vEL2: a store to the VNCR page (NV2)",
        f"STR {TRAP_LINE}, {m + 1}  // TLBI VMALLS12E1IS at vEL2: traps to L0 (HCR_EL2.NV)",
    ]


L0_TLBI_EMULATION = ("DSB ISH  // kvm: __kvm_tlb_flush_vmid on the shadow stage 2", "DSB ISH")
