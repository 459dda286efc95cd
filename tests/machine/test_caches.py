"""One test per data-cache rule of ``caches.py`` (and the engine steps that use it).

The pure functions are tested on hand-built copies, so each test reads as the
rule it checks: who holds which copy before, what the rule does, who holds what
after.  Instances in a 2-PE system with a system cache: 0 = L1.PE0,
1 = L1.PE1, 2 = SC; one line, so a copy's index is its instance.
"""

from __future__ import annotations

import pytest

from stalecheck.errors import ScenarioError
from stalecheck.machine import caches
from stalecheck.machine.caches import NO_COPY
from stalecheck.machine.hierarchy import CacheConfig, Hierarchy
from stalecheck.machine.state import OP_CLEAN_INVAL, OP_INVAL, SETWAY
from stalecheck.machine.system import COMPLETE, DROP, FILL, WRITE_BACK
from stalecheck.scenarios.builder import Builder
from tests.machine.util import exec_thread, machine, run, steps_of

L1_0, L1_1, SC = 0, 1, 2
H = Hierarchy(CacheConfig(system_cache=True, louu=1, loc=1), 2)
MEM0 = ((0,),)


def copies(l1_0: tuple = (), l1_1: tuple = (), sc: tuple = ()) -> caches.Copies:
    return (l1_0, l1_1, sc)


def test_topology_puts_the_system_cache_beyond_the_pou_and_before_the_poc() -> None:
    assert H.below == (SC, SC, -1)
    assert (H.pou_depth, H.poc_depth) == (1, 2)
    assert not H.levels[H.instances[SC].level].architected


# ---- coherence between matching attributes (B2.11) ---------------------------------


def test_coherent_read_snoops_a_dirty_copy_in_another_l1() -> None:
    c = copies(l1_0=(1, (5,)), sc=(0, (3,)))
    assert caches.coherent_value(c, MEM0, H, 1, 0, 1) == (5,)


def test_coherent_read_prefers_own_l1_then_the_path_down() -> None:
    assert caches.coherent_value(copies(l1_1=(0, (4,)), sc=(1, (3,))), MEM0, H, 1, 0, 1) == (4,)
    assert caches.coherent_value(copies(sc=(1, (3,))), MEM0, H, 1, 0, 1) == (3,)
    assert caches.coherent_value(copies(), MEM0, H, 1, 0, 1) == (0,)


def test_coherent_write_invalidates_other_l1s_and_merges_sub_blocks() -> None:
    before = (((0, (1, 2)),), ((0, (1, 2)),), ())
    c = tuple(x[0] if x else () for x in before)
    after = caches.coherent_write(c, ((1, 2),), H, 1, 0, 1, 9, 1)
    assert after == (NO_COPY, (1, (1, 9)), NO_COPY)


def test_coherent_device_write_reaches_the_poc_and_invalidates_every_copy() -> None:
    c = copies(l1_0=(1, (5,)), sc=(1, (3,)))
    out, mem = caches.coherent_device_write(c, MEM0, H, 0, 0, 7, 1)
    assert out == copies() and mem == ((7,),)


# ---- mismatched attributes (B2.11) -----------------------------------------------------


def test_non_cacheable_read_may_hit_a_cached_copy_or_go_to_the_poc() -> None:
    c = copies(l1_0=(1, (5,)), sc=(1, (3,)))
    assert caches.bypass_read_options(c, MEM0, H, 0, 0, 0, True, 1) == (0, 3, 5)


def test_non_cacheable_read_sees_only_copies_on_its_own_path() -> None:
    c = copies(l1_1=(1, (5,)))
    assert caches.bypass_read_options(c, MEM0, H, 0, 0, 0, True, 1) == (0,)


def test_strict_bypass_reads_only_the_poc() -> None:
    c = copies(l1_0=(1, (5,)), sc=(1, (3,)))
    assert caches.bypass_read_options(c, MEM0, H, 0, 0, 0, False, 1) == (0,)


