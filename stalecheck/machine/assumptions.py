"""The knobs a verdict rests on, printed with every verdict.

"Unreachable" is only as strong as these: a reader must see them next to it.
"""

from __future__ import annotations

from stalecheck.machine.spec import SystemSpec


def assumptions(spec: SystemSpec) -> list[str]:
    c = spec.caches
    o = spec.options
    levels = (
        "L1" + (" + shared L2" if c.l2 else "") + (" + system cache before the PoC" if c.system_cache else "")
    )
    out = [
        f"caches: {levels}; CLIDR LoUU={c.louu or 1} LoC={c.loc or (2 if c.l2 else 1)}",
        "loads performed in order (load reordering is the axiomatic engine's job)",
        "Non-cacheable/Device reads may hit a cached copy (B2.11 mismatched attributes)"
        if o.nc_reads_may_hit
        else "strict bypass: Non-cacheable/Device reads never hit a cache (not architectural)",
        f"at most {o.max_migrations} vCPU migration(s)",
        "EL2 linear map of all RAM: any line may be filled speculatively at any time"
        if o.host_linear_map
        else "no hypervisor linear map: fills only where the running code maps the line cacheable",
        *(
            ["reduction: no spontaneous fill/drop/write-back explored on lines every observer "
             "accesses cacheably (they cannot change a coherent read; re-checked during the search)"]
            if o.quiet_coherent_lines
            else []
        ),
        "inner-only cacheable (inner WB, outer NC) treated as Non-cacheable",
        "set/way operations of one PE take effect in program order without a barrier "
        "(the ARMv7 rule; stronger than the Arm ARM, D7.5.9.15: any order unless a DMB or DSB)"
        if o.setway_program_order
        else "set/way operations are ordered only by a full DMB or a DSB (D7.5.9.15)",
        "system-register writes take effect at the latest at the next ISB/exception",
        "visited states stored as 64-bit fingerprints (collision chance < 1e-6 at 10^6 states)",
    ]
    if o.prune_dead_lines and spec.xlate is None:
        out.append("reduction: no write-back/drop/fill of lines no program, policy or buffer touches again")
    if spec.xlate is not None:
        from stalecheck.machine.mmu import xlate_assumptions

        out.extend(xlate_assumptions(spec.xlate))
    for vm in spec.vms:
        bits = [name for name in vm.hcr.BITS if getattr(vm.hcr, name)]
        out.append(f"VM {vm.name}: HCR_EL2 {'+'.join(bits) or 'none of TSW/TVM/TPC/TPU/DC/CD/FWB'}")
        if vm.hcr.FWB:
            out.append(f"VM {vm.name}: FEAT_S2FWB, stage 2 {vm.s2_force.name}")
    return out
