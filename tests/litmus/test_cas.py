"""CAS/CASP as herd builds them: two forms of each outcome, each its own execution.

herd (AArch64Sem.ml ``cas``, eventsMonad.ml ``aarch64_cas_ok``/``aarch64_cas_no``)
gives a successful CAS two forms -- Rs rewritten from the register, or from the
memory read -- and a failing one two -- with or without a write-back of the value
read.  These tests pin what each form contributes, so that no count is a
multiplier and no verdict rests on only one of the forms.
"""

from __future__ import annotations

from stalecheck.axiomatic.check import check_test
from stalecheck.litmus import parse_file, parse_litmus
from tests.litmus.conftest import HERD

CATALOGUE = HERD / "herd-catalogue" / "aarch64" / "tests"


def _run(text: str) -> tuple[str, int, int]:
    r = check_test(parse_litmus(text), keep_witness=False)
    return r.verdict, r.p_true, r.p_false


def test_success_from_the_register_carries_no_dependency_from_the_read() -> None:
    """kinds.txt: MP+rel+CAS-ok-MRs-addr Allowed.  Rs's new value may come from Rs
    itself (herd's DataFromRRs), so the memory read need not be address-ordered
    before the final load: only the form reading Rs from memory is forbidden."""
    r = check_test(parse_file(CATALOGUE / "MP+rel+CAS-ok-MRs-addr.litmus"), keep_witness=False)
    assert r.verdict == "Allowed"
    assert r.p_true == 1  # one form of the successful CAS, not both


def test_success_from_memory_breaks_a_dependency_through_rs() -> None:
    """kinds.txt: MP+rel+CAS-ok-RsRs-addr Allowed, via the form where Rs comes from
    the memory read (the other form keeps the LDR -> Rs -> address chain)."""
    r = check_test(parse_file(CATALOGUE / "MP+rel+CAS-ok-RsRs-addr.litmus"), keep_witness=False)
    assert r.verdict == "Allowed"
    assert r.p_true == 1


def test_single_thread_counts_are_two_forms_per_cas() -> None:
    """One successful and one failing CAS, nothing racing: 2 x 2 executions (herd: L007)."""
    text = """AArch64 T
{ int x=0; 0:X4=x; int y=0; 1:X4=y; }
 P0 | P1 ;
 MOV W3,#1 | MOV W3,#0 ;
 MOV W2,#2 | MOV W2,#2 ;
 CAS W3,W2,[X4] | CAS W3,W2,[X4] ;
forall (x=0 /\\ y=2)
"""
    assert _run(text) == ("Required", 4, 0)


def test_failing_cas_write_back_is_an_atomic_write() -> None:
    """The write-back form writes the value it read, atomically (Arm ARM B2.3.10,
    atomicity: no write between an rmw's read source and its write in co).

    The CAS fails whatever it reads (0 or 2).  Without write-back: 2 executions.
    With write-back: read 0 then write 0 before P1's 2, or read 2 then write 2 --
    2 more.  A non-atomic write-back would also allow init, 2, write-back 0, and
    the final x=0 that ``forall`` rules out."""
    text = """AArch64 T
{ int x=0; 0:X4=x; 1:X4=x; }
 P0 | P1 ;
 MOV W3,#5 | MOV W0,#2 ;
 MOV W2,#7 | STR W0,[X4] ;
 CAS W3,W2,[X4] | ;
forall (x=2)
"""
    assert _run(text) == ("Required", 4, 0)
