"""Shareability domains of barriers: what the model does with NSH, ISH and OSH.

B2.6.10 (Shareability and access limitations on the data barrier operations): a DMB
or DSB names the domain it operates over, Full system (SY), Outer Shareable (OSH),
Inner Shareable (ISH) or Non-shareable (NSH), and orders accesses only for the
observers in that domain.  The model's domains:

- every PE is in one Inner Shareable domain.  The architecture assumes this of the
  PEs that one operating system or hypervisor runs on (B2.10.1.1 Shareable Normal
  memory), and the formal model of B2.3 is stated for it (B2.3: "All PEs are part of
  the same Inner Shareable domain ... as long as no barriers or TLB invalidations
  specify the Non-shareable domain").  So ISH and OSH barriers act like SY among PEs;
- DMA masters are outside that domain (B2.10.1.1.1 Note: "The Inner Shareable domain
  is expected to be the set of PEs controlled by a single hypervisor or operating
  system") and inside the PEs' Outer Shareable domain (Model: the domains are system
  specific; B2.6.10 Note: "The distinction between Full system and Outer Shareable is
  applicable only for Normal Non-cacheable memory accesses and Device memory
  accesses"; printed with every verdict that has a DMA master).  So an ISH barrier,
  ``DMB ISH[ST]`` or ``DSB ISH[ST]``, orders a PE's stores for the other PEs only, and
  an OSH or SY one for the DMA masters too (``reaches_dma``).  A store, DC or set/way
  operation that changes what a DMA master reads at a watched location (``DmaWatch``)
  completes in two steps: first for the PEs (memory and caches change; the buffer keeps,
  in its place, a ``STORE_DMA_LATE`` record per location holding the value the DMA
  masters still read), then for the DMA masters (B2.6.9: a DSB completes maintenance
  "for the set of observers in the required shareability domain").  An
  ISH-only barrier's marker and a ``DSB ISH[ST]`` wait for the first step only; an
  OSH or SY one, and ``SIGNAL`` (a kick), for both (``buffer.py``, ``execute.py``).
  A release store (``STLR``) is Barrier-ordered-after earlier accesses for the PEs'
  domain only (B2.3 is stated for it), so it waits for the first step only.  For the
  same reason a ``DMB ISH[LD]`` does not order a PE's later load of a location a DMA
  master writes after its earlier loads (``DmaWatch.relax_loads``), while a ``DMB OSH[LD]``
  (Linux's dma_rmb) does;
- a ``DMB`` that names the Non-shareable domain orders nothing for any other observer
  (the PE's own loads already read its own stores in program order), so it leaves no
  marker in the buffer (``orders_others``);
- a ``DSB`` that names the Non-shareable domain orders nothing for other observers
  either, and waits only for the PE's own maintenance: TLB maintenance that is not
  broadcast (D8.17 R_PSMWS: "A DSB NSH is sufficient to ensure completion of TLB
  maintenance instructions that apply to a single PE"), ``IC IALLU``, ``DC`` by VA to
  Non-shareable memory and set/way operations (``nsh_dsb_waits_for``).  Its stores may
  still be buffered after it, so the PE's own walker may see them late: more
  executions, never fewer (the formal model of B2.3 does not cover NSH at all).

An ISH ``DSB`` and an acquire order a PE's later loads of what a DMA master writes only
for the PEs too (B2.6.9: a DSB completes "for the set of observers in the required
shareability domain"; B2.3 states the acquire orders for the Inner Shareable domain), so
such a load may be satisfied before them (``DmaWatch.relax_loads``).

What stays stronger than the Arm ARM is printed (``assumption``): a ``DSB ISH`` with cache
maintenance before it in the out-of-order window, and an ISH ``DMB``'s marker left by the
PE's own stores (for a load that something else orders after the barrier), still order
a PE's loads of what a DMA master wrote as if they were OSH, and a store reaches the DMA masters together with
the PEs where a DMA master writes its location, masters of both kinds read it, the
program has atomics, or another PE's store to it has not reached them yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from stalecheck.machine.isa import ACQUIRE, ACQUIRE_PC, Instr
from stalecheck.machine.layout import Layout
from stalecheck.machine.spec import Context
from stalecheck.machine.state import (
    DCVA,
    IC_ENTRY,
    IC_IALLU,
    SETWAY,
    STORE,
    STORE_DMA_LATE,
    TLBI_ENTRY,
    Entry,
)

NON_SHAREABLE = ("NSH", "NSHST", "NSHLD")
INNER_ONLY = ("ISH", "ISHST", "ISHLD")
_CMOS = ("DC", "DCSW", "IC")  # cache maintenance (ordering.py)
INNER_OUTER = ("ISH", "ISHST", "ISHLD", "OSH", "OSHST", "OSHLD")


def reaches_dma(option: str) -> bool:
    """Whether a ``DMB`` or ``DSB <option>`` orders accesses for the DMA masters: those of
    the Outer Shareable and Full system domains do, the PEs' Inner Shareable one does
    not (B2.6.10; B2.10.1.1.1)."""
    return option not in NON_SHAREABLE and option not in INNER_ONLY


class _Window(Protocol):
    """What ``DmaWatch.relax_loads`` needs of ``ordering.Window`` (which imports this module)."""

    instrs: list[Instr]
    precede: list[int]


class DmaWatch:
    """The locations whose stores a DMA master may see later than the PEs do: each is
    read by DMA masters of one kind (all I/O-coherent or all not) outside the PEs' Inner
    Shareable domain, and written by no DMA master (Model: otherwise every store reaches
    them at once; printed).  A master inside the domain (``Builder.device(...,
    inner_shareable=True)``) reads what the PEs read.  Empty without a DMA
    master, and with atomics (their reservations count buffered stores, atomic.py)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        readers: dict[tuple[int, int], set[bool]] = {}
        written: set[tuple[int, int]] = set()
        devices = [t for t, spec in enumerate(layout.threads) if spec.context == Context.DEVICE]
        for t in devices:
            for i in layout.programs[t]:
                instr = layout.code[i]
                if not instr.loc or instr.loc not in layout.locations:
                    continue
                where = layout.loc_index(instr.loc)
                if instr.op == "STR":
                    written.add(where)
                elif instr.op in ("LDR", "AWAIT") and not layout.threads[t].inner:
                    readers.setdefault(where, set()).add(layout.threads[t].coherent)
        atomics = any(i.flags for i in layout.code.values())
        # location -> whether its readers are I/O-coherent (they see the coherent value)
        self.coherent: dict[tuple[int, int], bool] = {}
        if not atomics:
            self.coherent = {w: k.pop() for w, k in readers.items() if len(k) == 1 and w not in written}
        self.active = bool(self.coherent)
        self.offsets: dict[int, tuple[int, ...]] = {}  # line -> its watched offsets
        for line, offset in sorted(self.coherent):
            self.offsets[line] = (*self.offsets.get(line, ()), offset)

    def relax_loads(self, windows: Sequence[_Window | None]) -> None:
        """An ISH barrier or an acquire orders a PE's loads for the observers of the Inner
        Shareable domain only (B2.6.10, B2.6.2, B2.6.9; B2.3: the formal model, acquires
        included, is stated for that domain): a later load of a location a DMA master
        outside it writes (or of one computed at run time) may be satisfied before a
        ``DMB ISH[LD]``, a ``DSB ISH[LD|ST]`` or an earlier ``LDAR``/``LDAPR``/``AWAITA``,
        and so before the loads ahead of it (Linux orders them with dma_rmb(), DMB OSHLD).
        Only the barrier's or acquire's own bit goes: it carries no register dependency,
        and the other orders of the load stay (ordering.py).  Model: a DSB with cache
        maintenance before it in the window keeps its order (printed)."""
        layout = self.layout
        written = {
            layout.code[i].loc
            for t, spec in enumerate(layout.threads)
            if spec.context == Context.DEVICE and not spec.inner
            for i in layout.programs[t]
            if layout.code[i].op == "STR"
        }
        if not written:
            return
        for window in windows:
            if window is None:
                continue
            barriers = 0
            maintenance = False
            for j, instr in enumerate(window.instrs):
                op = instr.op
                if op in _CMOS:
                    maintenance = True
                if op == "DMB" and instr.kind in ("ISH", "ISHLD"):
                    barriers |= 1 << j
                elif op == "DSB" and instr.kind in INNER_ONLY and not maintenance:
                    barriers |= 1 << j  # B2.6.9: it completes for the Inner Shareable domain only
                elif op in ("LDR", "AWAIT") and (not instr.loc or instr.loc in written):
                    window.precede[j] &= ~barriers
                if op in ("LDR", "AWAIT") and instr.kind in (ACQUIRE, ACQUIRE_PC):
                    barriers |= 1 << j  # B2.3.7's acquire order, for the PEs' domain (B2.3)

    def late_value(self, bufs: tuple[tuple[Entry, ...], ...], line: int, offset: int) -> int | None:
        """What a DMA master still reads at the location while a store to it is performed
        for the PEs only: the value before the oldest such store, or None."""
        for buf in bufs:
            for entry in buf:
                if entry[0] == STORE and entry[5] & STORE_DMA_LATE and entry[1:3] == (line, offset):
                    return entry[3]
        return None


