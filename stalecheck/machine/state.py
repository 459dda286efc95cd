"""The explored state: nested tuples of ints only.

Ints only (no ``None``, no strings, no enum members) so that a state's encoding
is the same in every process and run (``explore.fingerprint``; CPython salts
``str`` hashes).  NamedTuples keep field names for readers while hashing at
tuple speed.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from stalecheck.machine.caches import Copies, Memory
from stalecheck.machine.ifetch import ICache
from stalecheck.machine.tlb import Tlb

# Buffer entry kinds: the first field of every entry.  Plain ints, not an IntEnum:
# entries sit in the state, and ``explore.fingerprint`` encodes states with marshal,
# which refuses int subclasses.
STORE = 0
STORE_WT = 1  # StoreEntry.flags: write-through, the write also reaches the PoC
STORE_RELEASE = 2  # StoreEntry.flags: STLR, propagates only after every earlier buffered store (B2.3.7)
STORE_ATOMIC = 4  # StoreEntry.flags: the write of an atomic pair (machine/atomic.py)
# StoreEntry.flags: performed for the PEs' Inner Shareable domain, not yet for the DMA
# masters outside it; ``value`` then holds what they still read (machine/shareability.py).
STORE_DMA_LATE = 8
DCVA = 1
SETWAY = 2
MARK_FULL = 3  # a DMB ordering loads and stores
MARK_ST = 4  # a DMB ST/ISHST: orders stores and DCs only
TLBI_ENTRY = 5  # translation model (machine/mmu.py)
IC_ENTRY = 6  # instruction fetch model (machine/fetch.py)
# The markers of DMB ISH and DMB ISHST where a DMA master may see stores late: they
# order nothing for it (machine/shareability.py).  Elsewhere they leave MARK_FULL/MARK_ST.
MARK_FULL_ISH = 7
MARK_ST_ISH = 8

# DC operations.
OP_CLEAN = 1
OP_INVAL = 2
OP_CLEAN_INVAL = 3

# IC operations.
IC_IVAU, IC_IALLU, IC_IALLUIS = 1, 2, 3


class StoreEntry(NamedTuple):
    """A buffered store (``kind`` is ``STORE``)."""

    kind: int
    line: int
    offset: int
    value: int
    cacheable: int  # ``MemType.path``: 0 a write at the PoC, 1 coherent into L1, 2/3 a mismatched mix
    flags: int  # STORE_WT | STORE_RELEASE | STORE_ATOMIC
    attrs: int  # ``MemType.cacheability_key`` (orders it with a DC to its line, buffer.py)
    instr: int  # interned instruction id (for witnesses)


class DcEntry(NamedTuple):
    """A buffered ``DC`` by VA (``kind`` is ``DCVA``)."""

    kind: int
    op: int  # OP_CLEAN, OP_INVAL or OP_CLEAN_INVAL
    line: int
    cacheable: int  # ``MemType.path`` of the access (orders it with stores, buffer.py)
    depth: int  # levels before the point of the operation (PoU or PoC)
    scope_all: int  # 1: every PE (shareable), 0: the issuing PE only
    attrs: int  # ``MemType.cacheability_key`` of the access (orders it with stores, buffer.py)
    instr: int


class SetWayEntry(NamedTuple):
    """A buffered set/way operation on one line of one cache instance (``kind`` is ``SETWAY``)."""

    kind: int
    op: int
    inst: int
    line: int
    instr: int


class MarkEntry(NamedTuple):
    """The marker a DMB leaves in the buffer (``kind`` is ``MARK_FULL`` or ``MARK_ST``, or
    ``MARK_FULL_ISH``/``MARK_ST_ISH`` for one that does not order for DMA masters)."""

    kind: int


class TlbiEntry(NamedTuple):
    """A buffered TLBI (``kind`` is ``TLBI_ENTRY``)."""

    kind: int
    broadcast: int
    regime_mask: int
    key: int  # input (VA or IPA) index, -1 for all inputs
    last_level: int  # 1: only entries from the last level of the walk (VALE1, tlb.py)
    instr: int


class IcEntry(NamedTuple):
    """A buffered IC (``kind`` is ``IC_ENTRY``)."""

    kind: int
    op: int  # IC_IVAU, IC_IALLU or IC_IALLUIS
    line: int  # IVAU: the line its VA reaches (-1: none)
    tag: int  # IVAU: the I-cache tag its VA reaches
    instr: int


# What the buffer holds.  Typed as a tuple of ints so that the hot paths (buffer.py)
# read fields by index; each kind is one of the NamedTuples above.
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
    # Reservations of atomic pairs whose read is satisfied and write not yet propagated:
    # (line, offset, pending, intact) each (machine/atomic.py).
    res: tuple[tuple[int, int, int, int], ...] = ()
    # With ``Options.record_executions`` (litmus counts): per program index, the write a
    # load read, or a store's place in coherence order (machine/rfco.py); else empty.
    trace: tuple[int, ...] = ()


class State(NamedTuple):
    mem: Memory
    copies: Copies
    bufs: tuple[tuple[Entry, ...], ...]
    threads: tuple[Thread, ...]
    hcr: tuple[int, ...]  # per VM: HCR_EL2 bits (``spec.HCR.BITS`` order)
    mapped: tuple[int, ...]  # per VM: bitmask of pages mapped at stage 2
    events: int  # bitmask of signalled ghost events
    migrations: int
    tlbs: tuple[Tlb, ...] = ()  # per PE (machine/tlb.py)
    icaches: tuple[ICache, ...] = ()  # per PE (machine/ifetch.py)


SCTLR_M = 1
SCTLR_C = 2
SCTLR_I = 4
SCTLR_FIELDS = {"M": SCTLR_M, "C": SCTLR_C, "I": SCTLR_I}


def sctlr_bits(m: int, c: int, i: int) -> int:
    return (SCTLR_M if m else 0) | (SCTLR_C if c else 0) | (SCTLR_I if i else 0)


def sctlr_tuple(bits: int) -> tuple[int, int, int]:
    return (int(bool(bits & SCTLR_M)), int(bool(bits & SCTLR_C)), int(bool(bits & SCTLR_I)))


def with_thread(state: State, t: int, th: Thread) -> State:
    """``state`` with thread ``t`` replaced."""
    threads = state.threads
    return state._replace(threads=(*threads[:t], th, *threads[t + 1 :]))


def with_entry(state: State, pe: int, entry: Entry) -> State:
    """``state`` with ``entry`` appended to PE ``pe``'s buffer."""
    bufs = state.bufs
    return state._replace(bufs=(*bufs[:pe], (*bufs[pe], entry), *bufs[pe + 1 :]))



