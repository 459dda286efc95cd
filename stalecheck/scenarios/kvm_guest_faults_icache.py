"""Seed 004: KVM ARM (2012) maps guest pages on stage-2 faults; stale instructions.

The VMM writes the guest's code into a page through the host's cacheable
mapping; the guest executes it, takes a stage-2 fault, and KVM maps the page.
The physical page's previous owner ran other code from it, which may still sit
in the I-cache.  What KVM must do depends on the I-cache type (seed 004):
per-page invalidation on PIPT (the VA is irrelevant, only the physical page's
old code matters); the whole I-cache on an aliasing VIPT cache, because KVM
invalidates by the *host's* VA and the guest's VA is another alias; nothing on a
VMID-tagged VIVT cache, as long as the stale entry belongs to another VMID.
Fetches that miss read the data side only at the PoU, so the dirty line in
L1D must be cleaned to the PoU unless CTR_EL0.IDC=1; DIC=1 removes the need to
invalidate.  A guest running with its MMU off reads data as Device at the PoC,
so a page (re)written by the host — e.g. on swap-in — must reach the PoC.

Scaling: one PE, one guest page of one line; an L2 between the PoU and the PoC
(CLIDR LoUU=1, LoC=2) so that clean-to-PoU and clean-to-PoC differ.  The
previous owner's code is an I-cache entry present at start (version 9); the
VMM writes version 1.  The model starts after swap-out: "swap-in" is the host
writing the page's contents back, then the guest faulting on it again.

Out-of-order execution (``weak_ordering``, docs/ordering.md) changes no verdict and no
state count: the guest's ``WAIT`` is an acquire (nothing after it executes first), its
access to the page not mapped at start may trap (exceptions are precise, so nothing
passes it), ``EXEC`` keeps program order (its fetch is made ahead anyway, mmu.py), and
the VMM's ``STR; DSB SY; SIGNAL`` is ordered by the DSB (B2.6.9).  The policy runs at
EL2 in program order.
"""

from __future__ import annotations

from stalecheck.machine.ifetch import PIPT, VIPT, VIVT
from stalecheck.machine.spec import HCR, Policy
from stalecheck.scenarios.builder import Builder, Scenario
from stalecheck.scenarios.support.policies import kvm_stage2_map

SCENARIO = Scenario(
    "kvm-guest-faults-icache",
    "KVM maps a guest code page on a stage-2 fault: stale instructions by I-cache type",
    seed="004",
)

OLD, NEW = 9, 1  # the previous owner's code version, the guest's code version
GUEST_VMID = 1  # the VM's VMID (the first VM); another VM has VMID 2
LOAD = "STR C, 1\nDSB SY\nSIGNAL loaded"  # the VMM writes the guest's code, then KVM_RUN
MMU_OFF_ICACHE_ON = (0, 0, 1)  # SCTLR_EL1 M=0 C=0 I=1: fetches Normal WT, data Device


def base(
    b: Builder,
    icache: str,
    policy: Policy,
    idc: bool = False,
    dic: bool = False,
    owner_vmid: int = 2,
    guest: str = "WAIT loaded\nEXEC r1, C",
    fwb: bool = False,
) -> None:
    # FEAT_S2FWB requires CLIDR_EL1.LoUU=LoUIS=0 (CLIDR_EL1.LoUU): no clean for fetches.
    b.system(pes=1, l2=True, louu=0 if fwb else 1, loc=2)
    b.page("G", "C", vm="vm")
    b.init(C=OLD)
    b.vm("vm", hcr=HCR(FWB=fwb), on_stage2_fault=policy)
    b.fetch(icache=icache, idc=idc, dic=dic, host_colour=1, guest_colour=0)
    # The previous owner ran its code at the guest's VA alias (colour 0).
    b.icache_holds(0, "C", OLD, colour=0, vmid=owner_vmid)
    b.host("vmm", LOAD)
    b.guest("vcpu", guest, vm="vm", sctlr=MMU_OFF_ICACHE_ON)
    b.options(weak_ordering=True)
    if "LDR r0" in guest:
        b.bad_when(
            lambda v: v.done("vcpu") and (v.reg("vcpu", "r0") != NEW or v.reg("vcpu", "r1") != NEW),
            "the vCPU reads or executes stale contents of the page the host wrote",
        )
    else:
        b.bad_when(
            lambda v: v.done("vcpu") and v.reg("vcpu", "r1") != NEW,
            "the vCPU executes stale code (not the version the VMM wrote)",
        )


