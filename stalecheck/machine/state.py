"""The explored state: nested tuples of ints only.

Ints only (no ``None``, no strings) so that ``hash(state)`` is the same in every
process and run: CPython salts ``str`` hashes, and before 3.12 ``hash(None)``
depends on an address.  NamedTuples keep field names for readers while hashing
at tuple speed.
"""

from __future__ import annotations

from typing import NamedTuple

from stalecheck.machine.caches import Copies, Memory

# Buffer entry kinds (first element of each entry tuple).
STORE = 0  # (STORE, line, offset, value, cacheable, flags, instr_id); flags: STORE_WT | STORE_RELEASE
STORE_WT = 1  # write-through: the write also reaches the PoC
STORE_RELEASE = 2  # STLR: propagates only after every earlier buffered store (B2.3.7)
DCVA = 1  # (DCVA, op, line, cacheable, depth, scope_all, instr_id)
SETWAY = 2  # (SETWAY, op, inst, line, instr_id)
MARK_FULL = 3  # (MARK_FULL,) a DMB ordering loads and stores
MARK_ST = 4  # (MARK_ST,) a DMB ST/ISHST: orders stores and DCs only

# DC operations.
OP_CLEAN = 1
OP_INVAL = 2
OP_CLEAN_INVAL = 3

Entry = tuple[int, ...]


class Thread(NamedTuple):
    pc: int
    regs: tuple[int, ...]
    hyp: tuple[int, ...]  # policy code still to run at EL2 (instruction ids)
    pe: int  # -1 for devices
    sctlr: int  # effective SCTLR_EL1 bits: M=1, C=2, I=4
    pending: int  # SCTLR_EL1 value written but not yet in effect, -1 if none
    retry: int  # 1 when the trapped instruction is re-executed after ERET
    early: tuple[tuple[int, int], ...] = ()  # (pc, result) translated/fetched ahead since the last CSE
    fault: int = 0  # ESR of the fatal abort that stopped the thread, 0 if none
    ahead: int = 0  # bit k: instruction k (> pc) already executed out of order (machine/ordering.py)


class State(NamedTuple):
    mem: Memory
    copies: Copies
    bufs: tuple[tuple[Entry, ...], ...]
    threads: tuple[Thread, ...]
    hcr: tuple[int, ...]  # per VM: HCR_EL2 bits (``spec.HCR.BITS`` order)
    mapped: tuple[int, ...]  # per VM: bitmask of pages mapped at stage 2
    events: int  # bitmask of signalled ghost events
    migrations: int
    tlbs: tuple[tuple[tuple[int, int, int], ...], ...] = ()  # per PE (machine/tlb.py)
    icaches: tuple[tuple[tuple[int, int, tuple[int, ...]], ...], ...] = ()  # per PE (machine/ifetch.py)


SCTLR_M = 1
SCTLR_C = 2
SCTLR_I = 4
SCTLR_FIELDS = {"M": SCTLR_M, "C": SCTLR_C, "I": SCTLR_I}


def sctlr_bits(m: int, c: int, i: int) -> int:
    return (SCTLR_M if m else 0) | (SCTLR_C if c else 0) | (SCTLR_I if i else 0)


def sctlr_tuple(bits: int) -> tuple[int, int, int]:
    return (int(bool(bits & SCTLR_M)), int(bool(bits & SCTLR_C)), int(bool(bits & SCTLR_I)))

# Buffer entries of the translation and instruction-fetch model (machine/mmu.py).
TLBI_ENTRY = 5  # (TLBI_ENTRY, broadcast, regime_mask, key, instr_id)
IC_ENTRY = 6  # (IC_ENTRY, op, line, tag, instr_id); op: IC_IVAU / IC_IALLU / IC_IALLUIS
IC_IVAU, IC_IALLU, IC_IALLUIS = 1, 2, 3


def with_thread(state: State, t: int, th: Thread) -> State:
    """``state`` with thread ``t`` replaced."""
    threads = state.threads
    return state._replace(threads=(*threads[:t], th, *threads[t + 1 :]))


def with_entry(state: State, pe: int, entry: Entry) -> State:
    """``state`` with ``entry`` appended to PE ``pe``'s buffer."""
    bufs = state.bufs
    return state._replace(bufs=(*bufs[:pe], (*bufs[pe], entry), *bufs[pe + 1 :]))


def _fast_replace(cls: type) -> None:
    """Give a NamedTuple a faster ``_replace`` (speed only, same result).

    The stock ``_replace`` calls ``dict.pop`` once per field and goes through
    ``_make``; the engine replaces one or two fields of a ``State`` or ``Thread``
    on every step, which made it the single largest cost of exploring."""
    fields = cls._fields  # type: ignore[attr-defined]
    index = {name: i for i, name in enumerate(fields)}
    new = tuple.__new__

    def _replace(self: tuple, **changes: object) -> tuple:  # type: ignore[type-arg]
        values = list(self)
        try:
            for name, value in changes.items():
                values[index[name]] = value
        except KeyError:
            raise ValueError(f"Got unexpected field names: {sorted(set(changes) - set(fields))!r}") from None
        return new(cls, values)

    _replace.__doc__ = f"Return a new {cls.__name__} with the given fields replaced."
    cls._replace = _replace  # type: ignore[attr-defined]


_fast_replace(Thread)
_fast_replace(State)