def test_non_cacheable_write_leaves_a_stale_copy() -> None:
    assert caches.bypass_write(((0, 0),), 0, 1, 4) == ((0, 4),)
    # through the engine: a guest with its MMU off stores over a dirty host line
    m = machine(_host_then_mmu_off_guest)
    s = m.initial_state()
    s = exec_thread(m, s, "host")
    s = run(m, s, (COMPLETE, 0, 0))
    assert s.copies[0] == (1, (1,))
    s = exec_thread(m, s, "host")  # DSB SY
    s = exec_thread(m, s, "host")  # SIGNAL
    s = exec_thread(m, s, "guest")  # WAIT
    s = exec_thread(m, s, "guest")  # STR X, 2 (Device)
    s = run(m, s, (COMPLETE, 0, 0))
    assert s.mem == ((2,),) and s.copies[0] == (1, (1,)), "the dirty cached copy stays, now stale"


def _host_then_mmu_off_guest(b: Builder) -> None:
    b.system(pes=1)
    b.page("P", "X", vm="vm")
    b.vm("vm", mapped=("P",))
    b.host("host", "STR X, 1\nDSB SY\nSIGNAL go")
    b.guest("guest", "WAIT go\nSTR X, 2", vm="vm", sctlr=(0, 0, 0))


# ---- hardware steps (D7.5.1) --------------------------------------------------------------


def test_write_back_moves_a_dirty_line_exactly_one_level_down() -> None:
    c, mem = caches.write_back(copies(l1_0=(1, (5,))), MEM0, H, L1_0, 0, 1)
    assert c == copies(l1_0=(0, (5,)), sc=(1, (5,))) and mem == MEM0
    c, mem = caches.write_back(c, mem, H, SC, 0, 1)
    assert c == copies(l1_0=(0, (5,)), sc=(0, (5,))) and mem == ((5,),)


def test_drop_evicts_only_the_named_clean_copy() -> None:
    c = copies(l1_0=(0, (5,)), sc=(0, (5,)))
    assert caches.drop_clean(c, L1_0, 0, 1) == copies(sc=(0, (5,)))


def test_engine_offers_write_back_for_dirty_and_drop_for_clean_copies() -> None:
    m = machine(_two_pe_system)
    s = m.initial_state()._replace(copies=copies(l1_0=(1, (5,)), sc=(0, (0,))))
    kinds = {(step[0], step[1]) for step in m.actions(s) if step[0] in (WRITE_BACK, DROP)}
    assert kinds == {(WRITE_BACK, L1_0), (DROP, SC)}


def test_fill_takes_the_nearest_copy_below() -> None:
    c = caches.fill(copies(sc=(1, (3,))), MEM0, H, L1_0, 0, 1)
    assert c[L1_0] == (0, (3,))
    assert caches.fill(copies(), MEM0, H, SC, 0, 1)[SC] == (0, (0,))


def test_l1_fill_waits_while_another_l1_holds_the_line_dirty() -> None:
    assert not caches.may_fill(copies(l1_1=(1, (5,))), H, L1_0, 0, 1)
    assert caches.may_fill(copies(l1_1=(0, (5,))), H, L1_0, 0, 1)
    assert caches.may_fill(copies(l1_1=(1, (5,))), H, SC, 0, 1), "a shared level may still fill"


def test_the_engine_offers_an_l1_fill_exactly_where_may_fill_allows_it() -> None:
    """The engine's FILL steps come from ``caches.may_fill`` (through ``Hardware.fillable``):
    PE0's L1 gets no fill while PE1's L1 holds the line dirty, the system cache does."""
    m = machine(_two_pe_system)
    s = m.initial_state()._replace(copies=copies(l1_1=(1, (5,))))
    fills = {step[1] for step in m.actions(s) if step[0] == FILL}
    assert L1_0 not in fills and SC in fills
    s = m.initial_state()._replace(copies=copies(l1_1=(0, (5,))))
    assert L1_0 in {step[1] for step in m.actions(s) if step[0] == FILL}


