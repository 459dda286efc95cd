"""Bundled scenarios: one module per real case, each defining ``SCENARIO``."""

BUNDLED: dict[str, str] = {
    "fcvm-vsock-nv2": "stalecheck.scenarios.fcvm_vsock_nv2",
    "kvm-external-l3": "stalecheck.scenarios.kvm_external_l3",
    "xen-set-way": "stalecheck.scenarios.xen_set_way",
    "osv-pte-barriers": "stalecheck.scenarios.osv_pte_barriers",
    "kvm-guest-faults-icache": "stalecheck.scenarios.kvm_guest_faults_icache",
    "kvm-stage2-map-modern": "stalecheck.scenarios.kvm_stage2_map_modern",
}
