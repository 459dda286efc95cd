"""Translation-table walks, page-table stores and MMU faults (herd's ``-variant vmsa``).

Each test states the rule it checks (Arm ARM chapter D8 and the ordering rules
of B2.3, as herd's ``aarch64.cat`` writes them) and a small program whose
verdict flips if the rule is dropped.  The catalogue-wide check is
``test_agreement.py``.
"""

from __future__ import annotations

import pytest

from stalecheck.axiomatic.check import CheckResult, check_test
from stalecheck.errors import UnsupportedError
from stalecheck.litmus import parse_litmus

# P0 makes x valid, then publishes y; P1 sees y and then accesses x.
PUBLISH = """AArch64 T
{{
[PTE(x)]=(oa:PA(x), valid:0);
0:X1=PTE(x); pteval_t 0:X2=(oa:PA(x)); 0:X3=y;
1:X3=y; 1:X5=x;
}}
 P0          | P1           ;
 STR X2,[X1] | LDR W0,[X3]  ;
 {bar0}      | {bar1}       ;
 MOV W4,#1   | {isb}        ;
             | L0:          ;
 STR W4,[X3] | LDR W6,[X5]  ;
exists (1:X0=1 /\\ fault(P1:L0,x))
"""


def _run(text: str) -> CheckResult:
    return check_test(parse_litmus(text), variants=["kvm", "fatal"])


def _publish(bar0: str, bar1: str, isb: str = "") -> CheckResult:
    return _run(PUBLISH.format(bar0=bar0, bar1=bar1, isb=isb))


def test_invalid_entry_faults_and_ends_the_thread() -> None:
    """D8.15.1 (R_LLSZN): a walk that reads an invalid descriptor gives a Translation
    fault; with herd's fatal handling the thread stops, so X2 keeps its value."""
    r = _run("""AArch64 T
{ [PTE(x)]=(oa:PA(x), valid:0); 0:X1=x; 0:X2=5; }
 P0          ;
 L0:         ;
 LDR W0,[X1] ;
 MOV W2,#1   ;
forall (0:X2=5 /\\ fault(P0:L0,x,MMU:Translation))
""")
    assert r.verdict == "Required"


def test_physical_address_is_not_translated() -> None:
    """An access to PA(x) bypasses the entry (herd: Access.PHY is not walked)."""
    r = _run("""AArch64 T
{ x=1; [PTE(x)]=(oa:PA(x), valid:0); 0:X1=phy_x; }
 P0          ;
 LDR W0,[X1] ;
forall (0:X0=1)
""")
    assert r.verdict == "Required"


def test_walk_reads_the_remapped_page() -> None:
    """D8.2: the output address comes from the descriptor read.  After DSB; ISB
    (B2.3.7 IFB-ob) the walk is after the store of an entry naming PA(y); the old
    entry was invalid, so no TLB holds it (D8.16.1) and the walk cannot read it:
    the access reads y.  (Had the old entry been valid, reading it would stay
    allowed: that needs a TLBI.)"""
    r = _run("""AArch64 T
{ y=2; [PTE(x)]=(oa:PA(x), valid:0); 0:X1=PTE(x); pteval_t 0:X2=(oa:PA(y)); 0:X3=x; }
 P0          ;
 STR X2,[X1] ;
 DSB SY      ;
 ISB         ;
 LDR W0,[X3] ;
forall (0:X0=2)
""")
    assert r.verdict == "Required"


def test_dsb_alone_does_not_order_a_later_walk() -> None:
    """B2.3.7 DSB-ordered-before does not reach walks without FEAT_ETS2 (D8.2.7): after
    seeing y=1, P1's walk may still read the old invalid entry."""
    assert _publish("DMB SY", "DSB SY").verdict == "Allowed"


def test_dsb_and_isb_order_a_later_walk() -> None:
    """B2.3.7 IFB-ob (DSB-ob; [IFB]; po) orders the walk after P1's read of y; the walk
    read an invalid entry, which no TLB holds (D8.16.1), so TLBuncacheable-ca puts it
    before P0's store of the valid entry: a cycle, so the outcome is forbidden."""
    assert _publish("DMB SY", "DSB SY", "ISB").verdict == "Forbidden"


def test_rf_into_a_walk_orders_it() -> None:
    """B2.3.8 TTD-observed-by (rf; [Imp & TTD]): a walk that reads P0's valid entry is
    after it, so with DMB LD after the access P1 must see x=1 (herd's MP-I2V+rel+dmb.ld)."""
    r = _run("""AArch64 T
{ [PTE(y)]=(oa:PA(y), valid:0);
  0:X1=x; pteval_t 0:X2=(oa:PA(y), valid:1); 0:X4=PTE(y); 1:X1=x; 1:X3=y; }
 P0           | P1              ;
 MOV W0,#1    | L0: LDR W5,[X3] ;
 STR W0,[X1]  | DMB LD          ;
 STLR X2,[X4] | LDR W0,[X1]     ;
exists (not (fault(P1:L0,y)) /\\ 1:X0=0)
""")
    assert r.verdict == "Forbidden"
    assert r.p_false == 2  # herd7's witness counts (AArch64.kvm/MP-I2V+rel+dmb.ld)


