"""Issue 10: out-of-order execution together with the translation model.

Each test quotes the rule (Arm ARM DDI 0487) that makes its outcome reachable or not.
Where the rule relaxes an order the engine used to keep (translated programs ran in
program order), the test shows the outcome flips with ``weak_ordering`` off or with a
barrier, so that the order is observable.
"""

from __future__ import annotations

from collections.abc import Callable

from stalecheck.explore.verdict import Outcome
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.ordering import _must_precede
from stalecheck.machine.state import State
from stalecheck.machine.steps import EARLY, XLATE
from stalecheck.machine.system import EXEC, Machine
from stalecheck.machine.view import StateView
from stalecheck.scenarios.builder import Builder
from tests.machine.util import explore, run

Setup = Callable[[Builder], None]


def _outcome(setup: Setup, bad: Callable[[StateView], bool], weak: bool = True) -> Outcome:
    b = Builder()
    setup(b)
    b.options(weak_ordering=weak)
    b.bad_when(bad, "the outcome under test")
    verdict = explore(Machine(b.build()))
    assert verdict.outcome != Outcome.UNREACHABLE or verdict.sane, "unreachable only because no run ends"
    return verdict.outcome


def _mp_through_vas(consumer: str) -> Setup:
    """Message passing: the producer writes data then flag (physical names, DMB between);
    the consumer reads them through virtual addresses VF and VD of its own regime."""

    def setup(b: Builder) -> None:
        b.system(pes=2)
        b.page("PT", "L2T:l2e L3T:l3d,l3f")
        b.page("PD", "D")
        b.page("PF", "F")
        b.regime("k", root="L2T", levels=(2, 3), vas={"VD": (0, 0), "VF": (0, 1)})
        b.init(l2e=b.table_desc("L3T"), l3d=b.page_desc("PD"), l3f=b.page_desc("PF"))
        b.host("producer", "STR D, 1\nDMB ISH\nSTR F, 1", pe=0)
        b.host("consumer", consumer, pe=1)
        b.translate("consumer", "k")

    return setup


def _stale(v: StateView) -> bool:
    return v.done("consumer") and v.reg("consumer", "r1") == 1 and v.reg("consumer", "r2") == 0


def test_translated_loads_are_satisfied_out_of_order() -> None:
    """B2.3.7 Ordered-before: nothing orders two loads to different locations without a
    dependency or barrier, whether their addresses are translated or not (the walks are
    Translation-intrinsically-before each access, B2.3.4, which orders nothing between
    the two accesses).  The translated MP shape is allowed; it used to be unreachable
    because translated programs ran in program order."""
    assert _outcome(_mp_through_vas("LDR r1, VF\nLDR r2, VD"), _stale) == Outcome.REACHABLE
    assert _outcome(_mp_through_vas("LDR r1, VF\nLDR r2, VD"), _stale, weak=False) == Outcome.UNREACHABLE


def test_dmb_ld_orders_translated_loads() -> None:
    """B2.3.7 Barrier-ordered-before: a DMB LD orders an earlier read before every later
    access, translated or not."""
    assert _outcome(_mp_through_vas("LDR r1, VF\nDMB ISHLD\nLDR r2, VD"), _stale) == Outcome.UNREACHABLE


def test_msr_lets_later_accesses_pass() -> None:
    """D24.1: "a direct write to a System register requires synchronization before
    software can rely on the effects of that write to affect instructions appearing in
    program order after the write", and "Direct writes to System registers are not
    allowed to affect any instructions appearing in program order before the direct
    write": an MSR waits for every earlier instruction, but a later load may be
    satisfied before it (so before an earlier load, here)."""
    mp = _mp_through_vas("LDR r1, VF\nMSR SCTLR_EL1.C, 1\nLDR r2, VD")
    assert _outcome(mp, _stale) == Outcome.REACHABLE
    msr = Instr(Op.MSR, kind="C", value=1)
    load = Instr(Op.LDR, loc="X", reg="r1")
    assert _must_precede(load, msr, False)
    assert not _must_precede(msr, load, False)
    assert _must_precede(msr, Instr(Op.ISB), False)  # the ISB that synchronises it comes after


