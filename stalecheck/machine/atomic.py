"""Atomic pairs: no other observer's write between an atomic read and its write.

An atomic instruction (``CAS``, ``SWP``, ``LDADD``) and a successful
load-exclusive/store-exclusive pair read a location and write it with no write
by another observer coherence-between the write read and the new write (Arm
ARM B2.2.1 Requirements for single-copy atomicity, B2.9 Synchronization and
semaphores; herd's ``atomic`` axiom, aarch64.cat: ``empty (rmw & (fr; co))``
except an intervening write of the same thread).

The machine keeps a *reservation* per satisfied atomic read (``Thread.res``):
the location, how many of the PE's own stores to it must still propagate
before the write the read took is the newest in the coherent memory system
(``pending``: the read may have been forwarded from a store still in the
buffer or not yet executed), and whether it is still intact.  A store of
another PE to the location that propagates while nothing is pending breaks it;
the atomic write may propagate only while its reservation is intact (else the
execution cannot finish: another path, or another order, is the real one).
Stores to one location propagate in program order (``buffer.py``), so the
reservations of a thread are consumed in the order their reads were made.
"""

from __future__ import annotations

from stalecheck.machine.state import STORE_ATOMIC, Entry, State, Thread


def reserve(th: Thread, line: int, offset: int, pending: int) -> Thread:
    """The atomic read of ``line``/``offset`` is satisfied."""
    return th._replace(res=(*th.res, (line, offset, pending, 1)))


def _first(th: Thread, line: int, offset: int) -> int:
    for k, (ln, off, _, _) in enumerate(th.res):
        if ln == line and off == offset:
            return k
    return -1


def may_propagate(state: State, pe: int, entry: Entry) -> bool:
    """Whether a buffered store may propagate: an atomic write only with its
    reservation intact."""
    if not entry[5] & STORE_ATOMIC:
        return True
    line, offset = entry[1], entry[2]
    for th in state.threads:
        if th.pe == pe:
            k = _first(th, line, offset)
            if k >= 0:
                return bool(th.res[k][3])
    return False


def propagated(state: State, pe: int, entry: Entry) -> State:
    """A store of PE ``pe`` has propagated: update every reservation of its location."""
    line, offset = entry[1], entry[2]
    atomic = bool(entry[5] & STORE_ATOMIC)
    threads = state.threads
    changed = False
    new: list[Thread] = []
    for th in threads:
        if not th.res:
            new.append(th)
            continue
        res = list(th.res)
        own = th.pe == pe
        if own and atomic:
            k = _first(th, line, offset)
            if k >= 0:
                del res[k]  # the pair is complete
        for k, (ln, off, pending, intact) in enumerate(res):
            if ln != line or off != offset:
                continue
            if own:
                if pending:
                    res[k] = (ln, off, pending - 1, intact)
            elif not pending and intact:
                res[k] = (ln, off, 0, 0)  # another observer wrote between: broken
        t = tuple(res)
        if t != th.res:
            changed = True
            th = th._replace(res=t)
        new.append(th)
    return state._replace(threads=tuple(new)) if changed else state