def _two_pe_system(b: Builder) -> None:
    b.system(pes=2, system_cache=True, louu=1, loc=1)
    b.page("P", "X")
    b.host("h", "NOP")


def _guest_only(sctlr: tuple[int, int, int], linear_map: bool) -> Builder:
    b = Builder()
    b.system(pes=1)
    b.page("P", "X", vm="vm")
    b.vm("vm", mapped=("P",))
    b.guest("g", "NOP", vm="vm", sctlr=sctlr)
    b.options(host_linear_map=linear_map)
    b.bad_when(lambda v: False, "never")
    return b


@pytest.mark.parametrize(
    ("sctlr", "linear_map", "fillable"),
    [
        ((1, 1, 1), False, True),  # Normal WB in the guest's regime
        ((0, 0, 0), False, False),  # MMU off: Device, and no EL2 mapping assumed
        ((1, 0, 1), False, False),  # caches off: Normal NC
        ((0, 0, 0), True, True),  # the hypervisor's linear map makes it fillable anyway
    ],
)
def test_speculative_fill_only_where_some_regime_maps_the_line_cacheable(
    sctlr: tuple[int, int, int], linear_map: bool, fillable: bool
) -> None:
    from stalecheck.machine.system import Machine

    m = Machine(_guest_only(sctlr, linear_map).build())
    assert bool(steps_of(m, m.initial_state(), FILL)) == fillable


def test_no_fill_for_a_finished_threads_regime_nor_an_unmapped_guest_page() -> None:
    from stalecheck.machine.system import Machine

    b = Builder()
    b.system(pes=1)
    b.page("P", "X", vm="vm")
    b.vm("vm", on_stage2_fault=lambda trap: [])
    b.guest("g", "NOP", vm="vm")
    b.options(host_linear_map=False)
    b.bad_when(lambda v: False, "never")
    m = Machine(b.build())
    s = m.initial_state()
    assert not steps_of(m, s, FILL), "the page is not mapped at stage 2"
    s = m.initial_state()._replace(mapped=(1,))
    assert steps_of(m, s, FILL)
    s = exec_thread(m, s, "g")
    assert not steps_of(m, s, FILL), "nothing runs that maps the line any more"


# ---- maintenance by VA to the PoU and to the PoC (D7.5.9) ---------------------------------


def test_clean_to_pou_stops_before_the_system_cache() -> None:
    c, mem, n = caches.clean_to(copies(l1_0=(1, (5,))), MEM0, H, 0, H.pou_depth, frozenset({0, 1}), 1)
    assert (c, mem, n) == (copies(l1_0=(0, (5,)), sc=(1, (5,))), MEM0, 1)


def test_clean_to_poc_writes_through_the_system_cache_to_memory() -> None:
    c, mem, n = caches.clean_to(copies(l1_0=(1, (5,))), MEM0, H, 0, H.poc_depth, frozenset({0, 1}), 1)
    assert (c, mem, n) == (copies(l1_0=(0, (5,)), sc=(0, (5,))), ((5,),), 2)


def test_clean_by_va_reaches_a_dirty_line_in_another_pes_l1_in_scope() -> None:
    c, mem, _ = caches.clean_to(copies(l1_1=(1, (5,))), MEM0, H, 0, H.poc_depth, frozenset({0, 1}), 1)
    assert mem == ((5,),)
    c, mem, _ = caches.clean_to(copies(l1_1=(1, (5,))), MEM0, H, 0, H.poc_depth, frozenset({0}), 1)
    assert mem == MEM0 and c[L1_1] == (1, (5,)), "non-shareable scope: PE1 is not cleaned"


def test_invalidate_to_poc_discards_every_copy_dirty_or_not() -> None:
    c = copies(l1_0=(1, (5,)), l1_1=(), sc=(1, (4,)))
    assert caches.invalidate_to(c, H, 0, H.poc_depth, frozenset({0, 1}), 1) == copies()
    assert caches.invalidate_to(c, H, 0, H.pou_depth, frozenset({0, 1}), 1) == copies(sc=(1, (4,)))