def test_setting_ap2_makes_the_page_read_only() -> None:
    """D8.5.2: AP[2] (bit 7) set is the clean, read-only state; herd's ORR on a
    descriptor sets it as db:0, and a store through it takes a Permission fault.  The
    old writable entry may still be held in a TLB (D8.16.1: a valid entry may be
    cached until a TLBI), so the store may also succeed: both outcomes exist."""
    r = _run("""AArch64 T
{ 0:X4=PTE(x); 0:X2=x; }
 P0           ;
 LDR X3,[X4]  ;
 MOV X1,#128  ;
 ORR X5,X3,X1 ;
 STR X5,[X4]  ;
 DSB SY       ;
 ISB          ;
 MOV W6,#1    ;
 L0:          ;
 STR W6,[X2]  ;
exists (x=0 /\\ fault(P0:L0,x,MMU:Permission))
""")
    assert r.verdict == "Allowed" and r.p_false == 1  # the other outcome: x=1, no fault


# P0 unmaps x (break), invalidates its TLB entries, then publishes y; P1 sees y, then
# accesses x: the question is whether P1 can still use the old, valid translation.
SHOOTDOWN = """AArch64 T
{{
0:X1=PTE(x); pteval_t 0:X2=(oa:PA(x), valid:0); 0:X3=y; 0:X5=x;
1:X3=y; 1:X5=x;
}}
 P0               | P1          ;
 STR X2,[X1]      | LDR W0,[X3] ;
 DSB SY           | DMB LD      ;
 LSR X9,X5,#12    | L0:         ;
 {tlbi}           | LDR W6,[X5] ;
 {dsb}            |             ;
 MOV W4,#1        |             ;
 STR W4,[X3]      |             ;
exists (1:X0=1 /\\ ~fault(P1:L0,x))
"""


def _shootdown(tlbi: str, dsb: str = "DSB SY") -> CheckResult:
    return _run(SHOOTDOWN.format(tlbi=tlbi, dsb=dsb))


def test_without_tlbi_the_old_translation_may_be_used() -> None:
    """D8.16.1: a valid entry may be held in a TLB after the entry in memory changes."""
    assert _shootdown("NOP").verdict == "Allowed"


def test_completed_broadcast_tlbi_removes_the_old_translation() -> None:
    """D8.17.2 (B2.3.7 TLBI-ordered-before, B2.3.8 TLBI-coherence-after): once the
    TLBI VAAE1IS is complete (DSB), P1's walk is either after it, and then it cannot
    read the entry older than P0's invalid one (TLBI-ca), or before it, and then P1's
    access is before what the TLBI's DSB orders, P0's store of y (TLBI-ob): a cycle
    either way, so P1 faults."""
    assert _shootdown("TLBI VAAE1IS,X9").verdict == "Forbidden"


def test_tlbi_without_dsb_is_not_complete() -> None:
    """enumerations.cat C_TLBI (D8.17.4: a TLBI is complete only after a DSB): without
    the second DSB the TLBI orders nothing."""
    assert _shootdown("TLBI VAAE1IS,X9", "NOP").verdict == "Allowed"


def test_local_tlbi_does_not_reach_other_pes() -> None:
    """D8.17.4: a TLBI without IS affects the issuing PE's TLBs only."""
    assert _shootdown("TLBI VAAE1,X9").verdict == "Allowed"


def test_tlbi_of_another_page_does_not_help() -> None:
    """herd's inv-domain: TLBI by VA reaches the walks of that page's entry only."""
    r = _run(SHOOTDOWN.format(tlbi="TLBI VAAE1IS,X9", dsb="DSB SY").replace(
        "LSR X9,X5,#12", "LSR X9,X3,#12"))
    assert r.verdict == "Allowed"


def test_hardware_dirty_state_update() -> None:
    """D8.5.2 (FEAT_HAFDBS, TTHM=HD): a store through a writable-clean entry (db:0, dbm:1)
    does not fault; the walk sets the dirty state in the entry, atomically with reading it."""
    r = _run("""AArch64 T
TTHM=HD
{ [PTE(x)]=(oa:PA(x), db:0, dbm:1); 0:X1=x; }
 P0          ;
 MOV W0,#1   ;
 STR W0,[X1] ;
forall (x=1 /\\ [PTE(x)]=(oa:PA(x), dbm:1))
""")
    assert r.verdict == "Required"


