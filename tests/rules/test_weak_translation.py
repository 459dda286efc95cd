"""Issue 10: out-of-order execution together with the translation model.

Each test quotes the rule (Arm ARM DDI 0487) that makes its outcome reachable or not.
Where the rule relaxes an order the engine used to keep (translated programs ran in
program order), the test shows the outcome flips with ``weak_ordering`` off or with a
barrier, so that the order is observable.
"""

from __future__ import annotations

from collections.abc import Callable

from stalecheck.explore.search import collect
from stalecheck.explore.verdict import Outcome
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.memtypes import DEVICE
from stalecheck.machine.ordering import _must_precede
from stalecheck.machine.state import State
from stalecheck.machine.steps import EARLY, XLATE
from stalecheck.machine.system import EXEC, Machine
from stalecheck.machine.view import StateView
from stalecheck.scenarios.builder import Builder
from tests.machine.util import machine, run
from tests.machine.util import outcome as _outcome

Setup = Callable[[Builder], None]


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


# ---- accesses through one virtual address reorder as accesses to one location ------------


def _one_va(consumer: str, writer: str = "STR X, 1", translate: bool = True) -> Setup:
    """A writer stores to X (and Y, Z) by physical name; the consumer's program names X
    through ``{X}``: the virtual address VX (a one-level regime mapping it to X's page)
    when ``translate``, else X itself.  Device pages: no cache steps to explore."""

    def setup(b: Builder) -> None:
        b.system(pes=2)
        b.page("PT", "L3T:l3x")
        for page, loc in (("PX", "X"), ("PY", "Y"), ("PZ", "Z")):
            b.page(page, loc)
            b.host_type(loc, DEVICE)
        b.regime("k", root="L3T", levels=(3,), vas={"VX": (0,)})
        b.init(l3x=b.page_desc("PX", attr="device"))
        b.host("writer", writer, pe=0)
        b.host("consumer", consumer.format(X="VX" if translate else "X"), pe=1)
        b.translate("consumer", "k")
        b.options(weak_ordering=True)

    return setup


def _finals(setup: Setup, regs: tuple[str, ...]) -> set[tuple[int, ...]]:
    """The consumer's final registers and X, over every complete run."""
    m = machine(setup)

    def final(state: State) -> bool:
        return m.is_complete(state) and not any(state.bufs)

    def project(state: State) -> tuple[int, ...]:
        v = StateView(m, state)
        return (*(v.reg("consumer", r) for r in regs), v.mem("X"))

    result = collect(m, final, project)
    assert result.complete
    return {value for value in result.values if isinstance(value, tuple)}


def test_forwarding_from_an_unexecuted_store_through_one_va() -> None:
    """Flat's forwarding through a virtual address (B2.3.7: nothing orders a release
    store before a later LDAPR, ``[L]; po; [A]`` is for LDAR only, and the read-from-
    internal edge is not in Observed-by): ``LDAPR r2, VX`` reads the data of the
    ``STLR`` to VX before that store may execute (it waits for ``LDR r1, Y``, po;[L]),
    once the store's walk is made, so ``LDR r3, Z`` after the acquire may be satisfied
    before ``LDR r1, Y``: the MP outcome r1=1, r3=0 is allowed, as it is with physical
    names.  Through one VA the load used to wait for the store (a Model order).  With
    ``LDAR`` (RCsc: release then acquire, B2.3.7 Barrier-ordered-before) it stays
    unreachable."""
    program = "LDR r1, Y\nSTLR {X}, 1\nLDAPR r2, {X}\nLDR r3, Z"
    writer = "STR Z, 1\nDMB ISH\nSTR Y, 1"

    def bad(v: StateView) -> bool:
        regs = tuple(v.reg("consumer", r) for r in ("r1", "r2", "r3"))
        return v.done("consumer") and regs == (1, 1, 0)

    for translate in (True, False):
        assert _outcome(_one_va(program, writer, translate), bad) == Outcome.REACHABLE
    rcsc = program.replace("LDAPR", "LDAR")
    assert _outcome(_one_va(rcsc, writer), bad) == Outcome.UNREACHABLE


def test_a_load_forwards_once_the_stores_walk_is_made() -> None:
    """The store's physical location is known once its walk is made (mmu.py XLATE): only
    then may a later load through the same VA be satisfied from it, with its data, before
    the store executes (B2.3.1: the load reads that store or a coherence-later write)."""
    m = machine(_one_va("STR {X}, 5\nLDR r1, {X}", writer="NOP"))
    s = m.initial_state()
    assert not [a for a in m.actions(s) if a[:3] == (EARLY, 1, 1)]  # where the store goes is unknown
    s = run(m, s, (XLATE, 1, 0, 0))
    s = run(m, s, (EARLY, 1, 1, 0))
    assert StateView(m, s).reg("consumer", "r1") == 5 and s.threads[1].pc == 0


