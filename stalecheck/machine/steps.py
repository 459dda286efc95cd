"""The kinds of step the machine takes: the first element of every step tuple.

A step is a plain tuple of ints, ``(kind, ...)``, so that a witness is a list of
indices into ``Machine.actions`` and a step hashes at tuple speed.  The kinds are
an ``IntEnum``: its members are ints (same hash, same equality), named for readers.
"""

from __future__ import annotations

from enum import IntEnum


class StepKind(IntEnum):
    EXEC = 0  # (EXEC, thread, choice): a thread issues its next instruction
    COMPLETE = 1  # (COMPLETE, pe, entry index): a buffered store or maintenance takes effect
    WRITE_BACK = 2  # (WRITE_BACK, instance, line): a dirty copy is written one level down
    DROP = 3  # (DROP, instance, line): a clean copy is evicted
    FILL = 4  # (FILL, instance, line[, source]): a clean copy is allocated speculatively
    SYSREG = 5  # (SYSREG, thread): a written SCTLR_EL1 value takes effect
    MIGRATE = 6  # (MIGRATE, thread, pe): the hypervisor moves a vCPU to another PE
    EARLY = 7  # (EARLY, thread, index, choice): a later instruction executes out of order
    # Translation and instruction fetch (machine/mmu.py).
    XLATE = 10  # (XLATE, thread, pc, choice): translate or fetch an upcoming instruction early
    TLB_FILL = 11  # (TLB_FILL, pe, regime, key, result)
    TLB_DROP = 12  # (TLB_DROP, pe, index)
    IC_FILL = 13  # (IC_FILL, pe, tag, line, cacheable)
    IC_DROP = 14  # (IC_DROP, pe, index)


EXEC = StepKind.EXEC
COMPLETE = StepKind.COMPLETE
WRITE_BACK = StepKind.WRITE_BACK
DROP = StepKind.DROP
FILL = StepKind.FILL
SYSREG = StepKind.SYSREG
MIGRATE = StepKind.MIGRATE
EARLY = StepKind.EARLY
XLATE = StepKind.XLATE
TLB_FILL = StepKind.TLB_FILL
TLB_DROP = StepKind.TLB_DROP
IC_FILL = StepKind.IC_FILL
IC_DROP = StepKind.IC_DROP

Step = tuple[int, ...]
