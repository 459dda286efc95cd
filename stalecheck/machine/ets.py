"""FEAT_ETS2: when a translation fault may come from a walk of stale tables.

Without FEAT_ETS2, nothing before a context synchronisation event orders a PE's
own page-table stores before the walks of its later instructions (the DSB
clauses of B2.3.7 DSB-ordered-before exclude Implicit TTD Memory Effects), so a
walk made ahead of time may fault on an entry the PE has already made valid
(seed 003).  With FEAT_ETS2 two rules of B2.3.7 Ordering relations forbid such
faults, and they are the only ones this module decides:

- ETS-ordered-before: every Explicit Memory Effect in program order before an
  instruction whose translation generates a fault the TLB cannot hold (a
  "TLBUncacheable Fault Effect": Translation, Access flag) is ordered before the
  translation-table reads that produced the fault.  It does not apply to the
  walks of instruction fetches.  No barrier is needed, and the order reaches
  across PEs through whatever the earlier access observed (a flag another PE
  wrote after its page-table store);
- DSB-ordered-before with FEAT_ETS2: a DSB orders earlier accesses of the types
  it names before the translation-table reads of every later instruction, fetches
  included: ``DSB ST`` orders earlier writes, ``DSB LD`` earlier reads, a full DSB
  both.

The walker never sees a PE's buffered stores (``walker.py``), so "ordered before
the walk" means, in this model: the earlier access has executed and, for a store,
left the buffer (completed) before the walk is made.  A faulting walk that breaks
this is not produced; a non-faulting one always may be (an old entry may sit in a
TLB, which these rules do not touch).
"""

from __future__ import annotations

from collections.abc import Sequence

from stalecheck.machine.isa import Instr
from stalecheck.machine.translation import FSC_ACCESS_FLAG, FSC_TRANSLATION, fault_fsc, is_fault

# Explicit memory accesses of machine programs (B2.3.7 Explicit Memory Effect): loads,
# stores and the polling load AWAIT.  DC/IC/TLBI, EXEC (a fetch) and the ghost
# SIGNAL/WAIT are not, so they order nothing here.
EXPLICIT = ("LDR", "STR", "AWAIT")
_LD = ("LD", "ISHLD", "OSHLD", "NSHLD")
_ST = ("ST", "ISHST", "OSHST", "NSHST")


def tlb_uncacheable(result: int) -> bool:
    """A Translation or Access flag fault (D8.16: the TLB never holds a translation that
    generates one); Permission faults and TLB conflict aborts are not covered by ETS2."""
    return is_fault(result) and fault_fsc(result) & ~3 in (FSC_TRANSLATION, FSC_ACCESS_FLAG)


def fault_allowed(before: Sequence[Instr], stores_pending: bool, fetch: bool) -> bool:
    """Whether, with FEAT_ETS2, a walk made now may give the instruction a
    TLBUncacheable fault.  ``before`` is the thread's unexecuted instructions in program
    order before it (its pc up to it); ``stores_pending`` whether stores it issued
    earlier are still in the PE's buffer."""
    if not fetch:  # B2.3.7 ETS-ordered-before: every earlier explicit access first
        return not stores_pending and not any(i.op in EXPLICIT for i in before)
    for d, instr in enumerate(before):  # B2.3.7 DSB-ordered-before, the FEAT_ETS2 clauses
        if instr.op != "DSB":
            continue
        earlier = before[:d]
        loads = any(i.op in ("LDR", "AWAIT") for i in earlier)
        stores = stores_pending or any(i.op == "STR" for i in earlier)
        if (instr.kind in _LD and loads) or (instr.kind in _ST and stores):
            return False
        if instr.kind not in _LD and instr.kind not in _ST and (loads or stores):
            return False
    return True
