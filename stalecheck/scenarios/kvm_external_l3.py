"""Seed 002: KVM arm64 (2013) on a host with an external L3 (system cache).

The VMM loads the guest image through the host's cacheable mapping; the guest
starts with its MMU off, so its data accesses are Device-nGnRnE (D8.2.12.1) and go
to the PoC.  KVM cleaned the page only to the PoU (``flush_icache_range``), so
the dirty line could sit in the L3 beyond the PoU and the guest read stale
memory.  The thread tried: clean to the PoC at stage-2 fault, flush all RAM at
first run (by VA, or by set/way, which never reaches a system cache), cleaning
in the VMM, HCR_EL2.DC (objected to because a pass-through DMA device would
then read stale data), and later FWB.

Scaling: one line per page (the stale line is the whole question, more lines
per page only repeat it); two guest pages, of which the guest touches one, so
that whole-RAM and per-page strategies differ in cost.
"""

from __future__ import annotations

from typing import Any

from stalecheck.machine.isa import emulate_sctlr
from stalecheck.machine.memtypes import S2Force
from stalecheck.machine.spec import HCR, TrapContext
from stalecheck.scenarios.builder import Builder, Scenario
from stalecheck.scenarios.support.policies import (
    emulate_only,
    map_on_fault,
    on_sctlr_toggle_flush,
    set_hcr,
)

SCENARIO = Scenario(
    "kvm-external-l3",
    "KVM arm64 guest with MMU off reads stale data from a page the VMM wrote (external L3)",
    seed="002",
)

MMU_OFF = (0, 0, 0)
LOAD = "STR X, 1\nSTR Y, 1\nDSB SY\nSIGNAL loaded"  # the VMM writes the image, then KVM_RUN


def _base(b: Builder, louu: int = 1) -> None:
    # L1 per PE, then the external L3 as a system cache beyond the PoU and before the
    # PoC (CLIDR LoUU=LoC=1: the L3 is not an architected level, seed 002).  FEAT_S2FWB
    # hardware has LoUU=LoUIS=0 (Arm ARM D8.6, IRRDBK).
    b.system(pes=1, system_cache=True, louu=louu, loc=1)
    b.page("P0", "X", vm="vm")
    b.page("P1", "Y", vm="vm")


def _guest_reads_x(b: Builder, wait: str = "loaded") -> None:
    b.guest("vcpu", f"WAIT {wait}\nLDR r1, X", vm="vm", sctlr=MMU_OFF)
    b.bad_when(
        lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 1,
        "the vCPU (MMU off) reads X != 1, the value the VMM wrote",
    )


def _vmm_loads_guest_reads(b: Builder, **vm: Any) -> None:
    """The common shape: the VMM loads the image, KVM_RUN, the guest reads X."""
    _base(b, louu=0 if "hcr" in vm and vm["hcr"].FWB else 1)
    b.vm("vm", **vm)
    b.host("vmm", LOAD)
    _guest_reads_x(b)


@SCENARIO.variant("clean-to-pou", expect="reachable")
def _clean_to_pou(b: Builder) -> None:
    """Stage-2 fault cleans the page to the PoU only (coherent_icache_guest_page)."""
    _vmm_loads_guest_reads(b, on_stage2_fault=map_on_fault(clean="pou"))


@SCENARIO.variant("clean-to-poc", expect="unreachable")
def _clean_to_poc(b: Builder) -> None:
    """Stage-2 fault cleans+invalidates the page to the PoC before mapping it."""
    _vmm_loads_guest_reads(b, on_stage2_fault=map_on_fault(clean="poc", invalidate=True))


def _kvm_flushes_before_first_run(b: Builder, flush: str) -> None:
    """The VMM loads the image; KVM runs ``flush`` then a DSB before the first vCPU run."""
    _base(b)
    b.vm("vm", on_stage2_fault=map_on_fault())
    b.host("vmm", LOAD)
    b.host("kvm", f"WAIT loaded\n{flush}\nDSB SY\nSIGNAL first_run")
    _guest_reads_x(b, wait="first_run")


@SCENARIO.variant("flush-all-by-va-at-first-run", expect="unreachable")
def _flush_all_va(b: Builder) -> None:
    """Before the first vCPU run, KVM cleans all guest RAM by VA to the PoC."""
    _kvm_flushes_before_first_run(b, "DC CIVAC X\nDC CIVAC Y")


