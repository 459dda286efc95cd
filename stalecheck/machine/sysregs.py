"""System registers a thread writes, and context synchronisation.

A write to SCTLR_EL1 is recorded as *pending* and takes effect at the latest at
the next context synchronisation event (D24.1.2.2 Synchronization requirements
for AArch64 System registers); the hardware may also apply it earlier (the
``SYSREG`` step).
"""

from __future__ import annotations

from stalecheck.machine.state import SCTLR_FIELDS, Thread


def synchronise(th: Thread) -> Thread:
    """Context synchronisation (ISB, exception entry or return: D24.1.2.2
    Synchronization requirements for AArch64 System registers; B2.6.1 Instruction
    Synchronization Barrier): a written system register is in effect from here on,
    and translations or fetches made ahead of it are discarded (B2.7.4.2
    Synchronization and coherency issues between data and instruction accesses)."""
    if th.early:
        th = th._replace(early=())
    if th.pending < 0:
        return th
    return th._replace(sctlr=th.pending, pending=-1)


def write_sctlr(th: Thread, field: str, value: int) -> Thread:
    """An ``MSR SCTLR_EL1.<field>`` (or its emulation at EL2): pending until a context
    synchronisation event or the hardware's ``SYSREG`` step (D24.1.2.2)."""
    base = th.pending if th.pending >= 0 else th.sctlr
    bit = SCTLR_FIELDS[field]
    return th._replace(pending=(base | bit) if value else (base & ~bit))
