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
assignment, which instructions may trap is known from the VM's set-up), so "must
``i`` execute before ``j``" is a bitmask per instruction, computed once.  The
dynamic rules (a full DMB's marker, release stores still in the buffer, read-read
coherence) are applied where the load executes (``execute.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from stalecheck.errors import ScenarioError
from stalecheck.machine.isa import ACQUIRE, RELEASE, Instr
from stalecheck.machine.shareability import orders_others

# ``LDAR``/``LDAPR`` are ``LDR`` with kind ``ACQUIRE``/``ACQUIRE_PC``, ``STLR`` is
# ``STR`` with kind ``RELEASE`` and ``AWAITA`` is ``AWAIT`` with kind ``ACQUIRE``
# (isa.py), so every other concern treats them as the loads and stores they are.
# ``AWAIT`` is a polling loop: a load, then a branch back while the value is not
# the awaited one.
LOADS = ("LDR", "AWAIT")
STORES = ("STR",)
_CMOS = ("DC", "DCSW", "IC")
# Instructions the window reorders.  The others stay sequence points: every
# earlier instruction executes before them and every later one after them.
# ``SIGNAL`` stands for a system call, exception entry or return (the seeds' kicks,
# ioctls and VM entries: a release, and a context synchronisation event after
# which later instructions are fetched); ``MSR``, ``MAP``, ``TLBI`` and ``EXEC``
# are Model choices (printed with every verdict, docs/ordering.md).
REORDERABLE = ("LDR", "STR", "DMB", "DSB", "ISB", "NOP", "AWAIT", "WAIT", *_CMOS)
_FULL = ("SY", "ISH", "OSH", "NSH")
_ST = ("ST", "ISHST", "OSHST", "NSHST")
_LD = ("LD", "ISHLD", "OSHLD", "NSHLD")


def _cmo_must_precede(earlier: Instr, later: Instr, same_line: bool, setway_in_order: bool) -> bool:
    """Cache maintenance against loads, stores and other maintenance, once barriers
    are dealt with: D7.5.9.15 Ordering and completion of data and instruction cache
    instructions."""
    e, lt = earlier.op, later.op
    if e == "IC" or lt == "IC":
        # IC: "any order relative to ... data cache instructions, loads, and stores unless a DSB"
        return False
    if e == "DCSW" or lt == "DCSW":
        # Set/way: "any order relative to loads or stores unless a DMB or DSB", and
        # to other maintenance (the option keeps set/way among itself in program order,
        # the ARMv7 rule, printed with the verdict).
        return setway_in_order and e == lt == "DCSW"
    # DC by VA: "Execute in program order relative to loads or stores that ... Access an
    # address in Normal memory with either Inner Write Through or Inner Write Back attributes
    # within the same cache line" and "relative to other data cache instructions ... within the
    # same cache line"; any order for a different line unless a DMB or DSB.  Model: the
    # same line keeps program order whatever the memory types (stronger than the manual for
    # a Non-cacheable or Device access, or one of different cacheability; printed).
    return same_line


def _must_precede(earlier: Instr, later: Instr, same_line: bool, setway_in_order: bool = False) -> bool:
    """Whether ``earlier`` (in program order) must execute before ``later``, by the
    kinds of the two instructions and their locations (``same_line``: both name the
    same cache line); register dependencies are added by ``Window``."""
    e, lt = earlier.op, later.op
    if e not in REORDERABLE or lt not in REORDERABLE:
        return True  # sequence points
    if e == "NOP" or lt == "NOP":
        return False
    if (e in ("DMB", "DSB") and not orders_others(earlier.kind)) or (
        lt in ("DMB", "DSB") and not orders_others(later.kind)
    ):
        return False  # a Non-shareable barrier orders nothing for other observers (shareability.py)
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
    if e == "WAIT":
        # A WAIT is an acquire of a flag, or an ioctl or exception returning (a context
        # synchronisation event): nothing after it executes before it (B2.3.7: an
        # acquire is ordered before every later access).
        return True
    if e == "AWAIT" and lt in ("STR", "ISB", "DC", "DCSW"):
        # The loop's exit branch reads the polled value: B2.3.6 Control dependency, and
        # B2.3.7 Dependency-ordered-before orders a write after it (ctrl), an ISB after it
        # (ctrl+ISB).  Model: cache maintenance is not performed speculatively either (a
        # DC after the loop waits for it, as a store does; printed).
        return True
    if lt == "ISB":
        # An ISB waits for no earlier load: on its own it orders no accesses
        # (B2.3.7 only orders through a dependency into the ISB).
        return False
    if lt == "WAIT":
        # An acquire waits for nothing earlier, except what orders every later load:
        # a full DMB or DMB LD (below), a DSB or an ISB (above), an earlier acquire.
        if e == "DMB":
            return earlier.kind not in _ST
        return e in LOADS and bool(earlier.kind)
    if (e == "DMB" and lt in _CMOS) or (lt == "DMB" and e in _CMOS):
        # D7.5.9.15: maintenance is ordered by "a DMB or DSB whose required access type is
        # both loads and stores"; an IC only by a DSB.
        return "IC" not in (e, lt) and (earlier.kind if e == "DMB" else later.kind) in _FULL
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
    if e in _CMOS or lt in _CMOS:
        # D7.5.9.15 orders maintenance with loads and stores only by address or by a DMB
        # or DSB: an acquire or a release to another line does not hold a DC back.
        return _cmo_must_precede(earlier, later, same_line, setway_in_order)
    if e in LOADS and earlier.kind:  # B2.3.7: an acquire is ordered before every later access
        return True
    if lt == "STR" and later.kind == RELEASE:  # B2.3.7: a release after every earlier access
        return True
    if e == "STR" and earlier.kind == RELEASE and lt in LOADS and later.kind == ACQUIRE:
        return True  # B2.3.7: release then acquire (RCsc), not acquire-PC (LDAPR)
    if earlier.loc == later.loc:
        # Same location.  Stores keep program order (B2.3.1 Coherence-before); a
        # store never passes an earlier load of its location (a load never reads a
        # po-later write); a load never passes an earlier store of its location
        # (it must read that store or a coherence-later one: it waits, then
        # forwards from the buffer).  Two loads may be satisfied in either order:
        # herd's RSW is allowed; ``Window.later_same_loads`` keeps CoRR.  A polling
        # loop records no value to compare, so it keeps program order with the
        # loads of its location (Model: without dependencies on it nothing can tell
        # the orders apart, docs/ordering.md).
        return not (e == lt == "LDR")
    return False


class Window:
    """The static ordering tables of one thread's program.

    ``line_of`` names the cache line of a location or line (for D7.5.9.15's
    same-line rules); ``precise`` holds the program indices of instructions that
    may trap to the hypervisor: exceptions are precise (D1.x: an instruction after
    the one that takes the exception has not executed), so nothing after them
    executes before them."""

    def __init__(
        self,
        code: Mapping[int, Instr],
        program: tuple[int, ...],
        name: str,
        line_of: Callable[[str], object] | None = None,
        precise: Collection[int] = (),
        setway_in_order: bool = False,
    ) -> None:
        instrs = [code[i] for i in program]
        self.n = len(instrs)
        named = (*LOADS, *STORES, "DC")
        # The cache line each access or DC names (None: names none); by location name
        # when no layout is given (each location its own line).
        lines: list[object] = [
            (line_of(i.loc) if line_of is not None else i.loc) if i.loc and i.op in named else None
            for i in instrs
        ]
        defs: dict[str, int] = {}
        self.precede: list[int] = []  # bit i set: instruction i must execute before this one
        self.later_same_loads: list[tuple[int, ...]] = []
        for j, later in enumerate(instrs):
            mask = 0
            for i in range(j):
                same_line = lines[i] is not None and lines[i] == lines[j]
                if i in precise or _must_precede(instrs[i], later, same_line, setway_in_order):
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
            if instr.op == "LDR":
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
