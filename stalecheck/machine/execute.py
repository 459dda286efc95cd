"""Execution of instructions: how many ways a thread's next instruction can run, and its effect.

Buffered instructions (stores, ``DC``, set/way, ``DMB`` markers; ``TLBI`` and
``IC`` in ``mmu.py``) only enter the PE's buffer here; they take effect when
they complete (``complete.py``).  A guest instruction that traps runs the VM's
policy at EL2 instead (``traps.py``); a DMA master performs each access when it
issues it.
"""

from __future__ import annotations

from collections.abc import Callable

from stalecheck.machine import atomic, buffer, caches, rfco
from stalecheck.machine.access import Access
from stalecheck.machine.isa import ACQUIRE, ACQUIRE_PC, RELEASE, Instr, awaits
from stalecheck.machine.layout import Layout
from stalecheck.machine.maintenance import dc_entry, setway_entry
from stalecheck.machine.memtypes import INNER_CACHEABLE_PATHS
from stalecheck.machine.mmu import Mmu
from stalecheck.machine.ordering import REORDERABLE, Window
from stalecheck.machine.paths import AMO_AL, RMW_READ, RMW_WRITE
from stalecheck.machine.regexpr import Eval, Expr, compile_expr
from stalecheck.machine.regimes import DATA_OPS
from stalecheck.machine.shareability import nsh_dsb_waits_for, orders_others
from stalecheck.machine.spec import Context, hcr_bit
from stalecheck.machine.state import (
    STORE,
    STORE_ATOMIC,
    STORE_RELEASE,
    Entry,
    State,
    StoreEntry,
    Thread,
    sctlr_bits,
    with_entry,
    with_thread,
)
from stalecheck.machine.sysregs import synchronise, write_sctlr
from stalecheck.machine.translation import desc_oa, desc_type, is_fault
from stalecheck.machine.traps import Traps

FULL_BARRIERS = ("SY", "ISH", "OSH", "NSH")
STORE_BARRIERS = ("ST", "ISHST", "OSHST", "NSHST")


