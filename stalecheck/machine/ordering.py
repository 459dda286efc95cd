"""Out-of-order execution inside a PE: which instruction may execute before which.

With ``Options.weak_ordering`` a thread keeps a window (``Thread.ahead``): any
instruction after its oldest unexecuted one (``pc``) may execute first, when no
unexecuted program-order-earlier instruction must precede it.  A load executing
is the load being *satisfied* (Flat, Pulte et al. POPL 2018: by forwarding from
one of the PE's own stores, buffered or not yet executed, else from the
coherent memory system); a store executing enters the PE's buffer, from which
it propagates (``buffer.py``).  The Arm memory model is other-multi-copy-atomic
(B2.3.2), so the per-PE buffer over coherent caches plays the part of Flat's
storage subsystem.  The reasons and what is left out are in ``docs/ordering.md``.

A thread executes one straight-line *path* of its program (``paths.py``), so
"must ``i`` execute before ``j``" is a bitmask per instruction, computed once:
the kinds of the two instructions (barriers, acquire/release), the register
dependencies (B2.3.6 Dependency definitions, herd's aarch64deps.cat) and fixed
same-location pairs.  The dynamic rules (a full DMB's marker, release stores
still in the buffer, forwarding, read-read coherence, locations computed at run
time) are applied where the instruction executes (``execute.py``).

Which instructions may trap is known from the VM's set-up, and traps are
precise, so nothing passes an instruction that may trap.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from stalecheck.errors import Position, ScenarioError
from stalecheck.machine import regexpr as rx
from stalecheck.machine.isa import ACQUIRE, RELEASE, Instr
from stalecheck.machine.paths import AMO_AL, BRANCH, NORET, PAIR_SECOND, PICK, RMW_READ, RMW_WRITE
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
# which later instructions are fetched); ``MAP`` (a hypervisor's stage-2 update) is a
# Model choice (printed with every verdict, docs/ordering.md).
# ``ASSUME`` is the check of a path's guess (paths.py), ordered by its dependencies.
REORDERABLE = (
    "LDR", "STR", "DMB", "DSB", "ISB", "NOP", "AWAIT", "WAIT", "ASSUME", "MSR", "TLBI", "EXEC", *_CMOS
)
# What a direct system-register write keeps in program order after it (D24.1 Synchronization
# requirements for System registers: a later instruction may use the old value until a
# Context Synchronization event): the events that synchronise it (ISB, WAIT, a DSB that
# completes it) and another MSR ("All direct writes to the same register ... occur in
# program order relative to each other").  A TLBI reads no SCTLR_EL1 field (its scope is
# the regime's ASID and VMID), so it passes an MSR of the notation, and an MSR passes it.
_AFTER_MSR = ("MSR", "ISB", "DSB", "WAIT")
_DATA = ("LDR", "STR", "AWAIT")
_FULL = ("SY", "ISH", "OSH", "NSH")
_ST = ("ST", "ISHST", "OSHST", "NSHST")
_LD = ("LD", "ISHLD", "OSHLD", "NSHLD")


def _ordered_load(instr: Instr) -> bool:
    """A load that DMB LD and DSB LD order: herd's ``Exp & R \\ NoRet`` (a read whose
    value no register receives, e.g. STADD, is not ordered by them)."""
    return instr.op in LOADS and not instr.flags & NORET


def _ctrl_orders(instr: Instr) -> bool:
    """What a control dependency orders after the branch: B2.3.7 Dependency-ordered-before
    (ctrl to an Explicit Memory Write, a TLBI, a DC CVAU or an IC Effect; ctrl+ISB)."""
    op = instr.op
    return op in ("STR", "ISB", "TLBI", "IC") or (op == "DC" and instr.kind == "CVAU")


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
    # same cache line"; any order for a different line unless a DMB or DSB.  ``same_line``
    # is False for a Device or Inner Non-cacheable access (Window.uncached_line).  Model: an
    # access whose type may be Inner cacheable keeps program order with a DC of its line even
    # where the two differ in cacheability (only through an SCTLR_EL1 or HCR_EL2 change
    # between them; printed).
    return same_line


def _must_precede(
    earlier: Instr, later: Instr, same_line: bool, setway_in_order: bool = False, by_name: bool = True
) -> bool:
    """Whether ``earlier`` (in program order) must execute before ``later``, by the
    kinds of the two instructions and their locations (``same_line``: both name the
    same cache line); register dependencies are added by ``Window``.  ``by_name``
    False: the two accesses' locations are known only once translated (a virtual
    address), so the same-location rules are applied on physical locations where
    they execute (execute.py), not here on names."""
    e, lt = earlier.op, later.op
    if e not in REORDERABLE or lt not in REORDERABLE:
        return True  # sequence points
    if e in ("NOP", "ASSUME") or lt in ("NOP", "ASSUME"):
        return False  # an ASSUME is ordered by its dependencies only (Window)
    if lt == "MSR":
        # D24.1: "Direct writes to System registers are not allowed to affect any
        # instructions appearing in program order before the direct write": an earlier
        # instruction that reads SCTLR_EL1 (an access, maintenance, a fetch) executes
        # first.  A TLBI reads none of its fields, and a DMB orders memory effects only
        # (B2.3.7), which an MSR is not: the MSR may execute before them.
        return e not in ("TLBI", "DMB")
    if e == "MSR":
        # D24.1: "a direct write to a System register requires synchronization before
        # software can rely on the effects of that write to affect instructions appearing in
        # program order after the write": later accesses may execute first (old value).
        return lt in _AFTER_MSR
    if e == "AWAIT" and _ctrl_orders(later):
        # The loop's exit branch reads the polled value: B2.3.6 Control dependency, and
        # B2.3.7 Dependency-ordered-before orders after it a write, a TLBI, a DC CVAU or an
        # IC (ctrl) and an ISB (ctrl+ISB).  Other maintenance (DC CIVAC, set/way) may
        # execute before the loop exits: D7.5.9.15, any order with loads of another line
        # unless a DMB or DSB (a DC of the polled line keeps order by address, below).
        return True
    if e == "TLBI" or lt == "TLBI":
        # D8.17.8 R_TGVWD: "the effects of a TLB maintenance instruction can be observed in
        # any order relative [to] that instruction unless a DSB is executed between the
        # instructions" (any DSB, even NSH, waits for the TLBI to issue; whether it waits for
        # its completion is _dsb_done's: R_PSMWS).  Two TLBIs keep program order (Model).
        return (lt if e == "TLBI" else e) in ("DSB", "TLBI")
    if lt == "EXEC":
        # An EXEC consumes a fetch, which may be made at any time after the last context
        # synchronisation event (B2.7.4.2, D8.2; mmu.py makes it ahead), and no barrier but
        # a context synchronisation orders a fetch after a data access (B2.3.5
        # Fetch-intrinsically-before orders only the fetched instruction's own effects).
        # So it waits only for what holds every later instruction: an ISB, a DSB, a WAIT.
        return e in ("ISB", "DSB", "WAIT")
    if e == "EXEC":
        return lt == "DSB"  # a DSB completes after every earlier instruction (Model for a fetch)
    if e == "DSB" and lt in ("ISB", "WAIT", *_CMOS):
        # B2.6.9: "no instruction that appears in program order after the DSB instruction can
        # alter any state of the system or perform any part of its functionality until the DSB
        # completes", whatever its domain; a DSB NSH completes the PE's own maintenance
        # (D8.17.8 R_PSMWS, D7.5.9.15), which an ISB after it then synchronises.
        return True
    if lt == "DSB" and e in _CMOS:
        return True  # the DSB (even NSH) waits for the PE's own maintenance, once issued
    if (e in ("DMB", "DSB") and not orders_others(earlier.kind)) or (
        lt in ("DMB", "DSB") and not orders_others(later.kind)
    ):
        return False  # a Non-shareable barrier orders nothing for other observers (shareability.py)
    if e == "DSB":
        # B2.6.9 Data Synchronization Barrier: no instruction after a DSB executes
        # until it completes.
        return True
    if lt == "DSB":
        # A DSB completes after every earlier access of the types it names (B2.6.9;
        # herd's DSB-ob): a DSB ST waits for no earlier load, a DSB LD for no NoRet
        # read (the buffer rules do the rest).
        if e == "LDR" and later.kind in _ST:
            return False
        if e == "LDR" and later.kind in _LD:
            return _ordered_load(earlier)
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
    if lt == "ISB":
        # An ISB waits for no earlier load on its own (B2.3.7 only orders through a
        # dependency into the ISB: added by Window).
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
            return _ordered_load(earlier)
        return e in STORES
    if e in _CMOS or lt in _CMOS:
        # D7.5.9.15 orders maintenance with loads and stores only by address or by a DMB
        # or DSB: an acquire or a release to another line does not hold a DC back.
        return _cmo_must_precede(earlier, later, same_line, setway_in_order)
    if later.flags & PAIR_SECOND and (earlier.line, earlier.column, earlier.text) == (
        later.line, later.column, later.text
    ):
        return False  # the two reads or writes of one CASP (paths.cas_pair): no po between them
    if e in LOADS and earlier.kind:  # B2.3.7: an acquire is ordered before every later access
        return True
    if lt == "STR" and later.kind == RELEASE:  # B2.3.7: a release after every earlier access
        return True
    if e == "STR" and earlier.kind == RELEASE and lt in LOADS and later.kind == ACQUIRE:
        return True  # B2.3.7: release then acquire (RCsc), not acquire-PC (LDAPR)
    if e == "STR" and earlier.flags & AMO_AL:
        # B2.3.7 Barrier-ordered-before: the write of an atomic with both acquire and
        # release semantics is ordered before every later access (herd: range of
        # [A]; amo; [L], po).
        return True
    if by_name and earlier.loc and earlier.loc == later.loc:
        # Same location.  Stores keep program order (B2.3.1 Coherence-before); a
        # store never passes an earlier load of its location (a load never reads a
        # po-later write); a load never passes an earlier store of its location
        # (it must read that store or a coherence-later one: it waits, then
        # forwards from the buffer).  Two loads may be satisfied in either order:
        # herd's RSW is allowed; ``Window.later_loads`` keeps CoRR.  A polling loop
        # ``AWAIT x, v`` exits on reading v, so it may pass an earlier load of x, which
        # then reads v or older (CoRR, execute.py); an ``AWAIT x, >=v`` records no value
        # to compare, so it keeps program order with the loads of its location, and a
        # load after a poll waits for it (Model; that one no program can tell apart:
        # nothing is ordered before a poll but not before the load, docs/ordering.md).
        # A load after a store reads that store (forwarded, even before the store
        # executes, once its data is known) or a newer write: execute.py handles it.
        if e == "STR" and lt == "LDR":
            return False
        if e == "LDR" and lt == "AWAIT" and not later.at_least:
            return False
        return not (e == lt == "LDR")
    return False


class Window:
    """The static ordering tables of one thread's program (one path, or several one
    after the other with ``spans``).

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
        spans: tuple[tuple[int, int], ...] = (),
        is_va: Callable[[str], bool] | None = None,
        uncached_line: Callable[[object], bool] | None = None,
    ) -> None:
        instrs = [code[i] for i in program]
        # Per instruction: a data access through the translation model (a virtual
        # address: its location is known only once translated, mmu.py).
        self.translated: list[bool] = [
            bool(is_va is not None and i.loc and i.op in _DATA and is_va(i.loc)) for i in instrs
        ]
        # Per instruction: whether its walk may fault (a translated access, or a fetch
        # through a virtual address): exceptions are precise (execute.Execute._passes).
        self.may_fault: list[bool] = [
            va or bool(is_va is not None and i.op == "EXEC" and i.loc and is_va(i.loc))
            for i, va in zip(instrs, self.translated, strict=True)
        ]
        named = (*LOADS, *STORES, "DC")
        # The cache line each access or DC names (None: names none); by location name
        # when no layout is given (each location its own line).
        self.lines: list[object] = [
            (line_of(i.loc) if line_of is not None and not va else i.loc) if i.loc and i.op in named else None
            for i, va in zip(instrs, self.translated, strict=True)
        ]
        self.precise = precise
        self.setway_in_order = setway_in_order
        # Whether the thread's loads and stores to a line are never Normal Inner
        # Write-Through or Write-Back (D7.5.9.15: they pass a DC of their line).
        self.uncached_line = uncached_line
        self.instrs = instrs
        self.n = n = len(instrs)
        self.precede = [0] * n  # bit i set: instruction i must execute before this one
        # Per load: the earlier stores of its path, latest first (forwarding candidates).
        self.stores_before: list[tuple[int, ...]] = [()] * n
        # Per load: the later loads of its path with no store between whose location
        # rules them out (read-read coherence candidates), with the stores between.
        self.later_loads: list[tuple[tuple[int, tuple[int, ...]], ...]] = [()] * n
        # Per store that is the write of an atomic pair: the index of its read.
        self.pair_read = [-1] * n
        # Per instruction: the register slots its address and data read.
        self.addr_regs: list[frozenset[str]] = [frozenset()] * n
        self.data_regs: list[frozenset[str]] = [frozenset()] * n
        self.data_loads = [0] * n  # per store: mask of the loads its data reads
        self.assumes = tuple(j for j, i in enumerate(instrs) if i.op == "ASSUME")
        for start, stop in spans or ((0, n),):
            self._path(instrs, start, stop, name)

    def _path(self, instrs: list[Instr], start: int, stop: int, name: str) -> None:
        defs: dict[str, int] = {}  # register slot (or pick name) -> index of its load (ASSUME)
        # What a register written by load ``i`` depends on (herd's dtrm, aarch64deps.cat:
        # register data flow, the load's own address, and through memory (lmrs) what the
        # data and address of the po-latest earlier store to its location depend on):
        # ``src_hard[i]`` the loads, ``src_pick[i]`` also the picks (CSEL/CAS ASSUMEs).
        src_hard: dict[int, int] = {}
        src_pick: dict[int, int] = {}
        store_hard: dict[int, int] = {}  # per store: the loads its address and data depend on
        store_pick: dict[int, int] = {}
        branches = 0  # mask of earlier branch ASSUMEs
        accesses_addr = 0  # addresses' dependencies of every earlier access (hard and pick)
        picks_of: dict[int, int] = {}  # index -> mask of every pick its address or data depends on

        def sources(regs: frozenset[str], picks: frozenset[str], instr: Instr) -> tuple[int, int]:
            hard = pick = 0
            for r in regs:
                if r not in defs:
                    raise ScenarioError(
                        f"thread {name!r} reads register {r} before any load writes it",
                        _where(instr),
                    )
                i = defs[r]
                hard |= src_hard[i]
                pick |= src_pick[i]
            for k in picks:
                pick |= 1 << defs[k]
            return hard, pick | hard

        for j in range(start, stop):
            later = instrs[j]
            mask = 0
            lines = self.lines
            for i in range(start, j):
                same_line = lines[i] is not None and lines[i] == lines[j]
                one_dc = (instrs[i].op == "DC") != (later.op == "DC")
                if same_line and one_dc and self.uncached_line is not None:
                    # D7.5.9.15: a DC by VA "can execute in any order relative to loads or
                    # stores that access any address with the Device memory attribute, or
                    # with Normal memory with Inner Non-cacheable attribute".
                    same_line = not self.uncached_line(lines[j])
                # Through a virtual address the same-location rules (B2.3.1 Coherence
                # order) hold on the physical location the translation gives: execute.py
                # checks them there, so two accesses through one VA reorder exactly as two
                # accesses to one location do, and through two aliases too.
                by_name = not (self.translated[i] or self.translated[j])
                if i in self.precise or _must_precede(
                    instrs[i], later, same_line, self.setway_in_order, by_name
                ):
                    mask |= 1 << i
            a_data, a_picks = rx.dependencies(later.addr) if later.addr else (frozenset(), frozenset())
            d_data, d_picks = rx.dependencies(later.data) if later.data else (frozenset(), frozenset())
            if later.op == "STR" and later.reg:  # a legacy ``STR loc, r1``
                d_data = d_data | {later.reg}
            self.addr_regs[j] = a_data
            self.data_regs[j] = d_data
            ha, pa = sources(a_data, a_picks, later)
            hd, pd = sources(d_data, d_picks, later)
            self.data_loads[j] = hd
            picks_of[j] = pa | pd
            op = later.op
            if op == "LDR":
                # B2.3.6/B2.3.7: an address dependency orders the load after the loads its
                # address reads; a pick dependency does not (herd's pick-addr-dep orders
                # only writes).
                mask |= ha
                hard, pick = (1 << j) | ha, pa
                for i in range(j - 1, start - 1, -1):
                    if instrs[i].op == "STR" and (not instrs[i].loc or instrs[i].loc == later.loc):
                        if not later.loc or not instrs[i].loc:
                            break  # locations known only at run time: no lmrs here
                        # B2.3.7 Dependency-ordered-before (herd's dob (addr|data); lmrs):
                        # the load is ordered after what the address and data of the
                        # po-latest earlier store to its location depend on; its value
                        # depends on them too.
                        mask |= store_hard[i]
                        hard |= store_hard[i]
                        pick |= store_pick[i]
                        break
                src_hard[j], src_pick[j] = hard, pick | hard
            elif op == "STR":
                # Address, data and control dependencies order a store (B2.3.7
                # Dependency-ordered-before: addr, data, ctrl;[W], addr;po;[W]; herd's
                # pob for their pick forms).
                mask |= ha | pa | hd | pd | branches | accesses_addr
                store_hard[j] = ha | hd
                store_pick[j] = pa | pd
                if later.flags & RMW_WRITE:
                    for i in range(j - 1, start - 1, -1):  # its read (B2.3.7 aob: rmw)
                        other = instrs[i]
                        if other.op == "LDR" and other.flags & RMW_READ and other.loc == later.loc:
                            mask |= 1 << i
                            self.pair_read[j] = i
                            break
            elif op == "ISB":
                # B2.3.7: ctrl;[ISB];po and addr;[M];po;[ISB];po (and their pick forms).
                mask |= branches | accesses_addr
            elif _ctrl_orders(later):
                mask |= branches  # B2.3.7: ctrl to a TLBI, DC CVAU or IC Effect
            elif op == "ASSUME":
                mask |= hd | pd  # a guess is checked once the values it reads are known
            elif op == "EXEC":
                src_hard[j] = src_pick[j] = 1 << j
            self.precede[j] = mask
            if op in ("LDR", "STR"):
                accesses_addr |= ha | pa
            if op == "ASSUME" and later.kind == BRANCH:
                branches |= 1 << j
            if op == "LDR" or op == "EXEC" or (op == "ASSUME" and later.kind == PICK):
                # Every write has a slot of its own (paths.rename_plain, Elaborator.slot):
                # without renaming, an older load executed late would overwrite a newer one.
                assert later.reg not in defs, f"thread {name!r}: register slot {later.reg} written twice"
                if later.reg:
                    defs[later.reg] = j
        # herd's pick-lob (pick-dep; lob; [W]): a store ordered after an access ordered
        # after its picks is ordered after those picks too.  Closure over ``precede``.
        closure = [0] * len(instrs)
        for j in range(start, stop):
            c = self.precede[j]
            m = self.precede[j]
            while m:
                low = m & -m
                i = low.bit_length() - 1
                c |= closure[i]
                m ^= low
            closure[j] = c
            if instrs[j].op == "STR":
                extra = 0
                m = c
                while m:
                    low = m & -m
                    i = low.bit_length() - 1
                    extra |= picks_of.get(i, 0)
                    m ^= low
                if extra & ~self.precede[j]:
                    self.precede[j] |= extra
                    closure[j] |= extra
        for j in range(start, stop):
            instr = instrs[j]
            if instr.op != "LDR":
                continue
            self.stores_before[j] = tuple(
                i for i in range(j - 1, start - 1, -1)
                if instrs[i].op == "STR" and self._may_alias(i, j)
            )
            after: list[tuple[int, tuple[int, ...]]] = []
            for k in range(j + 1, stop):
                # (a later load, or a poll that exits on one value: _must_precede)
                polls = instrs[k].op == "AWAIT" and not instrs[k].at_least
                if (instrs[k].op != "LDR" and not polls) or not self._may_alias(j, k):
                    continue
                between = tuple(
                    s for s in range(j + 1, k)
                    if instrs[s].op == "STR" and self._may_alias(j, s)
                )
                after.append((k, between))
            self.later_loads[j] = tuple(after)
        for j in range(start, stop):
            instr = instrs[j]
            if instr.op == "STR" and not instr.loc and any(instrs[k].op == "LDR" for k in range(j + 1, stop)):
                raise ScenarioError(
                    f"thread {name!r}: a load after a store whose address is computed at run "
                    "time is not modelled yet (it needs Flat's restart of a load satisfied "
                    "before an earlier store's address is known)",
                    _where(instr),
                )

    def _may_alias(self, i: int, j: int) -> bool:
        """Whether accesses ``i`` and ``j`` may be to one location: a translated one may
        be to any (its physical location is known only once translated, mmu.py)."""
        return self.translated[i] or self.translated[j] or _may_alias(self.instrs[i], self.instrs[j])

    def ready(self, pc: int, ahead: int, j: int) -> bool:
        """Whether instruction ``j`` (after ``pc``, not yet executed) may execute now:
        every earlier instruction that must precede it has executed.  ``ahead`` has
        bit ``k`` set for each instruction ``k > pc`` already executed."""
        done = ahead | ((1 << pc) - 1)
        return not self.precede[j] & ~done


def _may_alias(a: Instr, b: Instr) -> bool:
    """Whether two accesses may be to one location (a location computed at run time
    may be any)."""
    return not a.loc or not b.loc or a.loc == b.loc


def _where(instr: Instr) -> Position | None:
    return Position(instr.source or "<program>", instr.line, instr.column) if instr.line else None
