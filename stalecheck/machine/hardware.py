"""Spontaneous cache steps: write-back, drop and speculative fill of a line in one cache.

The hardware may do these at any time (D7.5.1 General behavior of the caches);
what each does is ``caches.write_back``, ``drop_clean`` and ``fill``.  This
module says which are enabled in a state: every copy may be written back (dirty)
or dropped (clean); a fill needs ``caches.may_fill`` and a regime that may
allocate the line (``fillable``).
"""

from __future__ import annotations

from stalecheck.machine import caches
from stalecheck.machine.access import Access
from stalecheck.machine.layout import Layout
from stalecheck.machine.state import State
from stalecheck.machine.steps import DROP, FILL, WRITE_BACK, Step


class Hardware:
    """The spontaneous cache steps of one variant."""

    def __init__(self, layout: Layout, access: Access) -> None:
        self.layout = layout
        self.access = access
        # Static facts ``steps`` needs for every state, computed once.
        self.linear_fill = tuple(
            layout.spec.options.host_linear_map and (host is None or host.cacheable)
            for host in layout.host_types
        )
        self.loud: tuple[int, ...] = tuple(range(layout.nl))  # lines whose steps are explored (reduction.py)

    def fillable(self, state: State, inst: int, line: int, dirty: int) -> bool:
        """D7.5.1 General behavior of the caches: a line may be allocated into a cache when it
        is Normal cacheable in the regime of an EL running on that PE, or of a higher
        EL: with the host's linear map of all RAM at EL2, every PE may fill any RAM line
        (docs/design.md section 1, Hardware nondeterminism).  ``dirty`` is
        ``caches.dirty_l1_lines`` of the state's copies."""
        lay = self.layout
        if not caches.may_fill(state.copies, lay.h, inst, line, lay.nl, dirty):
            return False
        return self.linear_fill[line] or self._fillable_by_regime(state, inst, line)

    def _fillable_by_regime(self, state: State, inst: int, line: int) -> bool:
        """Without the linear map: some unfinished thread on the instance's PE (any
        PE for a shared level) maps ``line`` Normal cacheable right now."""
        lay = self.layout
        pe = lay.h.instances[inst].pe
        for t, th in enumerate(state.threads):
            if th.pe < 0 or (pe is not None and th.pe != pe) or lay.finished(state, t):
                continue
            if self.access.guest_unmapped(state, t, line):
                continue
            if self.access.access_type(state, t, line).allocates:
                return True
        return False

    def steps(self, state: State, live: int, steps: list[Step]) -> None:
        """Append the enabled write-backs, drops and fills to ``steps``, instance by
        instance, line by line (the order is part of the witness contract).  ``live``
        is the bitmask of lines that may still be touched (reduction.DeadLines; -1: all)."""
        copies = state.copies
        nl = self.layout.nl
        append = steps.append
        fillable = self.fillable
        dirty = -1  # caches.dirty_l1_lines, computed at the first fill check
        for inst in range(len(self.layout.h.instances)):
            base = inst * nl
            for line in self.loud:  # quiet lines: spontaneous steps cannot matter (reduction.py)
                if not live >> line & 1:
                    continue  # nobody touches this line again: its hardware steps cannot matter
                copy = copies[base + line]
                if copy:
                    append((WRITE_BACK if copy[0] else DROP, inst, line))
                    continue
                if dirty < 0:
                    dirty = caches.dirty_l1_lines(copies, self.layout.h, nl)
                if fillable(state, inst, line, dirty):
                    append((FILL, inst, line))
                    # more sources only after a mismatched-attribute write (caches.fill_sources)
                    n = len(caches.fill_sources(copies, state.mem, self.layout.h, inst, line, nl))
                    for source in range(1, n):
                        append((FILL, inst, line, source))
