"""Sound reductions of the explored state space, each stated with the verdict.

*Quiet lines.*  A line that every observer only ever accesses with a cacheable
type (and no non-coherent device touches) is read through hardware coherence
alone: ``caches.coherent_value`` returns the newest value whatever copies exist
(B2.11; the invariant in ``caches.py``).  Where its clean copies sit, whether a
dirty copy was written back, whether it was speculatively filled or dropped,
changes no value any observer can read, so the spontaneous steps on such a line
(FILL, DROP, WRITE_BACK) are not explored.  The set is computed from the programs
and the types at start; ``Machine`` re-checks every type it computes during the
search and refuses (ScenarioError) if a quiet line is ever accessed
non-cacheably (a policy or an SCTLR/HCR change that the static pass could not
see), so the reduction can never hide a stale read silently.  Tests compare
verdicts with and without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stalecheck.machine.spec import Context

if TYPE_CHECKING:
    from stalecheck.machine.system import Machine

_ACCESSES = ("LDR", "STR", "AWAIT", "DC")


def quiet_lines(m: Machine) -> frozenset[int]:
    """Lines whose every access in the programs is cacheable, at start (see module doc)."""
    if not m.spec.options.quiet_coherent_lines or m.mmu is not None:
        return frozenset()  # with translation, types come from page tables in memory
    loud: set[int] = set()
    for t, prog in enumerate(m.programs):
        spec = m.threads[t]
        for ident in prog:
            instr = m.code[ident]
            if instr.op not in _ACCESSES or not instr.loc:
                continue
            line = m.line_of(instr.loc)
            if spec.context == Context.DEVICE:
                if not spec.coherent:
                    loud.add(line)
                continue
            if spec.context == Context.GUEST:
                vm = m.vms[m._vm_index[spec.vm]]
                if m.lines[line].page in vm.mmio:
                    continue  # never performed: the access exits to the hypervisor
                hcr = vm.hcr.to_int()
            else:
                hcr = 0
            sctlr = m.initial_state().threads[t].sctlr
            if not m._type_uncached(t, False, sctlr, hcr, line).cacheable:
                loud.add(line)
    for line, host in enumerate(m.host_types):
        if host is not None and not host.cacheable:
            loud.add(line)
    return frozenset(range(m.nl)) - loud