@SCENARIO.variant("flush-all-set-way-at-first-run", expect="reachable")
def _flush_all_sw(b: Builder) -> None:
    """Before the first run, KVM cleans the local caches by set/way (flush_cache_all)."""
    _kvm_flushes_before_first_run(b, "SETWAY CISW L1")


@SCENARIO.variant("vmm-cleans", expect="unreachable")
def _vmm_cleans(b: Builder) -> None:
    """The VMM cleans what it wrote to the PoC before KVM_RUN (Marc's first idea)."""
    _base(b)
    b.vm("vm", on_stage2_fault=map_on_fault())
    b.host("vmm", "STR X, 1\nSTR Y, 1\nDC CVAC X\nDC CVAC Y\nDSB SY\nSIGNAL loaded")
    _guest_reads_x(b)


@SCENARIO.variant("fwb", expect="unreachable")
def _fwb(b: Builder) -> None:
    """FEAT_S2FWB: stage 2 forces Normal WB, so MMU-off accesses are cacheable; no CMOs."""
    _vmm_loads_guest_reads(
        b, hcr=HCR(FWB=True), s2_force=S2Force.FORCE_WB, on_stage2_fault=map_on_fault()
    )


def _hcr_dc_sctlr(trap: TrapContext) -> list:  # type: ignore[type-arg]
    """Marc's patch: emulate the SCTLR_EL1 write; once the guest MMU is on, drop
    HCR_EL2.DC and stop trapping VM registers."""
    code = [emulate_sctlr(trap.field, trap.value)]
    m = trap.value if trap.field == "M" else trap.sctlr[0]
    if m:
        code += [set_hcr("DC", 0), set_hcr("TVM", 0)]
    return code


@SCENARIO.variant("hcr-dc", expect="unreachable")
def _hcr_dc(b: Builder) -> None:
    """HCR_EL2.DC=1 while the guest MMU is off (accesses become Normal WB), with TVM
    trapping SCTLR_EL1 to notice the MMU going on: the cost is VM-register traps."""
    _base(b)
    b.vm("vm", hcr=HCR(DC=True, TVM=True), on_stage2_fault=map_on_fault(), on_sctlr=_hcr_dc_sctlr)
    b.host("vmm", LOAD)
    b.guest(
        "vcpu", "WAIT loaded\nLDR r1, X\nMSR SCTLR_EL1.M, 1\nMSR SCTLR_EL1.C, 1\nISB", vm="vm", sctlr=MMU_OFF
    )
    b.bad_when(
        lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 1,
        "the vCPU (MMU off) reads X != 1, the value the VMM wrote",
    )


@SCENARIO.variant("hcr-dc-dma", expect="reachable")
def _hcr_dc_dma(b: Builder) -> None:
    """Anup's objection: guest firmware (MMU off, so no cache maintenance) writes a
    buffer for a pass-through non-coherent DMA device; with HCR_EL2.DC=1 the write
    is cached and the device, reading at the PoC, sees stale data."""
    _base(b)
    b.vm("vm", hcr=HCR(DC=True, TVM=True), mapped=("P0", "P1"), on_sctlr=emulate_only)
    b.guest("fw", "STR Y, 7\nDSB SY\nSIGNAL kick", vm="vm", sctlr=MMU_OFF)
    b.device("ahci", "WAIT kick\nLDR r1, Y", coherent=False)
    b.bad_when(
        lambda v: v.done("ahci") and v.reg("ahci", "r1") != 7,
        "the non-coherent DMA device reads Y != 7, the value the firmware wrote",
    )


@SCENARIO.variant("vmm-writes-after-fault", expect="reachable")
def _vmm_after_fault(b: Builder) -> None:
    """Clean-to-PoC at fault, but the VMM writes the page again after it was mapped
    (Christoffer's caveat): nothing cleans the second write."""
    _base(b)
    b.vm("vm", on_stage2_fault=map_on_fault(clean="poc", invalidate=True))
    b.host("vmm", LOAD + "\nWAIT faulted\nSTR X, 2\nDSB SY\nSIGNAL updated")
    b.guest("vcpu", "WAIT loaded\nLDR r1, X\nSIGNAL faulted\nWAIT updated\nLDR r2, X", vm="vm", sctlr=MMU_OFF)
    b.bad_when(
        lambda v: v.done("vcpu") and v.reg("vcpu", "r2") != 2,
        "the vCPU (MMU off) reads X != 2 after the VMM rewrote it",
    )