def _policy(
    clean: str = "pou", icache: str = "none", exec_only: bool = False, map_xn: bool = False
) -> Policy:
    return kvm_stage2_map(clean=clean, icache=icache, exec_only=exec_only, map_xn=map_xn)


# ---- PIPT ----------------------------------------------------------------------------------


@SCENARIO.variant("pipt-no-inval", expect="reachable")
def _pipt_no_inval(b: Builder) -> None:
    """PIPT: clean to the PoU, no I-cache invalidation: the previous owner's code hits."""
    base(b, PIPT, _policy())


@SCENARIO.variant("pipt-inval-page", expect="unreachable")
def _pipt_inval_page(b: Builder) -> None:
    """PIPT: clean to the PoU, IC IVAU over the page (by the host's VA): enough."""
    base(b, PIPT, _policy(icache="page"))


@SCENARIO.variant("pipt-inval-no-clean", expect="reachable")
def _pipt_inval_no_clean(b: Builder) -> None:
    """PIPT: invalidate the I-cache but do not clean: the refill reads the PoU, and the
    new code is still dirty in L1D."""
    base(b, PIPT, _policy(clean="", icache="page"))


@SCENARIO.variant("pipt-inval-no-clean-idc", expect="unreachable")
def _pipt_inval_no_clean_idc(b: Builder) -> None:
    """Same, with CTR_EL0.IDC=1: no clean is needed for instruction fetch."""
    base(b, PIPT, _policy(clean="", icache="page"), idc=True)


@SCENARIO.variant("pipt-no-inval-dic", expect="unreachable")
def _pipt_no_inval_dic(b: Builder) -> None:
    """Clean to the PoU, no invalidation, with CTR_EL0.DIC=1: the I-cache is coherent.
    DIC=1 requires IDC=1 (Arm ARM D24.2.42 CTR_EL0), so the clean is not needed either."""
    base(b, PIPT, _policy(), idc=True, dic=True)


@SCENARIO.variant("pipt-idc-dic-no-cmo", expect="unreachable")
def _pipt_idc_dic(b: Builder) -> None:
    """IDC=1 and DIC=1: no maintenance at all."""
    base(b, PIPT, _policy(clean=""), idc=True, dic=True)


# ---- VIPT (aliasing) ------------------------------------------------------------------------


@SCENARIO.variant("vipt-no-inval", expect="reachable")
def _vipt_no_inval(b: Builder) -> None:
    """Aliasing VIPT: no invalidation."""
    base(b, VIPT, _policy())


@SCENARIO.variant("vipt-inval-page", expect="reachable")
def _vipt_inval_page(b: Builder) -> None:
    """Aliasing VIPT, per-page IC IVAU by the host's VA (the wrong kind for the type):
    it removes the host alias only; the guest's alias keeps the old code."""
    base(b, VIPT, _policy(icache="page"))


@SCENARIO.variant("vipt-inval-all", expect="unreachable")
def _vipt_inval_all(b: Builder) -> None:
    """Aliasing VIPT, IC IALLUIS: every alias goes."""
    base(b, VIPT, _policy(icache="all"))


@SCENARIO.variant("by-type-vipt", expect="unreachable")
def _by_type_vipt(b: Builder) -> None:
    """2012's coherent_icache_guest_page() on VIPT: the whole I-cache."""
    base(b, VIPT, _policy(icache="by-type"))


