"""Issue 11, item 13: bad-state predicates can see the machine (cache copies, TLB entries,
instruction caches), not only registers and memory."""

from __future__ import annotations

import pytest

from stalecheck.errors import ScenarioError
from stalecheck.explore.search import check
from stalecheck.machine.memtypes import NORMAL_NC
from stalecheck.machine.system import Machine
from stalecheck.machine.view import StateView
from stalecheck.scenarios.builder import Builder


def _nc_write_under_clean_copy(quiet: bool = False) -> Builder:
    b = Builder()
    b.system(pes=1)
    b.page("P", "X", vm="vm")
    b.init(X=1)
    b.vm("vm", mapped=("P",), stage1={"X": NORMAL_NC})
    b.options(host_linear_map=True, quiet_coherent_lines=quiet)
    b.guest("cpu", "STR X, 2\nDSB SY", vm="vm")
    return b


def test_a_predicate_can_ask_for_a_stale_clean_copy() -> None:
    """B2.11: after a Non-cacheable write, a clean cached copy may hold the old value."""
    b = _nc_write_under_clean_copy()

    def stale_copy_survives(v: StateView) -> bool:
        return v.done("cpu") and v.mem("X") == 2 and v.cached("X").get("L1.PE0") == (1, False)

    b.bad_when(stale_copy_survives, "a stale clean copy survives the NC write")
    assert check(Machine(b.build())).outcome.value == "reachable"


def test_cache_predicates_are_refused_under_a_reduction_that_skips_cache_steps() -> None:
    b = Builder()
    b.system(pes=1)
    b.page("P", "X")
    b.options(quiet_coherent_lines=True)
    b.host("h", "STR X, 1")
    b.bad_when(lambda v: bool(v.cached("X")), "X is cached")
    with pytest.raises(ScenarioError, match="quiet_coherent_lines"):
        check(Machine(b.build()))


def test_an_icache_predicate_sees_the_previous_owners_code() -> None:
    b = Builder()
    b.system(pes=1)
    b.page("P", "C")
    b.fetch(icache="pipt", host_colour=0)
    b.icache_holds(0, "C", 7)
    b.host("h", "NOP")
    b.bad_when(lambda v: ("C", 7) in v.icache(0), "old code cached")
    assert check(Machine(b.build())).outcome.value == "reachable"
