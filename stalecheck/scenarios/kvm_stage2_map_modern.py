"""Today's KVM stage-2 fault policy against every configuration of seed 004.

``stage2_map`` today: clean+invalidate the page to the PoC before a cacheable
map unless FEAT_S2FWB; invalidate the I-cache before an *executable* map unless
CTR_EL0.DIC (per page on PIPT, the whole cache on anything aliasing); a data
fault maps the page execute-never so that the first fetch faults again and
the invalidation happens then.  Each variant is one configuration from
``kvm-guest-faults-icache``; all must be unreachable, and the report shows what
the policy costs in each (CMOs, DSBs, traps).  Like those, every variant runs with
out-of-order execution, which changes no verdict (``kvm-guest-faults-icache`` says why).
"""

from __future__ import annotations

from stalecheck.machine.ifetch import PIPT, VIPT, VIVT
from stalecheck.scenarios.builder import Builder, Scenario
from stalecheck.scenarios.kvm_guest_faults_icache import GUEST_VMID, READ_THEN_EXEC, SWAP_GUEST, base
from stalecheck.scenarios.support.policies import modern_kvm

SCENARIO = Scenario(
    "kvm-stage2-map-modern",
    "Today's KVM stage-2 map policy (clean to PoC unless FWB, I-cache unless DIC) in every configuration",
    seed="004",
)


@SCENARIO.variant("pipt", expect="unreachable")
def _pipt(b: Builder) -> None:
    """PIPT I-cache, the previous owner's code cached."""
    base(b, PIPT, modern_kvm())


@SCENARIO.variant("vipt", expect="unreachable")
def _vipt(b: Builder) -> None:
    """Aliasing VIPT: the host's VA is not the guest's."""
    base(b, VIPT, modern_kvm())


@SCENARIO.variant("vivt-vmid-same-vm", expect="unreachable")
def _vivt(b: Builder) -> None:
    """VMID-tagged VIVT with a stale entry of this VM's own."""
    base(b, VIVT, modern_kvm(), owner_vmid=GUEST_VMID)


@SCENARIO.variant("pipt-idc", expect="unreachable")
def _pipt_idc(b: Builder) -> None:
    """CTR_EL0.IDC=1 (the policy still cleans to the PoC: the guest may run caches-off)."""
    base(b, PIPT, modern_kvm(), idc=True)


@SCENARIO.variant("pipt-dic", expect="unreachable")
def _pipt_dic(b: Builder) -> None:
    """CTR_EL0.DIC=1 (with IDC=1, which DIC=1 requires: D24.2.42): no I-cache invalidation."""
    base(b, PIPT, modern_kvm(), idc=True, dic=True)


@SCENARIO.variant("read-then-exec", expect="unreachable")
def _read_then_exec(b: Builder) -> None:
    """The guest reads the page before executing it (data fault first)."""
    base(b, PIPT, modern_kvm(), guest=READ_THEN_EXEC)


@SCENARIO.variant("swap-in", expect="unreachable")
def _swap_in(b: Builder) -> None:
    """The host rewrote the page (swap-in); the guest, MMU off, reads and runs it."""
    base(b, VIPT, modern_kvm(), guest=SWAP_GUEST)


@SCENARIO.variant("fwb", expect="unreachable")
def _fwb(b: Builder) -> None:
    """FEAT_S2FWB (CLIDR LoUU=0): no D-cache clean is issued; the I-cache is still invalidated."""
    base(b, PIPT, modern_kvm(), guest=SWAP_GUEST, fwb=True)


@SCENARIO.variant("fwb-dic", expect="unreachable")
def _fwb_dic(b: Builder) -> None:
    """FWB and DIC: no maintenance at all, only the map."""
    base(b, PIPT, modern_kvm(), guest=SWAP_GUEST, fwb=True, idc=True, dic=True)