def orders_others(option: str) -> bool:
    """Whether a ``DMB`` or ``DSB <option>`` orders anything for other observers (B2.6.10)."""
    return option not in NON_SHAREABLE


def nsh_dsb_waits_for(entry: Entry) -> bool:
    """Whether a ``DSB NSH`` waits for a buffered entry: the PE's own maintenance only."""
    kind = entry[0]
    if kind == TLBI_ENTRY:
        return not entry[1]  # not broadcast
    if kind == IC_ENTRY:
        return entry[1] == IC_IALLU
    if kind == DCVA:
        return not entry[5]  # scope_all = 0: Non-shareable memory
    return kind == SETWAY


def assumption(code: Iterable[Instr], devices: bool) -> str | None:
    """The printed assumption for the barriers in ``code`` (every instruction the
    explored machine interned, policy code included), or None without a DMA master."""
    if not devices:
        return None
    barriers = sorted({f"{i.op} {i.kind}" for i in code if i.op in ("DMB", "DSB") and i.kind in INNER_OUTER})
    used = f" (here: {', '.join(barriers)})" if barriers else ""
    return (
        "shareability domains: the PEs share one Inner Shareable domain, DMA masters are outside "
        f"it (unless declared inner_shareable) and inside the Outer Shareable one{used}, so ISH "
        "barriers order a PE's stores for "
        "the PEs only and OSH/SY ones for DMA masters too (B2.6.10, B2.10.1.1.1: system specific). "
        "ISH barriers and acquires do not order a PE's loads of what a DMA master writes "
        "(B2.6.9, B2.3). Stronger than the Arm ARM: a DSB ISH after cache maintenance in the "
        "out-of-order window, and a DMB ISH's marker after the PE's own stores for a load "
        "ordered after it otherwise, still order such loads; a store reaches DMA "
        "masters when it reaches the PEs if a DMA master writes its location, masters of both "
        "kinds read it, the program has atomics, or another PE's store to it has not reached them"
    )