# ---- VIVT tagged with VMIDs (ARMv7 legacy) ----------------------------------------------------


@SCENARIO.variant("vivt-vmid-no-inval", expect="unreachable")
def _vivt_other_vm(b: Builder) -> None:
    """VMID-tagged VIVT, the stale entry belongs to another VM: no invalidation needed
    ("out of the woods", seed 004)."""
    base(b, VIVT, _policy(icache="by-type"))


@SCENARIO.variant("vivt-vmid-same-vm-no-inval", expect="reachable")
def _vivt_same_vm(b: Builder) -> None:
    """VMID-tagged VIVT, but the stale entry is this VM's own (it ran the page's old
    contents at the same VA before the page was swapped out and reused)."""
    base(b, VIVT, _policy(icache="by-type"), owner_vmid=GUEST_VMID)


@SCENARIO.variant("vivt-vmid-same-vm-inval-all", expect="unreachable")
def _vivt_same_vm_all(b: Builder) -> None:
    """Same, with IC IALLUIS on the map."""
    base(b, VIVT, _policy(icache="all"), owner_vmid=GUEST_VMID)


# ---- invalidate only on execute faults ------------------------------------------------------

READ_THEN_EXEC = "WAIT loaded\nLDR r0, C\nEXEC r1, C"


@SCENARIO.variant("exec-fault-only", expect="reachable")
def _exec_only(b: Builder) -> None:
    """Invalidate the I-cache only on execute faults, but map executable on a data
    fault: the guest reads the page first, then executes it without a new fault
    (the case Christoffer warns about: "the guest may happily read/write a page
    before hitting the icache")."""
    base(b, PIPT, _policy(clean="poc", icache="page", exec_only=True), guest=READ_THEN_EXEC)


@SCENARIO.variant("exec-fault-only-xn", expect="unreachable")
def _exec_only_xn(b: Builder) -> None:
    """Later KVM: a data fault maps the page execute-never, so the first fetch takes a
    stage-2 permission fault and the invalidation happens then."""
    policy = _policy(clean="poc", icache="page", exec_only=True, map_xn=True)
    base(b, PIPT, policy, guest=READ_THEN_EXEC)


# ---- host swapping ---------------------------------------------------------------------------

SWAP_GUEST = "WAIT loaded\nLDR r0, C\nEXEC r1, C"  # the guest (MMU off) reads and runs the page


@SCENARIO.variant("swap-in-no-clean", expect="reachable")
def _swap_no_clean(b: Builder) -> None:
    """After swap-in the host has written the page; KVM (2012) cleans to the PoU and
    invalidates by type, but the guest, MMU off, reads data at the PoC."""
    base(b, PIPT, _policy(clean="pou", icache="by-type"), guest=SWAP_GUEST)


@SCENARIO.variant("swap-in-clean-poc", expect="unreachable")
def _swap_clean_poc(b: Builder) -> None:
    """The fix: clean+invalidate the page to the PoC before mapping it (and invalidate
    the I-cache by type)."""
    base(b, PIPT, _policy(clean="poc", icache="by-type"), guest=SWAP_GUEST)


@SCENARIO.variant("swap-in-mark-dirty", expect="reachable")
def _swap_mark_dirty(b: Builder) -> None:
    """The 2012 workaround, kvm_set_pfn_dirty() on every map: it issues no cache
    maintenance, so the policy's CMOs are those of swap-in-no-clean and the stale
    read stays reachable: marking pages dirty cannot close a stale-cache hole, it
    only changes when the host writes pages back (timing), which hid the bug on
    the boards; what it can close is a lost guest write to a page mapped writable
    but left clean in the host (a bookkeeping bug this model does not represent)."""
    base(b, PIPT, _policy(clean="pou", icache="by-type"), guest=SWAP_GUEST)
