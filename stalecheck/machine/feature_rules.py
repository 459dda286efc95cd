"""Feature and ID-register combinations the architecture forbids.

A scenario describes one implementation; where the Arm ARM ties two of its ID fields
together, a configuration that breaks the tie describes no real machine, and a verdict
on it proves nothing.  These checks run once, when the machine is built.
"""

from __future__ import annotations

from stalecheck.errors import ScenarioError
from stalecheck.machine.hierarchy import Hierarchy
from stalecheck.machine.spec import SystemSpec


def check_features(spec: SystemSpec, h: Hierarchy) -> None:
    """Refuse what no implementation can be (each rule quoted in its error)."""
    fwb_vms = [vm.name for vm in spec.vms if vm.hcr.FWB]
    if fwb_vms and (h.louu, h.louis) != (0, 0):
        # D8.6 (IRRDBK); D24.2.33 CLIDR_EL1.LoUU/LoUIS
        raise ScenarioError(
            f"VM {fwb_vms[0]!r} uses HCR_EL2.FWB, but CLIDR_EL1.LoUU={h.louu} LoUIS={h.louis}: "
            "with FEAT_S2FWB the architecture requires CLIDR_EL1.{LoUU, LoUIS} = {0, 0} "
            "(Arm ARM D8.6, IRRDBK); declare system(louu=0, louis=0)"
        )
    xlate = spec.xlate
    if xlate is not None and xlate.dic and not xlate.idc:
        # D24.2.42 CTR_EL0.IDC
        raise ScenarioError(
            "fetch(dic=True, idc=False): 'If CTR_EL0.DIC is 1 then the value reported in "
            "[CTR_EL0.IDC] must also be 1' (Arm ARM D24.2.42 CTR_EL0); pass idc=True"
        )
