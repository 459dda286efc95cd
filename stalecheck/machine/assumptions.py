"""The knobs a verdict rests on, printed with every verdict.

"Unreachable" is only as strong as these: a reader must see them next to it.
Each line is read from the ``Machine`` that was explored (its resolved cache
hierarchy, the HCR_EL2 bits of its initial state, the reductions it actually
applies), never from the builder's defaults, so that the printed configuration
cannot drift from the explored one.  How the search stored visited states is the
search's to say (``Verdict.visited_assumption``); the runner appends it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stalecheck.machine import shareability
from stalecheck.machine.hierarchy import Hierarchy
from stalecheck.machine.mmu import translated_type_gap, xlate_assumptions
from stalecheck.machine.spec import HCR, Context

if TYPE_CHECKING:
    from stalecheck.machine.system import Machine


def _after(h: Hierarchy, depth: int) -> str:
    """Where a point sits: after the ``depth`` first levels of a PE's path."""
    return "at L1 (no cache before it)" if depth == 0 else f"after {h.levels[depth - 1].name}"


def cache_assumption(h: Hierarchy) -> str:
    """The hierarchy and CLIDR_EL1's fields as the engine resolved them (D24.2.33
    CLIDR_EL1: LoUU, LoUIS, LoC), with where each point falls."""
    names = [
        f"{level.name} ({'per PE' if level.private else 'shared'}"
        f"{'' if level.architected else ' system cache, not in CLIDR'})"
        for level in h.levels
    ]
    return (
        f"caches: {' + '.join(names)}; CLIDR_EL1 LoUU={h.louu} LoUIS={h.louis} LoC={h.loc}: "
        f"PoU {_after(h, h.pou_depth)}, inner-shareable PoU {_after(h, h.pouis_depth)}, "
        f"PoC {_after(h, h.poc_depth)}"
    )


def hcr_names(bits: int) -> list[str]:
    """The ``HCR.BITS`` set in ``bits`` (the state's encoding of HCR_EL2)."""
    return [name for i, name in enumerate(HCR.BITS) if bits & (1 << i)]


# What out-of-order execution leaves stronger than the Arm ARM (docs/ordering.md).
WEAK_ORDERING = (
    "out-of-order execution inside each PE as the Arm memory model allows (docs/ordering.md), except: "
    "MAP keeps program order with everything; an EXEC waits only for an ISB, DSB or WAIT before it; "
    "an MSR waits for every earlier instruction that reads SCTLR_EL1, so a later access using the "
    "new value is not satisfied before an earlier one (D24.1 would allow it); SIGNAL (a system call "
    "or exception: a release and a context synchronisation event) with everything; a DC by VA keeps "
    "program order with accesses to its own line of different cacheability (D7.5.9.15 lets them "
    "pass; only through an SCTLR_EL1/HCR_EL2 change between them); an AWAIT x, >=v keeps program "
    "order with the loads of x; an instruction that may trap (an access to an MMIO page or to a page "
    "not mapped at start, a DC, set/way or MSR the VM has a trap policy for) holds every later one "
    "back even when it does not trap"
)


# Printed first when a scenario turns out-of-order execution off (the default is on since
# issue 10, docs/ordering.md): the verdict is then stronger than the architecture allows.
IN_ORDER = (
    "IN PROGRAM ORDER: loads performed in order, each PE executes its program in order "
    "(the scenario chose builder.options(weak_ordering=False)): stronger than the Arm memory "
    "model, so an unreachable verdict does not cover a missing barrier; the default lifts it"
)

WEAK_TRANSLATION = (
    "out-of-order execution with translation: accesses reorder by the physical location their "
    "translation gives (B2.3.1 coherence on it, forwarding once the store's walk is made), and a "
    "later access passes an earlier one through the same VA only once that one's walk is made "
    "(B2.3.7 TLBI-ordered-before asks less); "
    "only a plain load passes an older "
    "translated access whose walk is not made yet, and is undone if that access faults; a "
    "translation made ahead that a later instruction has executed past survives another PE's "
    "completed TLBI (weaker than D8.17 R_LXHLD)"
)


def assumptions(machine: Machine) -> list[str]:
    spec = machine.spec
    o = spec.options
    caches = cache_assumption(machine.h)
    out = [
        *((caches, WEAK_ORDERING) if o.weak_ordering else (IN_ORDER, caches)),
        "Non-cacheable/Device reads may hit a cached copy (B2.11 mismatched attributes)"
        if o.nc_reads_may_hit
        else "strict bypass: Non-cacheable/Device reads never hit a cache (not architectural)",
        f"at most {o.max_migrations} vCPU migration(s)",
        "EL2 linear map of all RAM: any line may be filled speculatively at any time"
        if o.host_linear_map
        else "no hypervisor linear map: fills only where the running code maps the line cacheable",
    ]
    if machine.quiet:
        quiet = ", ".join(machine.lines[line].name for line in sorted(machine.quiet))
        out.append(
            f"reduction: no spontaneous fill/drop/write-back explored on {quiet}, which every observer "
            "accesses cacheably (they cannot change a coherent read; re-checked during the search)"
        )
    out += [
        "inner/outer cacheability mixes (e.g. inner WB, outer NC) may behave as cacheable "
        "or as Non-cacheable",
        "set/way operations of one PE take effect in program order without a barrier "
        "(the ARMv7 rule; stronger than the Arm ARM, D7.5.9.15: any order unless a DMB or DSB)"
        if o.setway_program_order
        else "set/way operations are ordered only by a full DMB or a DSB (D7.5.9.15)",
        "system-register writes take effect at the latest at the next ISB/exception",
    ]
    if machine.h.n_pes > 1:
        out.append(
            "all PEs are in one Inner Shareable domain "
            "(B2.10.1.1: the Arm ARM assumes so of PEs under one OS or hypervisor)"
        )
    devices = any(t.context == Context.DEVICE for t in spec.threads)
    domains = shareability.assumption(machine.code.values(), devices)
    if domains is not None:
        out.append(domains)
    if machine.dead_lines is not None:
        out.append(
            "reduction: no write-back/drop/fill of lines no program, policy, buffer or page-table walk "
            "touches again"
        )
    if machine.mmu is not None and spec.xlate is not None:
        out.extend(xlate_assumptions(spec.xlate))
        if machine.dead_tlb is not None:
            out.append(
                "reduction: no TLB fill of an entry no remaining translation, walk or prefetch can use, "
                "and such entries dropped at once (an unlocked TLB entry need not remain in a TLB, D8.16.2)"
            )
        gap = translated_type_gap(machine.layout)
        if gap is not None:
            out.append(gap)
        if o.weak_ordering:
            out.append(WEAK_TRANSLATION)
    start = machine.initial_state().hcr
    for vm, bits in zip(machine.vms, start, strict=True):
        names = hcr_names(bits)
        out.append(f"VM {vm.name}: HCR_EL2 at start {'+'.join(names) or 'none of ' + '/'.join(HCR.BITS)}")
        if "FWB" in names:
            out.append(f"VM {vm.name}: FEAT_S2FWB, stage 2 {vm.s2_force.name}")
    return out
