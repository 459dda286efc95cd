"""Completion of buffered operations: a store or a cache maintenance op takes effect.

When an entry may complete is ``buffer.completable`` (the ordering rules); what
it does is defined once in ``caches.py`` (clean, invalidate, set/way, coherent
and non-cacheable writes) and, for ``TLBI`` and ``IC``, in ``mmu.py``.
"""

from __future__ import annotations

from stalecheck.machine import atomic, buffer, caches, shareability
from stalecheck.machine.layout import Layout
from stalecheck.machine.memtypes import PATH_CACHEABLE, PATH_NC
from stalecheck.machine.mmu import Mmu
from stalecheck.machine.rfco import RfCo
from stalecheck.machine.state import (
    DCVA,
    IC_ENTRY,
    OP_CLEAN,
    OP_INVAL,
    SETWAY,
    STORE,
    STORE_DMA_LATE,
    STORE_WT,
    TLBI_ENTRY,
    UNREAD,
    Entry,
    State,
    StoreEntry,
    Unread,
)


class Complete:
    """The buffer-completion steps of one variant."""

    def __init__(self, layout: Layout, mmu: Mmu | None) -> None:
        self.layout = layout
        self.mmu = mmu
        self.dma = shareability.DmaWatch(layout)  # stores a DMA master may see late
        # Whether any program has atomic pairs (machine/atomic.py) to keep reservations for.
        self._atomics = any(i.flags for i in layout.code.values())
        self.tracker: RfCo | None = None  # litmus execution counts (rfco.py; set by system.py)

    def complete(self, state: State, pe: int, index: int, bypass: int = 0) -> State:
        """A buffered store or CMO takes effect in the memory system.  ``bypass`` picks the
        Non-cacheable behaviour of a store whose type is an inner/outer mix (MemType.mixed)."""
        buf = state.bufs[pe]
        entry = buf[index]
        copies, mem = state.copies, state.mem
        kind = entry[0]
        if kind in (TLBI_ENTRY, IC_ENTRY) and self.mmu is not None:
            state = self.mmu.complete(state, pe, entry)
            copies, mem = state.copies, state.mem
        elif kind == STORE and entry[5] & STORE_DMA_LATE:
            # the second step: the DMA masters see it now (shareability.py)
            bufs = state.bufs
            return state._replace(bufs=(*bufs[:pe], buffer.remove(buf, index), *bufs[pe + 1 :]))
        elif kind in (STORE, DCVA, SETWAY):
            mem, copies = self.written(mem, copies, pe, entry, bypass)
        bufs = state.bufs
        new_buf = buffer.remove(buf, index)
        if self.dma.active and kind in (STORE, DCVA, SETWAY):
            # shareability.py: performed for the PEs first, for the DMA masters later
            late = self._late_for_dma(state, state._replace(copies=copies, mem=mem), entry)
            if late:
                new_buf = buffer.performed_for_pes(buf, index, late)
        state = state._replace(copies=copies, mem=mem, bufs=(*bufs[:pe], new_buf, *bufs[pe + 1 :]))
        if kind == STORE and self._atomics:
            state = atomic.propagated(state, pe, entry)
        if kind == STORE and self.tracker is not None:
            state = self.tracker.propagated(state, pe, entry, entry[7])
        return state

    def written(
        self, mem: caches.Memory, copies: caches.Copies, pe: int, entry: Entry, bypass: int
    ) -> tuple[caches.Memory, caches.Copies]:
        """The memory and copies after PE ``pe``'s buffered store, DC or set/way ``entry``
        takes effect (``complete``): a function of these alone.  On a probe
        (``machine/plan.py``) the effect is deferred, named by its arguments."""
        if mem is UNREAD:
            deferred = Unread((pe, entry, bypass))
            return deferred, deferred  # type: ignore[return-value]
        lay = self.layout
        h, nl = lay.h, lay.nl
        kind = entry[0]
        if kind == STORE:
            _, line, offset, value, cacheable, wt, _, _ = entry
            if cacheable == PATH_CACHEABLE or (cacheable != PATH_NC and not bypass):
                copies = caches.coherent_write(copies, mem, h, pe, line, offset, value, nl)
                if wt & STORE_WT:  # write-through: the write also reaches the PoC
                    copies, mem, _ = caches.clean_to(copies, mem, h, line, h.poc_depth, lay.all_pes, nl)
            else:
                mem = caches.bypass_write(mem, line, offset, value)
        elif kind == DCVA:
            _, op, line, _, depth, scope_all, _, _ = entry
            pes = lay.all_pes if scope_all else frozenset((pe,))
            if op & OP_CLEAN:
                copies, mem, _ = caches.clean_to(copies, mem, h, line, depth, pes, nl)
            if op & OP_INVAL:
                copies = caches.invalidate_to(copies, h, line, depth, pes, nl)
        else:
            assert kind == SETWAY
            _, op, inst, line, _ = entry
            copies, mem, _ = caches.setway(
                copies, mem, h, inst, line, bool(op & OP_CLEAN), bool(op & OP_INVAL), nl
            )
        return mem, copies

    def _late_for_dma(self, before: State, after: State, entry: Entry) -> tuple[Entry, ...]:
        """The records of what the DMA masters still read where ``entry`` (a store, a DC
        or a set/way operation) changed their view (``DmaWatch``): one per location."""
        line = entry[1] if entry[0] == STORE else entry[2] if entry[0] == DCVA else entry[3]
        out: list[Entry] = []
        for offset in self.dma.offsets.get(line, ()):
            old = self._dma_view(before, line, offset)
            if old is not None and self._dma_view(after, line, offset) != old:
                if entry[0] == STORE:
                    out.append((*entry[:3], old, entry[4], entry[5] | STORE_DMA_LATE, *entry[6:]))
                else:
                    out.append(StoreEntry(STORE, line, offset, old, PATH_NC, STORE_DMA_LATE, 0, entry[-1]))
        return tuple(out)

    def _dma_view(self, state: State, line: int, offset: int) -> int | None:
        """What the DMA masters watching a location read there now (``DmaWatch``), or None
        when none does or another PE's store to it is already pending for them (Model: a
        second such store reaches them at once)."""
        coherent = self.dma.coherent.get((line, offset))
        if coherent is None or self.dma.late_value(state.bufs, line, offset) is not None:
            return None
        lay = self.layout
        if coherent:
            return caches.coherent_value(state.copies, state.mem, lay.h, -1, line, lay.nl)[offset]
        return state.mem[line][offset]