def test_without_hd_a_clean_page_faults() -> None:
    """D8.5.2: with HA only, the dirty state is not managed by hardware: Permission fault."""
    r = _run("""AArch64 T
TTHM=HA
{ [PTE(x)]=(oa:PA(x), db:0, dbm:1); 0:X1=x; }
 P0          ;
 MOV W0,#1   ;
 L0:         ;
 STR W0,[X1] ;
forall (x=0 /\\ fault(P0:L0,x,MMU:Permission))
""")
    assert r.verdict == "Required"


def test_update_is_atomic_with_the_walk() -> None:
    """aarch64.cat ``atomic`` over ``[Imp & TTD & R]; rmw; [HU]`` (D8.5.2: the update is
    an atomic read-modify-write of the entry): P1 stores a clean entry marked el0:0.  The
    final entry is P1's (stored after the update), or P1's made dirty (the update of a
    walk that read it); never the initial entry made dirty, which would be an update of
    a stale value landing after P1's store."""
    r = _run("""AArch64 T
TTHM=P0:HD
{ [PTE(x)]=(oa:PA(x), db:0, dbm:1); 0:X1=x;
  1:X1=PTE(x); pteval_t 1:X2=(oa:PA(x), db:0, dbm:1, el0:0); }
 P0          | P1          ;
 MOV W0,#1   | STR X2,[X1] ;
 STR W0,[X1] |             ;
exists ([PTE(x)]=(oa:PA(x), dbm:1))
""")
    assert r.verdict == "Forbidden"
    assert r.p_false > 0  # the update does happen, from either entry


def test_hardware_may_set_the_access_flag_without_an_access() -> None:
    """D8.5.1 (with HA an Access flag may be set by a walk that is not for an access;
    herd's spurious updates, vmsa_spurious.py): an entry P0 stores valid with AF clear
    may be found with AF set although no thread accessed x."""
    r = _run("""AArch64 T
TTHM=HA
{ 0:X1=PTE(x); pteval_t 0:X2=(oa:PA(x), af:0); }
 P0          ;
 STR X2,[X1] ;
exists ([PTE(x)]=(oa:PA(x)))
""")
    assert r.verdict == "Allowed"
    assert r.p_false == 1  # and the entry as stored


def test_fault_handler_runs_after_the_fault_in_order() -> None:
    """A fault is an exception entry, a context synchronization event (D1.3.5; herd's
    EXC-ENTRY in IFB): the read the faulting store control-depends on is before
    everything in the handler (B2.3.7 IFB-ob), so MP through the handler is forbidden."""
    r = _run("""AArch64 T
{ [PTE(z)]=(oa:PA(z), valid:0); 0:X1=y; 0:X3=x; 1:X1=y; 1:X3=x; 1:X5=z; }
 P0           | P1           | P1.F        ;
 MOV W2,#1    | LDR W0,[X1]  |             ;
 STR W2,[X3]  | CBZ W0,L0    |             ;
 MOV W0,#1    | STR WZR,[X5] | LDR W2,[X3] ;
 STLR W0,[X1] | L0:          |             ;
exists (1:X0=1 /\\ 1:X2=0)
""")
    assert r.verdict == "Forbidden"


def test_eret_returns_to_elr() -> None:
    """A handler that sets ELR_EL1 and returns with ERET resumes there (herd's FaultRet)."""
    r = _run("""AArch64 T
{ [PTE(x)]=(oa:PA(x), valid:0); 0:X1=x; }
 P0          | P0.F           ;
 MOV W2,#1   | ADR X9,L0      ;
 STR W2,[X1] | MSR ELR_EL1,X9 ;
 L0:         | MOV X3,#7      ;
 MOV X4,#5   | ERET           ;
forall (0:X3=7 /\\ 0:X4=5 /\\ x=0)
""")
    assert r.verdict == "Required"


def test_handled_fault_reruns_the_instruction() -> None:
    """herd's ``handled`` (``imprecise``): a fault with no handler re-executes the
    instruction, as if the fault were fixed; here P1 makes the entry valid, so the retry
    reads x (herd discards the path if it faults again)."""
    r = _run("""AArch64 T
Variant=vmsa,imprecise
{ x=3; [PTE(x)]=(oa:PA(x), valid:0); 0:X1=x; 1:X1=PTE(x); pteval_t 1:X2=(oa:PA(x)); }
 P0          | P1          ;
 L0:         | STR X2,[X1] ;
 LDR W0,[X1] |             ;
forall (0:X0=3)
""")
    assert r.verdict == "Required"
    assert any("Fault" not in c for st in r.states for c in st)


ETS_PUBLISH = """AArch64 T
Variant=vmsa,{ets}
{{ [PTE(x)]=(oa:PA(x), valid:0); pteval_t 0:X1=(oa:PA(x)); 0:X0=PTE(x); 0:X2=x; }}
 P0          ;
 STR X1,[X0] ;
 {dsb}       ;
L0:          ;
 LDR W3,[X2] ;
exists (fault(P0:L0,x,MMU:Translation))
"""