def test_tlbi_is_ordered_only_by_dsb() -> None:
    """D8.17.8 R_TGVWD: "the effects of a TLB maintenance instruction can be observed in
    any order relative [to] that instruction unless a DSB is executed between the
    instructions"."""
    tlbi = Instr(Op.TLBI, kind="VAE1IS", loc="V")
    others = (Instr(Op.LDR, loc="X", reg="r1"), Instr(Op.STR, loc="X", value=1), Instr(Op.DMB, kind="ISH"))
    for other in others:
        assert not _must_precede(other, tlbi, False)
        assert not _must_precede(tlbi, other, False)
    dsb = Instr(Op.DSB, kind="ISH")
    assert _must_precede(tlbi, dsb, False) and _must_precede(dsb, tlbi, False)


def _pte_after_load(b: Builder) -> None:
    """A thread reads through V, then remaps V (a store to the entry V's walk reads)."""
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("PA", "A")
    b.page("PB", "B")
    b.host_type("A", DEVICE)
    b.host_type("B", DEVICE)
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("PA", attr="device"), A=1, B=2)
    b.host("cpu", f"LDR r1, V\nSTR l3e, {b.page_desc('PB', attr='device')}\nDSB ISH", pe=0)
    b.translate("cpu", "k")


def test_later_store_to_a_table_entry_is_not_seen_by_an_earlier_walk() -> None:
    """B2.3.2 Local memory write successor: an Implicit TTD Memory Read Effect is
    followed by a program-order-later explicit write to the same location, so the walk
    of ``LDR r1, V`` never reads the remap after it; and exceptions are precise.  The
    store passes the load only once the load's translation is made (mmu.py XLATE)."""
    remapped = _outcome(_pte_after_load, lambda v: v.done("cpu") and v.reg("cpu", "r1") == 2)
    assert remapped == Outcome.UNREACHABLE
    b = Builder()
    _pte_after_load(b)
    b.options(weak_ordering=True)
    b.bad_when(lambda v: False, "never")
    m = Machine(b.build())
    s = m.initial_state()
    assert not [a for a in m.actions(s) if a[0] == EARLY]  # the load's walk is not made yet
    s = run(m, s, (XLATE, 0, 0, 0))
    assert (EARLY, 0, 1, 0) in m.actions(s)  # now the store may pass the load


def _fault_then_load(b: Builder) -> None:
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("PX", "X")
    b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=0, X=7)  # V is unmapped: its walk faults
    b.host("cpu", "LDR r1, V\nLDR r2, X", pe=0)
    b.translate("cpu", "k", on_fault="retry")


def test_a_load_past_a_faulting_access_is_undone() -> None:
    """Exceptions are precise (D1.4, an exception is taken before any later instruction's
    architectural effect): a plain load may be satisfied before an older access whose walk
    is not made yet, and is undone when that access faults (it runs again after ERET)."""
    b = Builder()
    _fault_then_load(b)
    b.options(weak_ordering=True)
    b.bad_when(lambda v: False, "never")
    m = Machine(b.build())
    s: State = m.initial_state()
    s = run(m, s, (EARLY, 0, 1, 0))
    assert s.threads[0].ahead == 0b10
    s = run(m, s, (EXEC, 0, 0))  # the walk faults: the retry handler runs
    assert s.threads[0].hyp and s.threads[0].ahead == 0


def _alias(b: Builder) -> None:
    """VX translates to the page holding X: a store to X and a load through VX are to the
    same physical location."""
    b.system(pes=1)
    b.page("PT", "L2T:l2e L3T:l3e")
    b.page("PX", "X")
    b.regime("k", root="L2T", levels=(2, 3), vas={"VX": (0, 0)})
    b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("PX"))
    b.host("cpu", "STR X, 1\nLDR r1, VX", pe=0)
    b.translate("cpu", "k")


def test_a_load_through_an_alias_reads_the_older_store() -> None:
    """B2.3.1 Coherence order (a load never reads a write Coherence-before a
    program-order-earlier write to the same location): the load through VX passes the
    store to X only if its translation shows another physical location."""
    assert _outcome(_alias, lambda v: v.done("cpu") and v.reg("cpu", "r1") != 1) == Outcome.UNREACHABLE