_CACHES_ON = "STR X, 2\nMSR SCTLR_EL1.M, 1\nMSR SCTLR_EL1.C, 1\nISB\nLDR r1, X"


def _reverse(b: Builder, trap: bool, leading_dsb: bool = True) -> None:
    _base(b)
    hcr = HCR(TVM=True) if trap else HCR()
    policy = on_sctlr_toggle_flush(leading_dsb=leading_dsb) if trap else None
    b.vm("vm", hcr=hcr, mapped=("P0", "P1"), on_sctlr=policy)
    b.guest("vcpu", _CACHES_ON, vm="vm", sctlr=MMU_OFF)
    b.bad_when(
        lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != 2,
        "after turning caches on, the vCPU reads X != 2, the value it wrote with caches off",
    )


@SCENARIO.variant("guest-writes-caches-off", expect="reachable")
def _guest_writes_off(b: Builder) -> None:
    """Reverse direction: the guest writes with caches off; a clean line filled through
    the host's linear map keeps the old value; caches on, the guest hits it."""
    _reverse(b, trap=False)


@SCENARIO.variant("guest-writes-caches-off-tvm-flush", expect="unreachable")
def _guest_writes_off_fixed(b: Builder) -> None:
    """Same, with TVM trapping the cache toggle and KVM flushing the VM by VA then."""
    _reverse(b, trap=True)


@SCENARIO.variant("guest-writes-caches-off-tvm-flush-no-dsb", expect="reachable")
def _guest_writes_off_no_dsb(b: Builder) -> None:
    """The toggle flush without its leading DSB: a DC by VA is not ordered with the
    guest's earlier Non-cacheable store to the same line (D7.5.9), so the store can
    reach memory after the clean, under a line refilled in between."""
    _reverse(b, trap=True, leading_dsb=False)


def _sized(b: Builder, pages: int, image: int, touched: int, strategy: str) -> None:
    """A guest of ``pages`` RAM pages; the VMM loads ``image`` of them and the guest
    reads ``touched`` (the image first).  One line per page, as above."""
    b.system(pes=1, system_cache=True, louu=1, loc=1)
    names = [f"L{i}" for i in range(pages)]
    for i, name in enumerate(names):
        b.page(f"P{i}", name, vm="vm")
    writes = "\n".join(f"STR {n}, 1" for n in names[:image])
    cleans = "\n".join(f"DC CVAC {n}" for n in names[:image]) if strategy == "vmm" else ""
    b.host("vmm", f"{writes}\n{cleans}\nDSB SY\nSIGNAL loaded")
    fault = map_on_fault(clean="poc", invalidate=True) if strategy == "per-page" else map_on_fault()
    b.vm("vm", on_stage2_fault=fault)
    start = "loaded"
    if strategy == "whole-ram":
        flush = "\n".join(f"DC CIVAC {n}" for n in names)
        b.host("kvm", f"WAIT loaded\n{flush}\nDSB SY\nSIGNAL first_run")
        start = "first_run"
    reads = "\n".join(f"LDR r{i}, {n}" for i, n in enumerate(names[:touched]))
    b.guest("vcpu", f"WAIT {start}\n{reads}", vm="vm", sctlr=MMU_OFF)
    b.bad_when(lambda v: False, "(cost measurement only)")


@SCENARIO.table("kvm-external-l3: cost of cleaning strategies (guest of N pages, image I pages, touches K)")
def cost_rows(
    sizes: tuple[tuple[int, int, int], ...] = ((8, 2, 4), (16, 4, 8), (64, 8, 16), (256, 16, 32)),
) -> list[dict[str, int]]:
    """Cost of the three strategies the maintainers asked to benchmark, for a guest
    of N pages whose image is I pages and which touches K pages: lines cleaned and
    DSBs from one canonical run of each (no exploration needed: the cost of issued
    maintenance does not depend on the interleaving)."""
    from stalecheck.machine.cost import measure_cost
    from stalecheck.machine.system import Machine

    rows = []
    for n, image, touched in sizes:
        row: dict[str, int] = {"N": n, "I": image, "K": touched}
        for strategy in ("per-page", "whole-ram", "vmm"):
            b = Builder()
            _sized(b, n, image, touched, strategy)
            cost = measure_cost(Machine(b.build()))
            row[f"{strategy} lines"] = cost["lines_maintained"]
            row[f"{strategy} dsbs"] = cost["dsbs"]
        rows.append(row)
    return rows
