"""Bundled scenarios: one module per real case, each defining ``SCENARIO``."""

BUNDLED: dict[str, str] = {
    "fcvm-vsock-nv2": "stalecheck.scenarios.fcvm_vsock_nv2",
    "kvm-external-l3": "stalecheck.scenarios.kvm_external_l3",
    "xen-set-way": "stalecheck.scenarios.xen_set_way",
}