# ---- set/way (D7.5.9, seed 001/002) -----------------------------------------------------------


def test_set_way_clean_reaches_only_the_next_level() -> None:
    c, mem, n = caches.setway(copies(l1_0=(1, (5,))), MEM0, H, L1_0, 0, True, True, 1)
    assert (c, mem, n) == (copies(sc=(1, (5,))), MEM0, 1), "the system cache keeps the line dirty"


def test_set_way_cannot_name_the_system_cache() -> None:
    """The SC is not an architected level: the grammar has no name for it, and a
    level the system does not have is refused when the machine is built."""
    from stalecheck.errors import InputError
    from stalecheck.machine.program import parse_program
    from stalecheck.machine.system import Machine

    with pytest.raises(InputError):
        parse_program("DC CISW SC, X")
    b = Builder()
    b.system(pes=1, system_cache=True, louu=1, loc=1)
    b.page("P", "X")
    b.host("h", "DC CISW L2, X")
    b.bad_when(lambda v: False, "never")
    with pytest.raises(ScenarioError, match="no cache level 'L2'"):
        Machine(b.build())


def test_set_way_acts_on_the_local_pe_only() -> None:
    m = machine(_setway_on_pe1)
    s = m.initial_state()._replace(copies=copies(l1_0=(1, (5,))))
    s = exec_thread(m, s, "h")
    entry = s.bufs[1][0]
    assert entry[0] == SETWAY and entry[2] == L1_1
    s = run(m, s, (COMPLETE, 1, 0))
    assert s.copies == copies(l1_0=(1, (5,))), "PE0's dirty line is untouched"


def _setway_on_pe1(b: Builder) -> None:
    b.system(pes=2, system_cache=True, louu=1, loc=1)
    b.page("P", "X")
    b.host("h", "DC CISW L1, X", pe=1)


def test_set_way_on_the_shared_l2_writes_to_memory_not_the_system_cache() -> None:
    h = Hierarchy(CacheConfig(l2=True, system_cache=True), 1)
    l1, l2, sc = 0, 1, 2
    assert h.below == (l2, sc, -1)
    c, mem, _ = caches.setway(((), (1, (5,)), ()), MEM0, h, l2, 0, True, False, 1)
    assert c == ((), (0, (5,)), (1, (5,))), "next level is the system cache: still not at the PoC"
    assert mem == MEM0 and l1 == 0


# ---- DC IVAC / ISW become clean+invalidate at EL1 under stage 2 (D7.5.9) ---------------------


@pytest.mark.parametrize(("program", "kind_index"), [("DC IVAC X", 1), ("DC ISW L1, X", 1)])
def test_invalidate_only_is_upgraded_for_a_guest_but_not_for_the_host(program: str, kind_index: int) -> None:
    from stalecheck.machine.system import Machine

    for context, expected in (("guest", OP_CLEAN_INVAL), ("host", OP_INVAL)):
        b = Builder()
        b.system(pes=1)
        b.page("P", "X", vm="vm")
        b.vm("vm", mapped=("P",))
        if context == "guest":
            b.guest("t", program, vm="vm")
        else:
            b.host("t", program)
        b.bad_when(lambda v: False, "never")
        m = Machine(b.build())
        s = exec_thread(m, m.initial_state(), "t")
        assert s.bufs[0][0][kind_index] == expected, context


def test_guest_dc_ivac_does_not_discard_a_dirty_line() -> None:
    m = machine(_guest_ivac)
    s = m.initial_state()._replace(copies=((1, (5,)),))
    s = exec_thread(m, s, "g")
    s = run(m, s, (COMPLETE, 0, 0))
    assert s.mem == ((5,),) and s.copies == ((),)


def _guest_ivac(b: Builder) -> None:
    b.system(pes=1)
    b.page("P", "X", vm="vm")
    b.vm("vm", mapped=("P",))
    b.guest("g", "DC IVAC X", vm="vm")