class InnerRead(BaseException):
    """A probe (``machine/plan.py``) used a state's memory or cache copies.  A
    ``BaseException``, like ``explore.watchdog.Stop``, so that no ``except Exception``
    of the engine's catches it and carries on down another path."""


def _refuse(self: object, *args: object) -> object:
    raise InnerRead


class Unread:
    """Stands in for a state's memory and copies in a probe (``machine/plan.py``): every
    use of it (indexing, length, iteration, comparison, hashing, truth) raises
    ``InnerRead``, so a computation on the probe that ends never read them.  ``effect``:
    a deferred inner effect (``Complete.written``), None for ``UNREAD`` itself."""

    __slots__ = ("effect",)

    def __init__(self, effect: tuple[object, ...] | None = None) -> None:
        self.effect = effect

    __getitem__ = __len__ = __iter__ = __reversed__ = __contains__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = __bool__ = _refuse  # type: ignore[assignment]
    __add__ = __radd__ = __mul__ = __rmul__ = __index__ = __int__ = _refuse


class Slot(Unread):
    """Stands in for one thread or one PE's buffer in a *fine* probe (``Planner._direct``):
    every use raises ``InnerRead``; where the successor holds it, the state's own goes.
    Defined here, not in ``plan.py``, so that a compiled ``plan`` (``make compiled``) does not
    subclass this plain class (mypyc refuses a native class over a ``__slots__`` base)."""

    __slots__ = ("field", "index")

    def __init__(self, field: int, index: int) -> None:
        super().__init__(None)
        self.field = field  # BUFS or THREADS
        self.index = index


UNREAD: Any = Unread()  # a probe's memory and copies (Any: it stands in for both types)

# A read of memory and copies a probe may ask instead of making (machine/plan.py): a
# reader and its arguments after the copies and memory, ``(reader, *args)``; the answer
# is ``reader(copies, mem, *args)`` on a real state (``Access.read``, ``Walker.values``).
Query = tuple[Any, ...]


def unanswered(query: Query) -> tuple[int, ...]:
    """The oracle outside a probe: none (a probe's memory is ``UNREAD`` only inside one)."""
    raise InnerRead

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