def test_dc_waits_for_a_translated_access_to_its_line() -> None:
    """D7.5.9.15: data cache maintenance by VA executes "in program order relative to
    loads or stores that ... Access an address in Normal memory with either Inner Write
    Through or Inner Write Back attributes within the same cache line": a DC to X never
    passes a store through VX, which translates to X's line, whereas a DC to another
    line passes it once its walk is made."""

    def setup(dc_line: str) -> Setup:
        def build(b: Builder) -> None:
            b.system(pes=1)
            b.page("PT", "L2T:l2e L3T:l3e")
            b.page("PX", "X")
            b.page("PY", "Y")
            b.regime("k", root="L2T", levels=(2, 3), vas={"VX": (0, 0)})
            b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("PX"))
            b.host("cpu", f"STR VX, 1\nDC CIVAC {dc_line}", pe=0)
            b.translate("cpu", "k")
            b.options(weak_ordering=True)

        return build

    for line, passes in (("X", False), ("Y", True)):
        b = Builder()
        setup(line)(b)
        b.bad_when(lambda v: False, "never")
        m = Machine(b.build())
        s = run(m, m.initial_state(), (XLATE, 0, 0, 0))
        assert ((EARLY, 0, 1, 0) in m.actions(s)) == passes, line


def test_exec_waits_only_for_context_synchronisation() -> None:
    """B2.7.4.2 and D8.2: a PE may fetch an instruction at any time after its last context
    synchronisation event, so the EXEC that consumes the fetch keeps program order only
    with what holds every later instruction (ISB, DSB, WAIT); B2.3.5 Fetch-intrinsically-
    before orders the fetch before the fetched instruction's own effects, nothing else."""
    exec_ = Instr(Op.EXEC, loc="C", reg="r2")
    load = Instr(Op.LDR, loc="X", reg="r1")
    assert not _must_precede(load, exec_, False) and not _must_precede(exec_, load, False)
    assert _must_precede(Instr(Op.ISB), exec_, False)
    b = Builder()
    b.system(pes=1)
    b.page("P", "X")
    b.page("G", "C")
    b.fetch(icache="pipt")
    b.host("cpu", "LDR r1, X\nEXEC r2, C\nISB\nEXEC r3, C", pe=0)
    b.options(weak_ordering=True)
    b.bad_when(lambda v: False, "never")
    m = Machine(b.build())
    assert (EARLY, 0, 1, 0) in m.actions(m.initial_state())
    assert not [a for a in m.actions(m.initial_state()) if a[:3] == (EARLY, 0, 3)]


def _local_tlbi(barrier: str) -> Setup:
    def setup(b: Builder) -> None:
        b.system(pes=1)
        b.page("PT", "L2T:l2e L3T:l3e")
        b.page("PA", "A")
        b.host_type("A", DEVICE)
        b.regime("k", root="L2T", levels=(2, 3), vas={"V": (0, 0)})
        b.init(l2e=b.table_desc("L3T"), l3e=b.page_desc("PA", attr="device"), A=1)
        b.host("cpu", f"STR l3e, 0\nDSB ISH\nTLBI VAE1, V\n{barrier}ISB\nLDR r1, V", pe=0)
        b.translate("cpu", "k")

    return setup


def test_an_isb_after_a_dsb_nsh_waits_for_it() -> None:
    """B2.6.9: "no instruction that appears in program order after the DSB instruction can
    alter any state of the system or perform any part of its functionality until the DSB
    completes", a DSB NSH included (D8.17.8 R_PSMWS: "A DSB NSH is sufficient to ensure
    completion of TLB maintenance instructions that apply to a single PE"): the ISB, and
    so the load after it, wait for the local TLBI to complete."""

    def old(v: StateView) -> bool:
        return v.done("cpu") and v.reg("cpu", "r1") == 1

    assert _outcome(_local_tlbi("DSB NSH\n"), old) == Outcome.UNREACHABLE
    assert _outcome(_local_tlbi(""), old) == Outcome.REACHABLE
