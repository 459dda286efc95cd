"""One test per ordering rule of the per-PE buffer (``buffer.py``) and of the
barriers that wait on it (``Execute.choices``).

Entries are written out as the engine stores them (see ``state.py``) so each
test shows the buffer it reasons about.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stalecheck.machine import buffer
from stalecheck.machine.state import DCVA, MARK_FULL, MARK_ST, OP_CLEAN, SETWAY, STORE
from stalecheck.machine.system import COMPLETE, EXEC
from stalecheck.scenarios.builder import Builder
from tests.machine.util import exec_thread, machine, run

X, Y = 0, 1


def store(line: int, value: int = 1, cacheable: int = 1, offset: int = 0) -> tuple[int, ...]:
    return (STORE, line, offset, value, cacheable, 0, 8 if cacheable else 0, 0)


def dc(line: int, cacheable: int = 1) -> tuple[int, ...]:
    return (DCVA, OP_CLEAN, line, cacheable, 2, 1, 8 if cacheable else 0, 0)


SW = (SETWAY, OP_CLEAN, 0, X, 0)


def test_stores_to_one_location_complete_in_program_order() -> None:
    assert buffer.completable((store(X, 1), store(X, 2))) == [0]


def test_stores_to_different_locations_may_complete_in_any_order() -> None:
    assert buffer.completable((store(X), store(Y))) == [0, 1]
    assert buffer.completable((store(X, offset=0), store(X, offset=1))) == [0, 1]


@pytest.mark.parametrize(
    ("buf", "free"),
    [
        ((store(X), dc(X)), [0]),  # same line, same cacheability: ordered
        ((dc(X), store(X)), [0]),
        ((store(X, cacheable=0), dc(X)), [0, 1]),  # NC store and a DC: not ordered
        ((dc(X), store(X, cacheable=0)), [0, 1]),
        ((store(Y), dc(X)), [0, 1]),  # other line: not ordered
        ((dc(X), dc(X)), [0]),  # DCs to one line stay in order
        ((dc(X), dc(Y)), [0, 1]),
    ],
)
def test_dc_by_va_is_ordered_only_with_same_line_same_cacheability_accesses(
    buf: tuple[tuple[int, ...], ...], free: list[int]
) -> None:
    assert buffer.completable(buf) == free


@pytest.mark.parametrize("mark", [MARK_FULL, MARK_ST])
def test_a_dmb_marker_holds_back_later_stores_and_dcs(mark: int) -> None:
    assert buffer.completable((store(X), (mark,), store(Y), dc(Y))) == [0]


def test_set_way_is_ordered_by_a_full_dmb_only() -> None:
    """D7.5.9.15: set/way "can execute in any order relative to loads or stores
    unless a DMB or DSB is executed between" (a DMB for loads and stores)."""
    assert buffer.completable((store(X), (MARK_FULL,), SW)) == [0]
    assert buffer.completable((store(X), (MARK_ST,), SW)) == [0, 2]
    assert buffer.completable((store(X), SW)) == [0, 1]


def test_set_way_ops_are_unordered_among_themselves_unless_asked() -> None:
    """D7.5.9.15: set/way ops may complete in any order without a barrier; the
    ARMv7 program-order rule is an option."""
    assert buffer.completable((SW, SW)) == [0, 1]
    assert buffer.completable((SW, SW), setway_in_order=True) == [0]
    assert buffer.completable((SW, (MARK_FULL,), SW)) == [0]


def test_dmb_st_does_not_order_cache_maintenance() -> None:
    """D7.5.9.15: only a DMB for loads and stores orders DC instructions."""
    assert buffer.dmb_marker((dc(X),), full=False) is None
    assert buffer.dmb_marker((dc(X),), full=True) == (MARK_FULL,)
    assert buffer.completable((store(X), (MARK_ST,), dc(Y))) == [0, 2]


