"""Out-of-order execution inside a PE: which instruction may execute before which.

With ``Options.weak_ordering`` a thread keeps a window (``Thread.ahead``): any
instruction after its oldest unexecuted one (``pc``) may execute first, when no
unexecuted program-order-earlier instruction must precede it.  A load executing
is the load being *satisfied* (Flat, Pulte et al. POPL 2018: from the PE's own
buffered store by forwarding, else from the coherent memory system); a store
executing enters the PE's buffer, from which it propagates (``buffer.py``).
The Arm memory model is other-multi-copy-atomic (B2.3.2), so the per-PE buffer
over coherent caches plays the part of Flat's storage subsystem.  The reasons
and what is left out are in ``docs/ordering.md``.

Everything here is static (addresses are fixed locations, registers are single
assignment), so "must ``i`` execute before ``j``" is a bitmask per instruction,
computed once.  The dynamic rules (a full DMB's marker, release stores still in
the buffer, read-read coherence) are applied where the load executes
(``execute.py``).
"""

from __future__ import annotations

from stalecheck.errors import ScenarioError
from stalecheck.machine.isa import ACQUIRE, RELEASE, Instr

# ``LDAR``/``LDAPR`` are ``LDR`` with kind ``ACQUIRE``/``ACQUIRE_PC`` and ``STLR`` is
# ``STR`` with kind ``RELEASE`` (isa.py), so every other concern treats them as
# the loads and stores they are.
LOADS = ("LDR",)
STORES = ("STR",)
# Instructions the window reorders; anything else (DC, IC, TLBI, MSR, WAIT,
# SIGNAL, AWAIT, MAP, EXEC, ...) stays a sequence point: every earlier
# instruction executes before it and every later one after it (Model: stronger
# than the Arm ARM for those; weak mode refuses none of them, docs/ordering.md).
REORDERABLE = ("LDR", "STR", "DMB", "DSB", "ISB", "NOP")
_FULL = ("SY", "ISH", "OSH", "NSH")
_ST = ("ST", "ISHST", "OSHST", "NSHST")
_LD = ("LD", "ISHLD", "OSHLD", "NSHLD")


def _must_precede(earlier: Instr, later: Instr) -> bool:
    """Whether ``earlier`` (in program order) must execute before ``later``, by the
    kinds of the two instructions and their locations; register dependencies are
    added by ``Window``."""
    e, lt = earlier.op, later.op
    if e not in REORDERABLE or lt not in REORDERABLE:
        return True  # sequence points
    if e == "NOP" or lt == "NOP":
        return False
    if e == "DSB" or lt == "DSB":
        # B2.6.9 Data Synchronization Barrier: no instruction after a DSB executes
        # until it completes, and it completes after every earlier access (of the
        # types it names; LD/ST differences are in the buffer rules).
        return True
    if e == "ISB":
        # B2.6.7 Instruction Synchronization Barrier: instructions after an ISB are
        # fetched after it completes (the ctrl+ISB and addr;po;ISB orders of
        # B2.3.7 Dependency-ordered-before need this).
        return True
    if lt == "ISB":
        # An ISB waits for no earlier load: on its own it orders no accesses
        # (B2.3.7 only orders through a dependency into the ISB).
        return False
    if e == "DMB":
        if earlier.kind in _FULL:  # B2.3.7 Barrier-ordered-before: everything after
            return True
        if earlier.kind in _LD:  # loads before, loads and stores after
            return lt in LOADS or lt in STORES or lt == "DMB"
        return lt in STORES or lt == "DMB"  # DMB ST: stores with stores
    if lt == "DMB":
        if later.kind in _FULL:
            return True
        if later.kind in _LD:
            return e in LOADS
        return e in STORES
    if e == "LDR" and earlier.kind:  # B2.3.7: an acquire is ordered before every later access
        return True
    if lt == "STR" and later.kind == RELEASE:  # B2.3.7: a release after every earlier access
        return True
    if e == "STR" and earlier.kind == RELEASE and lt == "LDR" and later.kind == ACQUIRE:
        return True  # B2.3.7: release then acquire (RCsc), not acquire-PC (LDAPR)
    if earlier.loc == later.loc:
        # Same location.  Stores keep program order (B2.3.1 Coherence-before); a
        # store never passes an earlier load of its location (a load never reads a
        # po-later write); a load never passes an earlier store of its location
        # (it must read that store or a coherence-later one: it waits, then
        # forwards from the buffer).  Two loads may be satisfied in either order:
        # herd's RSW is allowed; ``Window.later_same_loads`` keeps CoRR.
        return not (e in LOADS and lt in LOADS)
    return False


class Window:
    """The static ordering tables of one thread's program."""

    def __init__(self, code: list[Instr], program: tuple[int, ...], name: str) -> None:
        instrs = [code[i] for i in program]
        self.n = len(instrs)
        defs: dict[str, int] = {}
        self.precede: list[int] = []  # bit i set: instruction i must execute before this one
        self.later_same_loads: list[tuple[int, ...]] = []
        for j, later in enumerate(instrs):
            mask = 0
            for i in range(j):
                if _must_precede(instrs[i], later):
                    mask |= 1 << i
            # B2.3.6 Dependency definitions: a register read after a load that writes it
            # (data dependency into a store) waits for that load.
            if later.op == "STR" and later.reg and later.reg in defs:
                mask |= 1 << defs[later.reg]
            self.precede.append(mask)
            if later.op in ("LDR", "EXEC"):
                if later.reg in defs:
                    raise ScenarioError(
                        f"thread {name!r} loads register {later.reg} twice; out-of-order execution "
                        "(weak_ordering) needs each register written once per thread"
                    )
                defs[later.reg] = j
        for j, instr in enumerate(instrs):
            same: tuple[int, ...] = ()
            if instr.op in LOADS:
                same = tuple(
                    k for k in range(j + 1, self.n) if instrs[k].op == "LDR" and instrs[k].loc == instr.loc
                )
            self.later_same_loads.append(same)

    def ready(self, pc: int, ahead: int, j: int) -> bool:
        """Whether instruction ``j`` (after ``pc``, not yet executed) may execute now:
        every earlier instruction that must precede it has executed.  ``ahead`` has
        bit ``k`` set for each instruction ``k > pc`` already executed."""
        done = ahead | ((1 << pc) - 1)
        return not self.precede[j] & ~done