def test_two_loads_through_one_va_are_satisfied_in_either_order() -> None:
    """herd's RSW is allowed: two loads of one location that read the same write may be
    satisfied in either order (B2.3.1 Coherence order forbids only the earlier one reading
    the newer write).  Through one VA the later load may now be satisfied first, once the
    earlier one's walk is made (B2.3.7 TLBI-ordered-before: the earlier access may not
    take a translation made after a TLBI that completed after the later one's walk); its
    translation is kept until the earlier load has executed (read-read coherence is
    checked on physical locations)."""
    m = machine(_one_va("LDR r1, {X}\nLDR r2, {X}"))
    s = m.initial_state()
    assert (EARLY, 1, 1, 0) not in m.actions(s)
    s = run(m, s, (XLATE, 1, 0, 0), (EARLY, 1, 1, 0))
    assert [at for at, _ in s.threads[1].early] == [0, 1]  # 1 kept for the check of load 0
    s = run(m, s, (EXEC, 1, 0))
    assert s.threads[1].early == ()


def test_coherence_through_one_va_and_through_aliases() -> None:
    """B2.3.1 Coherence order holds on physical locations, whatever the names: read-read
    (CoRR), read-write (CoRW), write-read (forwarding) and write-write coherence give the
    same final states through VX as through X, and through VX then its alias X (a later
    load through another name than an earlier one used to pass it unchecked: CoRR,
    r1=1 r2=0, was reachable, weaker than the architecture)."""
    cases = (
        ("LDR r1, {X}\nLDR r2, {X}", "STR X, 1\nSTR X, 2", ("r1", "r2")),
        ("LDR r1, {X}\nLDR r2, X", "STR X, 1\nSTR X, 2", ("r1", "r2")),
        ("LDR r1, X\nLDR r2, {X}", "STR X, 1\nSTR X, 2", ("r1", "r2")),
        ("STR {X}, 2\nLDR r1, {X}", "STR X, 1", ("r1",)),
        ("LDR r1, {X}\nSTR {X}, 2", "STR X, 1", ("r1",)),
        ("STR {X}, 2\nLDR r1, X\nSTR {X}, 3", "STR X, 1", ("r1",)),
    )
    for program, writer, regs in cases:
        through_va = _finals(_one_va(program, writer), regs)
        assert through_va == _finals(_one_va(program, writer, translate=False), regs), program
    corr = _finals(_one_va("LDR r1, {X}\nLDR r2, X", "STR X, 1"), ("r1", "r2"))
    assert (1, 0, 1) not in corr and (0, 1, 1) in corr


def _release(first: str, second: str) -> Setup:
    """Two PEs over Device pages X and Y; ``first`` names them through VX and VY."""

    def setup(b: Builder) -> None:
        b.system(pes=2)
        b.page("PT", "L3T:l3x,l3y")
        for page, loc in (("PX", "X"), ("PY", "Y")):
            b.page(page, loc)
            b.host_type(loc, DEVICE)
        b.regime("k", root="L3T", levels=(3,), vas={"VX": (0,), "VY": (1,)})
        b.init(l3x=b.page_desc("PX", attr="device"), l3y=b.page_desc("PY", attr="device"))
        b.host("first", first, pe=0)
        b.host("second", second, pe=1)
        b.translate("first", "k")

    return setup


def test_a_translated_release_propagates_after_earlier_stores() -> None:
    """B2.3.7 Barrier-ordered-before (``po; [L]``): a store-release is ordered after every
    earlier access, through a virtual address too (its buffer entry used to lack the
    release flag, so it could propagate before the earlier store: weaker than the
    architecture).  With a plain store the MP outcome is reachable."""

    def bad(v: StateView) -> bool:
        return v.done("second") and v.reg("second", "r1") == 1 and v.reg("second", "r2") == 0

    reader = "LDAR r1, Y\nLDAR r2, X"
    assert _outcome(_release("STR VX, 1\nSTLR VY, 1", reader), bad) == Outcome.UNREACHABLE
    assert _outcome(_release("STR VX, 1\nSTR VY, 1", reader), bad) == Outcome.REACHABLE


def test_a_translated_acquire_waits_for_an_earlier_release() -> None:
    """B2.3.7 Barrier-ordered-before (``[L]; po; [A]``, RCsc): an LDAR through a virtual
    address is not satisfied while an earlier store-release is still in the buffer, so
    SB with release stores and LDAR is forbidden; with LDAPR (RCpc) it is allowed."""

    def bad(v: StateView) -> bool:
        done = v.done("first") and v.done("second")
        return done and v.reg("first", "r1") == 0 and v.reg("second", "r2") == 0

    other = "STLR Y, 1\nLDAR r2, X"
    assert _outcome(_release("STLR X, 1\nLDAR r1, VY", other), bad) == Outcome.UNREACHABLE
    assert _outcome(_release("STLR X, 1\nLDAPR r1, VY", other), bad) == Outcome.REACHABLE