class Execute:
    """The program steps of one variant."""

    def __init__(self, layout: Layout, access: Access, traps: Traps, mmu: Mmu | None) -> None:
        self.layout = layout
        self.access = access
        self.traps = traps
        self.mmu = mmu
        # Out-of-order execution inside a PE (machine/ordering.py), per CPU thread; the
        # same tables serve threads with paths (machine/paths.py) executing in order.
        options = layout.spec.options
        self._weak = options.weak_ordering
        self._setway_in_order = options.setway_program_order
        self.windows: tuple[Window | None, ...] = tuple(
            Window(
                layout.code,
                prog,
                spec.name,
                line_of=layout.line_of,
                precise={j for j, i in enumerate(prog) if traps.may_trap(t, layout.code[i])},
                setway_in_order=options.setway_program_order,
                spans=tuple((s.start, s.stop) for s in spans),
                is_va=_is_va_of(mmu, t),
                uncached_line=_uncached_lines(layout, access, t),
            )
            if spec.context != Context.DEVICE and (options.weak_ordering or spec.source)
            else None
            for t, (spec, prog, spans) in enumerate(
                zip(layout.threads, layout.programs, layout.paths, strict=True)
            )
        )
        self._weak = layout.spec.options.weak_ordering
        # Threads with ASSUME checks to settle after each of their steps (paths.py).
        self._checks = tuple(w is not None and bool(w.assumes) for w in self.windows)
        # The register slot each load of each program writes (read-read coherence check).
        self._dest = tuple(
            tuple(layout.regs[t].get(layout.code[i].reg, -1) for i in prog)
            for t, prog in enumerate(layout.programs)
        )
        self._fns: dict[tuple[int, int, int], Eval] = {}
        # Read-from and coherence order for litmus execution counts (rfco.py), when
        # ``Options.record_executions`` is on (set by system.py).
        self.tracker: rfco.RfCo | None = None

    # ---- registers and locations (machine/regexpr.py) -----------------------------------

    def _fn(self, t: int, j: int, which: int, expr: Expr) -> Eval:
        key = (t, j, which)
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = compile_expr(expr, self.layout.regs[t])
        return fn

    def where(self, th: Thread, t: int, j: int, instr: Instr) -> tuple[int, int] | None:
        """The location an access goes to: fixed, or computed from its address registers
        (None when the value there is not a location's address: that access cannot run,
        as herd refuses an execution that reaches one)."""
        if instr.loc:
            return self.layout.loc_index(instr.loc)
        value = self._fn(t, j, 0, instr.addr)(th.regs)
        return self.layout.value_locs.get(value)

    def store_value(self, th: Thread, t: int, j: int, instr: Instr) -> int:
        if instr.data:
            return self._fn(t, j, 1, instr.data)(th.regs)
        if instr.reg:
            return th.regs[self.layout.regs[t][instr.reg]]
        return instr.value

    def holds(self, th: Thread, t: int, j: int, instr: Instr) -> bool:
        """Whether an ASSUME's guess agrees with the values the thread's loads returned."""
        return bool(self._fn(t, j, 1, instr.data)(th.regs))

    def choices(self, state: State, t: int) -> int:
        """How many ways thread ``t`` can execute its next instruction now (0: blocked)."""
        instr = self.layout.current(state, t)
        if instr is None:
            return 0
        th = state.threads[t]
        op = instr.op
        if op == "WAIT":
            return 1 if state.events & self.layout.events[instr.loc] else 0
        if op == "PATHS":
            return instr.value
        if op == "ASSUME":
            return int(self.holds(th, t, th.pc, instr))
        if op == "STR" and not instr.loc and not th.hyp and self.where(th, t, th.pc, instr) is None:
            return 0
        if th.pe < 0:
            if op == "AWAIT":  # a polling loop: it leaves only once it reads the value
                return int(any(awaits(instr, v) for v in self.access.device_load_values(state, t, instr)))
            return len(self.access.device_load_values(state, t, instr)) if op == "LDR" else 1
        buf = state.bufs[th.pe]
        if op == "DSB":
            return int(self._dsb_done(instr, buf))
        if op == "SIGNAL":
            return 0 if buffer.has_stores(buf) else 1
        if self.mmu is not None and self.mmu.handles(t, instr):
            if self.traps.trap(state, t, instr) is not None:
                return 1
            if op == "LDR" and _load_held(instr, buf):
                return 0  # as an untranslated load: behind a full DMB, or an acquire behind a release
            if op in DATA_OPS and self._weak and not th.hyp and self.windows[t] is not None:
                # read-read coherence with later loads satisfied out of order (_corr)
                return len(self._xlate_outcomes(state, t, th.pc, instr))
            return self.mmu.choices(state, t, instr)
        if op == "LDR":
            if _load_held(instr, buf):
                return 0
            if self.traps.trap(state, t, instr) is not None:
                return 1
            return len(self.load_values(state, t, instr, -1 if th.hyp else th.pc))
        if op == "AWAIT":  # each failed poll is a load with no effect, so only the exit is a step
            if _load_held(instr, buf):
                return 0
            if self.traps.trap(state, t, instr) is not None:
                return 1
            return int(self._leaves(state, t, instr))
        return 1

    def _leaves(self, state: State, t: int, instr: Instr) -> bool:
        """Whether a poll of the ``AWAIT`` ``instr`` would now read a value that exits the loop."""
        return any(awaits(instr, v) for v in self.access.load_values(state, t, instr))

    def load_values(self, state: State, t: int, instr: Instr, index: int) -> tuple[int, ...]:
        """Values the load at program index ``index`` (-1: policy code) may return.

        A load after a store of its location that has not executed yet reads that
        store's data, once known (forwarding, as Flat allows from a po-earlier write not
        yet propagated: B2.3.1 Coherence-before; a load never reads a write coherence-
        before a po-earlier write to its location).  An acquire does not take the write
        of an atomic before its read is satisfied (B2.3.7 Atomic-ordered-before, herd's
        aob ``rmw; lmrs; [A|Q]``).  With out-of-order execution, a po-later load of the
        same location, with no store to it between, already satisfied fixes the value:
        B2.3.1 Coherence order, read-read coherence (CoRR) - Flat would restart the
        later load; here the earlier one may only read what it read, and the schedule
        where the later load is satisfied afterwards covers the rest."""
        window = self.windows[t]
        if window is None or index < 0:
            return self.access.load_values(state, t, instr)
        th = state.threads[t]
        where = self.where(th, t, index, instr)
        if where is None:
            return ()
        line, offset = where
        instrs = window.instrs
        fwd = self.forwarder(th, t, instr, index, where)
        if fwd == -2:
            return ()
        if fwd >= 0:
            values: tuple[int, ...] = (self.store_value(th, t, fwd, instrs[fwd]),)
        else:
            values = self.access.values_at(state, t, line, offset, self.access.access_type(state, t, line))
        for k, between in window.later_loads[index]:
            if not th.ahead >> k & 1 or self._loc(th, t, k, instrs[k]) != where:
                continue
            if any(self._loc(th, t, s, instrs[s]) == where for s in between):
                continue
            need = self._read(th, t, k)
            values = tuple(v for v in values if v == need)
            # Counting executions (rfco.py): the same write, not only the same value (two
            # writes of one value are two executions, and CoRR orders writes).
            tracker = self.tracker
            if values and tracker is not None and tracker.source(state, t, th, index, fwd) != th.trace[k]:
                return ()
        return values

    def forwarder(self, th: Thread, t: int, instr: Instr, index: int, where: tuple[int, int]) -> int:
        """The program-order earlier store of the location, not executed yet, that the load
        at ``index`` reads from (``load_values``); -1 when the latest earlier store to the
        location has executed (or there is none): the load reads as usual; -2 when it
        cannot be satisfied yet (that store's data is not known, or it is an atomic's
        write whose read has not been satisfied and the load is an acquire)."""
        window = self.windows[t]
        assert window is not None
        done = th.ahead | ((1 << th.pc) - 1)
        instrs = window.instrs
        for s in window.stores_before[index]:
            store = instrs[s]
            loc = self._loc(th, t, s, store)
            if done >> s & 1:
                if loc == where:
                    return -1  # the latest earlier store to the location has executed: read as usual
                # (a translated store executed keeps no location: had it gone here, every
                # earlier store here would have executed before it, so the answer is -1 too)
                continue
            if loc is None and window.translated[s]:
                return -2  # a translated store whose walk is not made yet (``_passes``)
            if loc != where:
                continue
            if window.data_loads[s] & ~done:
                return -2  # its data is not known yet
            pair = window.pair_read[s]
            if instr.kind in (ACQUIRE, ACQUIRE_PC) and pair >= 0 and not done >> pair & 1:
                return -2
            return s
        return -1

    def _pending(self, state: State, t: int, th: Thread, index: int, where: tuple[int, int]) -> int:
        """How many of the PE's own stores to ``where`` must propagate before the write an
        atomic read just took is the newest (machine/atomic.py)."""
        line, offset = where
        n = sum(1 for e in state.bufs[th.pe] if e[0] == STORE and e[1] == line and e[2] == offset)
        window = self.windows[t]
        if window is not None and index >= 0:
            done = th.ahead | ((1 << th.pc) - 1)
            n += sum(
                1 for s in window.stores_before[index]
                if not done >> s & 1 and self._loc(th, t, s, window.instrs[s]) == where
            )
        return n

    def _store_ready(self, th: Thread, t: int, j: int, window: Window) -> bool:
        """A store waits for an earlier load of its location whose address was computed
        at run time (its address is known by now: ordering.py orders a store after the
        address dependencies of every earlier access)."""
        instr = window.instrs[j]
        where = self.where(th, t, j, instr)
        if where is None:
            return False
        done = th.ahead | ((1 << th.pc) - 1)
        for i in range(th.pc, j):
            other = window.instrs[i]
            unknown = other.op == "LDR" and not other.loc and not done >> i & 1
            if unknown and self.where(th, t, i, other) == where:
                return False
        return True

    def early(self, state: State, t: int) -> list[tuple[int, int]]:
        """Instructions after thread ``t``'s oldest unexecuted one that may execute now,
        each with its number of ways (machine/ordering.py)."""
        window = self.windows[t]
        th = state.threads[t]
        if window is None or th.hyp or th.fault or th.pe < 0:
            return []
        out: list[tuple[int, int]] = []
        code = self.layout.code
        prog = self.layout.programs[t]
        if th.pc >= len(prog) or code[prog[th.pc]].op in ("PATHS", "END"):
            return out  # a path is chosen first; an END is the end of the thread's path
        buf = state.bufs[th.pe]
        mmu = self.mmu
        for j in range(th.pc + 1, window.n):
            if th.ahead >> j & 1:
                continue
            instr = code[prog[j]]
            if instr.op not in REORDERABLE:
                break  # a sequence point: nothing after it passes it
            if not window.ready(th.pc, th.ahead, j):
                continue
            if self.traps.trap(state, t, instr) is not None:
                continue  # a trapping instruction waits until it is the oldest
            op = instr.op
            if mmu is not None:
                if not self._passes(th, t, window, j, instr):
                    continue
                if mmu.handles(t, instr):  # a translated access, TLBI or IC (mmu.py)
                    if op in DATA_OPS:
                        if op == "LDR" and _load_held(instr, buf):
                            continue
                        n = len(self._xlate_outcomes(state, t, j, instr))
                        if n:
                            out.append((j, n))
                    elif op != "EXEC" or mmu.fetch_ready(state, t, j, instr):
                        out.append((j, 1))
                    continue
            if op == "LDR":
                if _load_held(instr, buf):
                    continue
                n = len(self.load_values(state, t, instr, j))
                if n:
                    out.append((j, n))
            elif op == "ASSUME":
                continue  # checked as soon as it can be (settle)
            elif op == "STR":
                if self._store_ready(th, t, j, window):
                    out.append((j, 1))
            elif op == "DSB":
                if self._dsb_done(instr, buf):
                    out.append((j, 1))
            elif op == "AWAIT":
                if not _load_held(instr, buf) and self._leaves(state, t, instr):
                    out.append((j, 1))
            elif op == "WAIT":
                if state.events & self.layout.events[instr.loc]:
                    out.append((j, 1))
            else:
                out.append((j, 1))
        return out

    # ---- out-of-order execution with the translation model -------------------------------

    @staticmethod
    def _made(th: Thread, index: int) -> int | None:
        """The non-faulting translation made ahead for the access at ``index`` (mmu.py
        ``XLATE``), which it will use when it executes; None if there is none yet."""
        for at, result in th.early:
            if at == index:
                return None if is_fault(result) else result
        return None

    def _pa(self, th: Thread, t: int, index: int, instr: Instr) -> tuple[int, int] | None:
        """The physical location an access goes to, if known now: a translated one only
        once its translation has been made ahead (or, executed ahead, while an earlier
        load may still need it for read-read coherence: mmu.py ``keep``)."""
        window = self.windows[t]
        assert window is not None and self.mmu is not None
        if not window.translated[index]:
            return self.where(th, t, index, instr)
        made = self._made(th, index)
        return None if made is None else (self.mmu.regimes.page_lines[desc_oa(made)][0], 0)

    def _loc(self, th: Thread, t: int, index: int, instr: Instr) -> tuple[int, int] | None:
        """Where the access at ``index`` goes (``where``), by its translation when it is
        translated (``_pa``)."""
        window = self.windows[t]
        if window is not None and window.translated[index]:
            return self._pa(th, t, index, instr)
        return self.where(th, t, index, instr)

    def _passes(self, th: Thread, t: int, window: Window, j: int, instr: Instr) -> bool:
        """Whether instruction ``j`` may execute before the unexecuted translated accesses
        program-order before it (the static rules of ordering.py hold already).

        - A translated access may still fault (its walk is not made yet) and exceptions
          are precise, so only a plain load, which is undone if the fault is taken
          (mmu.py), passes one whose translation is not made yet.  That also keeps
          B2.3.2's Local memory write successor: a po-later store to a table entry cannot
          be seen by the walk of an earlier instruction.
        - A store and another access pass each other only when both physical locations
          are known and differ (B2.3.1 Coherence order); a load passes a store to its
          own physical location by forwarding from it (``forwarder``) and an earlier load
          keeps read-read coherence (``load_values``, ``_corr``); a translated ``j``'s
          own location is checked per translation (``_xlate_outcomes``)."""
        done = th.ahead | ((1 << th.pc) - 1)
        plain_load = instr.op in ("LDR", "AWAIT") and not instr.flags & RMW_READ
        mine = window.translated[j]
        target = None if mine or instr.op not in ("LDR", "STR", "AWAIT") else self.where(th, t, j, instr)
        dc_line = self.layout.line_of(instr.loc) if instr.op == "DC" else -1
        for i in range(th.pc, j):
            if done >> i & 1 or not window.may_fault[i]:
                continue
            made = self._made(th, i)
            if made is None and not plain_load:
                return False
            if made is None and mine and window.instrs[i].loc == instr.loc:
                # B2.3.7 TLBI-ordered-before: an earlier access through the same VA is
                # ordered before what a TLBI completed after the later one's walk orders,
                # so it may not take a translation made after that TLBI: the later access
                # passes it only once its walk is made (kept past a TLBI, mmu.py).  Model:
                # stronger only where the earlier walk would be made after the later
                # access executes with no TLBI between (printed).
                return False
            if not window.translated[i]:
                continue  # a fetch: no data location
            other = window.instrs[i]
            if dc_line >= 0:
                # D7.5.9.15: a DC by VA executes in program order with the loads and stores
                # to its cache line of Normal Inner cacheable memory (the translated access's
                # line and type are known once its walk is).
                pa = self._pa(th, t, i, other)
                if pa is None or (pa[0] == dc_line and _inner_cacheable(made)):
                    return False
                continue
            if mine or target is None or "STR" not in (other.op, instr.op):
                continue
            pa = self._pa(th, t, i, other)
            if pa is None or (pa == target and instr.op != "LDR"):
                return False
        return True

    def _xlate_outcomes(self, state: State, t: int, j: int, instr: Instr) -> list[tuple[int, int]]:
        """The (translation, value) outcomes with which the translated access ``j`` may
        execute now, in order or out of order.

        Out of order: none that faults (a fault is taken only by the oldest instruction:
        exceptions are precise); a store at none of the physical locations of the earlier
        unexecuted accesses (B2.3.1 Coherence order: stores in order, and a load never
        reads a po-later write), which must be known; a load at the location of an earlier
        unexecuted store reads that store's data (forwarding, as ``forwarder`` does by
        name), once known.  In order or not, a load keeps read-read coherence with the
        later loads of its location already satisfied (``_corr``).  So accesses through
        one virtual address, or through aliases, reorder as accesses to one location do."""
        assert self.mmu is not None
        th = state.threads[t]
        window = self.windows[t]
        assert window is not None
        done = th.ahead | ((1 << th.pc) - 1)
        load = instr.op == "LDR"
        avoid: set[tuple[int, int]] = set()
        avoid_lines: set[int] = set()
        stores: list[tuple[int, tuple[int, int]]] = []  # (index, location), latest first
        for i in range(j - 1, th.pc - 1, -1):
            other = window.instrs[i]
            if done >> i & 1:
                continue
            if other.op == "DC":  # D7.5.9.15: in program order with accesses to its line
                avoid_lines.add(self.layout.line_of(other.loc))
                continue
            if other.op not in ("LDR", "STR", "AWAIT") or (load and other.op != "STR"):
                continue
            pa = self._pa(th, t, i, other)
            if pa is None:
                return []
            if load:
                stores.append((i, pa))
            else:
                avoid.add(pa)
        lines = self.mmu.regimes.page_lines
        out: list[tuple[int, int]] = []
        for r, v in self.mmu.data_outcomes(state, t, instr, j):
            if is_fault(r):
                if j == th.pc:
                    out.append((r, v))
                continue
            line = lines[desc_oa(r)][0]
            where = (line, 0)
            if where in avoid or (line in avoid_lines and _inner_cacheable(r)):
                continue  # (D7.5.9.15: a Device or Inner Non-cacheable access passes a DC)
            if load:
                fwd = next((i for i, pa in stores if pa == where), -1)
                if fwd >= 0:
                    if window.data_loads[fwd] & ~done:
                        continue  # the store's data is not known yet
                    v = self.store_value(th, t, fwd, window.instrs[fwd])
                if not self._corr(th, t, j, where, v):
                    continue
            if (r, v) not in out:
                out.append((r, v))
        return out

    def _corr(self, th: Thread, t: int, j: int, where: tuple[int, int], value: int) -> bool:
        """Whether the translated load ``j`` may read ``value`` at ``where``: B2.3.1
        read-read coherence (CoRR) with each po-later load already satisfied at the same
        physical location with no store to it between (``load_values`` does the same by
        location).  A store between that has executed went elsewhere: it passed ``j``
        only once ``j``'s location was known and differed (``_xlate_outcomes``, ``_passes``)."""
        window = self.windows[t]
        assert window is not None
        if not th.ahead:
            return True
        done = th.ahead | ((1 << th.pc) - 1)
        instrs = window.instrs
        for k, between in window.later_loads[j]:
            if not th.ahead >> k & 1 or self._loc(th, t, k, instrs[k]) != where:
                continue
            if any(not done >> s & 1 and self._loc(th, t, s, instrs[s]) == where for s in between):
                continue
            if self._read(th, t, k) != value:
                return False
        return True

    def _read(self, th: Thread, t: int, k: int) -> int:
        """The value the load ``k``, satisfied ahead, read: its register, or for a poll
        ``AWAIT x, v`` (which exits only on v) that value."""
        instr = self.layout.code[self.layout.programs[t][k]]
        if instr.op == "AWAIT":
            return instr.value
        return th.regs[self._dest[t][k]]

    @staticmethod
    def _dsb_done(instr: Instr, buf: tuple[Entry, ...]) -> bool:
        """A DSB completes once the accesses of the types it names have completed
        (B2.6.9): earlier loads are satisfied before it executes (ordering.py)."""
        if not orders_others(instr.kind):  # the PE's own maintenance only (shareability.py)
            return not any(nsh_dsb_waits_for(e) for e in buf)
        if instr.kind in STORE_BARRIERS:
            return not buffer.has_stores(buf, instr.kind)  # in the DSB's domain (shareability.py)
        if instr.kind in FULL_BARRIERS:
            return buffer.performed(buf, instr.kind)
        return True

    def execute_early(self, state: State, t: int, j: int, choice: int) -> State:
        """Thread ``t`` executes instruction ``j`` ahead of its oldest unexecuted one."""
        th = state.threads[t]
        instr = self.layout.code[self.layout.programs[t][j]]
        state, new = self._issue(state, t, th, instr, choice, j)
        new = self._prune(new._replace(ahead=new.ahead | 1 << j), t)
        return self._settle(with_thread(state, t, new), t)

    def _prune(self, th: Thread, t: int) -> Thread:
        """Drop the translations kept for loads executed ahead (mmu.py ``keep``) once no
        earlier load is left unexecuted to check read-read coherence against them, so that
        states differing only in them are one."""
        if not th.early or self.mmu is None:
            return th
        done = th.ahead | ((1 << th.pc) - 1)
        if not any(done >> at & 1 for at, _ in th.early):
            return th
        window = self.windows[t]
        if window is None:
            return th
        instrs = window.instrs
        first = th.pc
        while first < window.n and (done >> first & 1 or instrs[first].op != "LDR"):
            first += 1
        return th._replace(early=tuple(e for e in th.early if not (done >> e[0] & 1 and e[0] < first)))

    def _settle(self, state: State, t: int) -> State:
        """Check every ASSUME of thread ``t`` whose values are known, at once.  An ASSUME
        has no effect but to let what waits for it go (ordering.py), so checking it as
        early as possible loses no execution and saves interleaving it."""
        window = self.windows[t]
        if window is None or not window.assumes:
            return state
        th = state.threads[t]
        start = th
        instrs = window.instrs
        weak = self._weak
        again = True
        while again:
            again = False
            j = th.pc
            while j < window.n and instrs[j].op != "END":
                instr = instrs[j]
                if instr.op == "ASSUME" and not th.ahead >> j & 1 and (j == th.pc or weak):
                    if window.ready(th.pc, th.ahead, j) and self.holds(th, t, j, instr):
                        th = _advance(th) if j == th.pc else th._replace(ahead=th.ahead | 1 << j)
                        again = True
                        break
                elif j == th.pc and not weak:
                    break
                j += 1
        return state if th is start else with_thread(state, t, th)

    def execute(self, state: State, t: int, choice: int) -> State:
        """Thread ``t`` executes its next instruction, the ``choice``-th way."""
        th = state.threads[t]
        instr = self.layout.current(state, t)
        assert instr is not None
        if th.pe < 0:
            return self._execute_device(state, t, instr, choice)
        if instr.op == "PATHS":  # the thread's first step: which path it runs
            return with_thread(state, t, th._replace(pc=self.layout.paths[t][choice].start))
        trap = self.traps.trap(state, t, instr)
        if trap is not None:
            emitted = self.traps.policy_code(trap)
            retry = trap.kind == "stage2-fault"
            th = synchronise(th)._replace(hyp=emitted, retry=int(retry))
            if not retry:
                th = _advance(th)
            if not emitted:  # nothing to run at EL2: immediate return (still a CSE)
                th = th._replace(retry=0)
            return with_thread(state, t, th)
        in_hyp = bool(th.hyp)
        state, th = self._issue(state, t, th, instr, choice, -1 if in_hyp else th.pc)
        if in_hyp:
            th = th._replace(hyp=th.hyp[1:])
            if not th.hyp:  # ERET: context synchronisation
                th = synchronise(th)._replace(retry=0)
        elif not (th.hyp or th.fault):  # an abort entered its handler or stopped the thread
            th = self._prune(_advance(th), t)
        state = with_thread(state, t, th)
        return self._settle(state, t) if self._checks[t] else state

    def _enter(self, state: State, pe: int, entry: Entry) -> State:
        """Put a store or maintenance entry in PE ``pe``'s buffer: appended, or with
        out-of-order execution at its canonical place among the entries it commutes with
        (``buffer.insert``)."""
        if not self._weak:
            return with_entry(state, pe, entry)
        bufs = state.bufs
        new = buffer.insert(bufs[pe], entry, self._setway_in_order)
        return state._replace(bufs=(*bufs[:pe], new, *bufs[pe + 1 :]))

    def _issue(
        self, state: State, t: int, th: Thread, instr: Instr, choice: int, index: int
    ) -> tuple[State, Thread]:
        """Issue one instruction (program index ``index``, -1 for policy code): the
        buffered ones enter the PE's buffer here and take effect when they complete
        (``complete.py``)."""
        lay = self.layout
        op = instr.op
        pe = th.pe
        if self.mmu is not None and self.mmu.handles(t, instr):
            ahead = index > th.pc
            value = None
            window = self.windows[t]
            if op == "STR" and index >= 0 and window is not None:
                value = self.store_value(th, t, index, instr)
            outcomes = None
            if op in DATA_OPS and index >= 0 and (ahead or (self._weak and window is not None)):
                outcomes = self._xlate_outcomes(state, t, index, instr)
            # A load executed ahead keeps its translation while an earlier load may still
            # need its location for read-read coherence (_corr; dropped by _prune).
            keep = ahead and op == "LDR"
            return self.mmu.execute(state, t, th, instr, choice, index, outcomes, value, self._enter, keep)
        if op == "LDR":
            value = self.load_values(state, t, instr, index)[choice]
            regs = th.regs
            r = lay.regs[t][instr.reg]
            loaded = th._replace(regs=(*regs[:r], value, *regs[r + 1 :]))
            if instr.flags & RMW_READ:  # machine/atomic.py
                where = self.where(th, t, index, instr)
                assert where is not None
                loaded = atomic.reserve(loaded, *where, self._pending(state, t, th, index, where))
            if self.tracker is not None and index >= 0:  # litmus execution counts (rfco.py)
                where = self.where(th, t, index, instr)
                assert where is not None
                source = self.forwarder(th, t, instr, index, where)
                loaded = self.tracker.read(state, t, loaded, index, source)
            return state, loaded
        if op == "STR":
            if index >= 0 and self.windows[t] is not None:
                where = self.where(th, t, index, instr)
                assert where is not None
                line, offset = where
                value = self.store_value(th, t, index, instr)
            else:
                line, offset = lay.loc_index(instr.loc)
                value = th.regs[lay.regs[t][instr.reg]] if instr.reg else instr.value
            mt = self.access.access_type(state, t, line)
            flags = int(mt.write_through) | (STORE_RELEASE if instr.kind == RELEASE else 0)
            if instr.flags & RMW_WRITE:
                flags |= STORE_ATOMIC
            attrs = mt.cacheability_key
            entry = StoreEntry(STORE, line, offset, value, mt.path, flags, attrs, lay.ids[instr])
            state = self._enter(state, pe, entry)
            if instr.flags & AMO_AL:
                # B2.3.7 Barrier-ordered-before: the write of an atomic with acquire and
                # release semantics is ordered before every later access, as a full DMB
                # after it would order them (later loads wait for it to propagate).
                marker = buffer.dmb_marker(state.bufs[pe], full=True)
                if marker is not None:
                    state = with_entry(state, pe, marker)
            return state, th
        if op == "DC":
            line = lay.line_of(instr.loc)
            under_stage2 = self.access.under_stage2(state, t)
            mt = self.access.access_type(state, t, line)
            dc = dc_entry(lay.h, instr.kind, line, mt, under_stage2, lay.ids[instr])
            self.access.check_invalidate(t, line, dc[1])
            return self._enter(state, pe, dc), th
        if op == "DCSW":
            line = lay.line_index[instr.loc]
            under_stage2 = self.access.under_stage2(state, t)
            setway = setway_entry(lay.h, pe, instr.kind, instr.level, line, under_stage2, lay.ids[instr])
            self.access.check_invalidate(t, line, setway[1])
            return self._enter(state, pe, setway), th
        if op == "DMB":
            if not orders_others(instr.kind):  # a Non-shareable DMB orders nothing (shareability.py)
                return state, th
            if instr.kind in FULL_BARRIERS or instr.kind in STORE_BARRIERS:
                domain = instr.kind if self.access.dma.active else "SY"  # shareability.py
                marker = buffer.dmb_marker(state.bufs[pe], instr.kind in FULL_BARRIERS, domain)
                if marker is not None:
                    return with_entry(state, pe, marker), th
            # DMB LD leaves no marker: it orders loads, which wait for it in the
            # window (ordering.py) and, executing in order, have already been satisfied.
            return state, th
        if op == "ISB":
            if index > th.pc:
                # Executed out of order: translations made ahead for the older instructions
                # not executed yet stay (the ISB synchronises the context of what follows it).
                kept = tuple(e for e in th.early if e[0] < index)
                return state, synchronise(th)._replace(early=kept)
            return state, synchronise(th)
        if op in ("MSR", "EMSR"):  # EMSR: the hypervisor emulating a trapped write, in effect at ERET
            return state, write_sctlr(th, instr.kind, instr.value)
        if op == "SIGNAL":
            return state._replace(events=state.events | lay.events[instr.loc]), th
        if op == "MAP":
            vi = lay.vm_index[lay.threads[t].vm]
            mapped = state.mapped
            bit = lay.page_bit[instr.loc]
            xn = bit << len(lay.pages)  # "mapped execute-never" bit of the page (MAP <page> XN)
            new = (mapped[vi] | bit | xn) if instr.kind == "XN" else ((mapped[vi] | bit) & ~xn)
            return state._replace(mapped=(*mapped[:vi], new, *mapped[vi + 1 :])), th
        if op == "HCR":
            vi = lay.vm_index[lay.threads[t].vm]
            hcr = state.hcr
            bit = hcr_bit(instr.kind)
            new = (hcr[vi] | bit) if instr.value else (hcr[vi] & ~bit)
            return state._replace(hcr=(*hcr[:vi], new, *hcr[vi + 1 :])), th
        # WAIT, DSB and NOP have no effect beyond being enabled; IC is a no-op without
        # the translation model (no instruction cache is modelled then).
        return state, th

    def _execute_device(self, state: State, t: int, instr: Instr, choice: int) -> State:
        """DMA masters have no buffer: each access is performed when issued."""
        lay = self.layout
        th = state.threads[t]
        if instr.op == "LDR":
            value = self.access.device_load_values(state, t, instr)[choice]
            r = lay.regs[t][instr.reg]
            th = th._replace(regs=(*th.regs[:r], value, *th.regs[r + 1 :]))
        elif instr.op == "STR":
            line, offset = lay.loc_index(instr.loc)
            value = th.regs[lay.regs[t][instr.reg]] if instr.reg else instr.value
            if lay.threads[t].coherent:
                copies, mem = caches.coherent_device_write(
                    state.copies, state.mem, lay.h, line, offset, value, lay.nl
                )
                state = state._replace(copies=copies, mem=mem)
            else:
                state = state._replace(mem=caches.bypass_write(state.mem, line, offset, value))
        elif instr.op == "SIGNAL":
            state = state._replace(events=state.events | lay.events[instr.loc])
        return with_thread(state, t, th._replace(pc=th.pc + 1))