def test_only_a_full_dmb_holds_back_loads() -> None:
    assert buffer.loads_blocked((store(X), (MARK_FULL,)))
    assert not buffer.loads_blocked((store(X), (MARK_ST,)))


def test_a_marker_with_nothing_before_it_disappears() -> None:
    assert buffer.remove((store(X), (MARK_ST,), store(Y)), 0) == (store(Y),)


def test_adjacent_markers_merge_into_the_stronger() -> None:
    buf = (store(X), store(Y), (MARK_ST,), (MARK_FULL,), store(X, 2))
    assert buffer.remove(buf, 1) == (store(X), (MARK_FULL,), store(X, 2))


def test_forwarding_returns_the_newest_buffered_store() -> None:
    assert buffer.forward((store(X, 1), store(Y, 5), store(X, 2)), X, 0) == 2
    assert buffer.forward((store(Y, 5),), X, 0) is None


# ---- through the engine --------------------------------------------------------------------


def _one_host(program: str, pes: int = 1) -> Callable[[Builder], None]:
    def setup(b: Builder) -> None:
        b.system(pes=pes)
        b.page("P", "X Y")
        b.host("h", program)

    return setup


def test_dmb_is_issued_as_a_marker_only_when_something_is_buffered() -> None:
    m = machine(_one_host("DMB ISH\nSTR X, 1\nDMB ISHST\nDMB SY\nSTR Y, 1"))
    s = exec_thread(m, m.initial_state(), "h")
    assert s.bufs[0] == (), "nothing to order yet"
    for _ in range(4):
        s = exec_thread(m, s, "h")
    kinds = [entry[0] for entry in s.bufs[0]]
    assert kinds == [STORE, MARK_ST, MARK_FULL, STORE]


def test_dsb_st_completes_no_cmo() -> None:
    m = machine(_one_host("DC CVAC X\nDSB ST\nNOP"))
    s = exec_thread(m, m.initial_state(), "h")
    s = exec_thread(m, s, "h")  # DSB ST: enabled with the DC still buffered
    assert s.bufs[0][0][0] == DCVA


def test_dsb_st_waits_for_stores() -> None:
    m = machine(_one_host("STR X, 1\nDSB ST"))
    s = exec_thread(m, m.initial_state(), "h")
    assert (EXEC, 0, 0) not in m.actions(s)
    s = run(m, s, (COMPLETE, 0, 0))
    assert (EXEC, 0, 0) in m.actions(s)


@pytest.mark.parametrize("option", ["SY", "ISH", "OSH", "NSH"])
def test_full_dsb_waits_until_the_buffer_is_drained(option: str) -> None:
    m = machine(_one_host(f"STR X, 1\nDC CVAC Y\nDC CISW L1, X\nDSB {option}"))
    s = m.initial_state()
    for _ in range(3):
        s = exec_thread(m, s, "h")
    for _ in range(3):
        assert (EXEC, 0, 0) not in m.actions(s)
        s = run(m, s, next(step for step in m.actions(s) if step[0] == COMPLETE))
    assert s.bufs[0] == () and (EXEC, 0, 0) in m.actions(s)


def test_a_load_after_a_full_dmb_waits_but_forwarding_still_applies_before_it() -> None:
    m = machine(_one_host("STR X, 3\nLDR r1, X\nDMB SY\nLDR r2, Y"))
    s = exec_thread(m, m.initial_state(), "h")
    s = exec_thread(m, s, "h")
    assert s.threads[0].regs[0] == 3, "a PE reads its own buffered store (B2.3)"
    s = exec_thread(m, s, "h")
    assert (EXEC, 0, 0) not in m.actions(s)


def test_non_cacheable_store_and_dc_to_the_same_line_are_unordered() -> None:
    """D7.5.9.15: program order only for Normal Inner cacheable accesses; a DC may
    complete before an earlier Non-cacheable store to its line."""
    assert buffer.completable((store(X, cacheable=0), dc(X, cacheable=0))) == [0, 1]
    assert buffer.completable((store(X), dc(X))) == [0]