def test_ets2_orders_a_faulting_walk_after_earlier_accesses() -> None:
    """FEAT_ETS2 (D8.2.7; herd's ets-ob): an explicit access is before the walk of a
    po-later access that takes a Translation fault; that walk read an entry no TLB holds
    (TLBuncacheable-ca), so it cannot read the entry older than P0's valid one."""
    assert _run(ETS_PUBLISH.format(ets="ets2", dsb="NOP")).verdict == "Forbidden"
    assert _run(ETS_PUBLISH.format(ets="fatal", dsb="NOP")).verdict == "Allowed"


def test_ets2_orders_what_came_before_a_faulting_access() -> None:
    """FEAT_ETS2 (ets-ob): P1's read of y is before the walk of its later faulting access,
    so after seeing P0's flag P1 cannot fault on the entry P0 made valid before it;
    without ETS2 it can (the walk is not ordered after the read: herd's MP needs
    DSB; ISB or a dependency)."""
    test = """AArch64 T
Variant=vmsa,{ets}
{{ [PTE(x)]=(oa:PA(x), valid:0); pteval_t 0:X1=(oa:PA(x)); 0:X0=PTE(x); 0:X3=y;
  1:X3=y; 1:X2=x; }}
 P0          | P1          ;
 STR X1,[X0] | LDR W4,[X3] ;
 DMB SY      | L0:         ;
 MOV W5,#1   | LDR W6,[X2] ;
 STR W5,[X3] |             ;
exists (1:X4=1 /\\ fault(P1:L0,x,MMU:Translation))
"""
    assert _run(test.format(ets="ets2")).verdict == "Forbidden"
    assert _run(test.format(ets="fatal")).verdict == "Allowed"


def test_exclusive_reservation_is_physical() -> None:
    """The exclusive monitor marks the physical address (Arm ARM B2.9.2: the Exclusives
    monitors are on physical addresses; herd's ResAddr after translation): a STXR whose
    walk reads P0's new entry, mapping x to PA(y), writes y only by failing, never by
    succeeding on the reservation made for PA(x)."""
    r = _run("""AArch64 T
{ x=1; y=2; 0:X2=PTE(x); pteval_t 0:X1=(oa:PA(y)); 0:X8=x; 1:X3=x; }
 P0          | P1              ;
 STR X1,[X2] | LDXR W4,[X3]    ;
 DSB ISH     | MOV W7,#4       ;
 MOV W7,#3   | STXR W5,W7,[X3] ;
 STR W7,[X8] |                 ;
exists (1:X4=1 /\\ y=4)
""")
    assert r.verdict == "Forbidden"


def test_failing_cas_checks_write_permission() -> None:
    """herd (AArch64Sem.ml ``do_cas_fail_with``: ``Dir.W`` in every form) and Arm ARM
    D8.5.2: a CAS is checked as a write even when its comparison fails, so a CAS on a
    clean (``db:0``) page takes a Permission fault and writes nothing."""
    r = _run("""AArch64 T
{ int x=1; [PTE(x)]=(oa:PA(x), db:0); 0:X4=x; }
 P0             ;
 MOV W1,#0      ;
 MOV W3,#2      ;
 L0:            ;
 CAS W1,W3,[X4] ;
forall (fault(P0:L0,x,MMU:Permission) /\\ [x]=1)
""")
    assert r.verdict == "Required"


def test_cas_with_walks_has_herds_forms() -> None:
    """With translation, CAS keeps herd's forms (success with Rs from the register or
    from memory, failure with or without write-back): a failing CAS on a writable page
    reads x, writes nothing new, and counts two executions (with and without write-back)."""
    r = _run("""AArch64 T
{ int x=1; [PTE(x)]=(oa:PA(x), db:1); 0:X4=x; }
 P0             ;
 MOV W1,#0      ;
 MOV W3,#2      ;
 CAS W1,W3,[X4] ;
forall (0:X1=1 /\\ [x]=1)
""")
    assert r.verdict == "Required"
    assert r.positive == 2


def test_cas_with_hardware_dirty_state_is_refused() -> None:
    """A failing CAS without write-back may or may not set the dirty state under
    TTHM=HD (herd enumerates both); only one is modelled, so the test is refused."""
    with pytest.raises(UnsupportedError, match="TTHM=HD"):
        _run("""AArch64 T
TTHM=HD
{ int x=1; [PTE(x)]=(oa:PA(x), db:0, dbm:1); 0:X4=x; }
 P0             ;
 MOV W1,#0      ;
 MOV W3,#2      ;
 CAS W1,W3,[X4] ;
forall (0:X1=1)
""")