def _is_va_of(mmu: Mmu | None, t: int) -> Callable[[str], bool] | None:
    """Whether a name is a virtual address of thread ``t``'s regime (None: no translation model)."""
    if mmu is None:
        return None
    regimes = mmu.regimes
    return lambda name: regimes.is_va(t, name)


def _inner_cacheable(result: int | None) -> bool:
    """Whether a translation gives Normal Inner Write-Through or Write-Back memory."""
    return result is not None and desc_type(result).path in INNER_CACHEABLE_PATHS


def _uncached_lines(layout: Layout, access: Access, t: int) -> Callable[[object], bool]:
    """Whether thread ``t``'s loads and stores to a line are never Normal Inner
    Write-Through or Write-Back (Device or Inner Non-cacheable: D7.5.9.15 lets them pass
    a DC of their line), under every SCTLR_EL1 and HCR_EL2 value the programs can set
    (every value of the bits that decide the type when any instruction writes them)."""
    spec = layout.threads[t]
    vi = layout.thread_vm[t]
    hcr0 = layout.vms[vi].hcr.to_int() if vi >= 0 else 0
    code = layout.code.values()
    sctlrs = range(8) if any(i.op in ("MSR", "EMSR") for i in code) else (sctlr_bits(*spec.sctlr),)
    type_bits = hcr_bit("DC") | hcr_bit("CD") | hcr_bit("FWB")
    if any(i.op == "HCR" for i in code):
        hcrs = tuple((hcr0 & ~type_bits) | b for b in range(type_bits + 1) if not b & ~type_bits)
    else:
        hcrs = (hcr0,)
    cache: dict[object, bool] = {}

    def uncached(line: object) -> bool:
        if line not in cache:
            assert isinstance(line, int)
            cache[line] = all(
                access.memory_type(t, False, s, h, line).path not in INNER_CACHEABLE_PATHS
                for s in sctlrs
                for h in hcrs
            )
        return cache[line]

    return uncached


def _load_held(instr: Instr, buf: tuple[Entry, ...]) -> bool:
    """A load (or a poll) waits behind a full DMB's marker (earlier stores and maintenance
    complete first), and a load-acquire behind an earlier release still in the buffer
    (B2.3.7 Barrier-ordered-before: release then acquire, RCsc)."""
    return buffer.loads_blocked(buf) or (instr.kind == ACQUIRE and buffer.has_release(buf))


def _advance(th: Thread) -> Thread:
    """The oldest instruction has executed: move ``pc`` past it and past every later
    instruction already executed out of order (``Thread.ahead``)."""
    pc = th.pc + 1
    ahead = th.ahead
    while ahead >> pc & 1:
        ahead ^= 1 << pc
        pc += 1
    return th._replace(pc=pc, ahead=ahead)
