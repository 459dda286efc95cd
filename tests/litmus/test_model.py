"""Small hand-written tests of the Arm model, each pinning one rule of B2.3."""

from __future__ import annotations

import pytest

from stalecheck.axiomatic.check import check_test
from stalecheck.litmus import parse_litmus
from stalecheck.report.herd import herd_text, normalise
from stalecheck.report.litmus_witness import witness_dot, witness_text


def _verdict(p0: list[str], p1: list[str], cond: str, init: str = "") -> str:
    rows = []
    for i in range(max(len(p0), len(p1))):
        a = p0[i] if i < len(p0) else ""
        b = p1[i] if i < len(p1) else ""
        rows.append(f" {a:20} | {b:20} ;")
    text = (
        "AArch64 T\n{ 0:X1=x; 0:X3=y; 1:X1=y; 1:X3=x; " + init + " }\n"
        " P0 | P1 ;\n" + "\n".join(rows) + f"\nexists ({cond})\n"
    )
    return check_test(parse_litmus(text)).verdict


MP_W = ["MOV W0,#1", "STR W0,[X1]", "STR W0,[X3]"]


@pytest.mark.parametrize(
    ("p0", "p1", "expected"),
    [
        (MP_W, ["LDR W0,[X1]", "LDR W2,[X3]"], "Allowed"),
        (["MOV W0,#1", "STR W0,[X1]", "DMB ST", "STR W0,[X3]"],
         ["LDR W0,[X1]", "DMB LD", "LDR W2,[X3]"], "Forbidden"),  # bob
        (["MOV W0,#1", "STR W0,[X1]", "STLR W0,[X3]"],
         ["LDAR W0,[X1]", "LDR W2,[X3]"], "Forbidden"),  # acquire/release
        (["MOV W0,#1", "STR W0,[X1]", "STLR W0,[X3]"],
         ["LDR W0,[X1]", "EOR W4,W0,W0", "LDR W2,[X3,W4,SXTW]"], "Forbidden"),  # addr (dob)
        (["MOV W0,#1", "STR W0,[X1]", "STLR W0,[X3]"],
         ["LDR W0,[X1]", "CBZ W0,L", "L:", "LDR W2,[X3]"], "Allowed"),  # ctrl to a read
        (["MOV W0,#1", "STR W0,[X1]", "STLR W0,[X3]"],
         ["LDR W0,[X1]", "CBZ W0,L", "L:", "ISB", "LDR W2,[X3]"], "Forbidden"),  # ctrl+isb
    ],
)
def test_message_passing_variants(p0: list[str], p1: list[str], expected: str) -> None:
    assert _verdict(p0, p1, "1:X0=1 /\\ 1:X2=0") == expected


def test_coherence_rr_is_forbidden() -> None:
    text = """AArch64 CoRR
{ 0:X1=x; 1:X1=x; }
 P0 | P1 ;
 MOV W0,#1 | LDR W0,[X1] ;
 STR W0,[X1] | LDR W2,[X1] ;
exists (1:X0=1 /\\ 1:X2=0)
"""
    assert check_test(parse_litmus(text)).verdict == "Forbidden"


def test_atomicity_of_exclusives() -> None:
    text = """AArch64 ATOM
{ 0:X1=x; 1:X1=x; }
 P0 | P1 ;
 LDXR W0,[X1] | MOV W2,#2 ;
 ADD W0,W0,#1 | STR W2,[X1] ;
 STXR W3,W0,[X1] | ;
exists (0:X3=0 /\\ x=2 /\\ 0:X0=1)
"""
    # The exclusive pair read 0 and wrote 1 successfully; P1's write may come after it.
    assert check_test(parse_litmus(text)).verdict == "Allowed"
    # ...but x ending at 1 would put P1's write between the pair's read and write.
    text2 = text.replace("x=2 /\\ 0:X0=1", "x=1 /\\ 0:X0=1")
    assert check_test(parse_litmus(text2)).verdict == "Forbidden"


def test_reports_are_consistent() -> None:
    text = """AArch64 SB
{ 0:X1=x; 0:X3=y; 1:X1=y; 1:X3=x; }
 P0 | P1 ;
 MOV W0,#1 | MOV W0,#1 ;
 STR W0,[X1] | STR W0,[X1] ;
 LDR W2,[X3] | LDR W2,[X3] ;
exists (0:X2=0 /\\ 1:X2=0)
"""
    r = check_test(parse_litmus(text))
    lines = normalise(herd_text(r))
    assert lines[0] == "Test SB Allowed" and lines[1] == "States 4"
    assert "Observation SB Sometimes 1 3" in lines
    assert r.witness is not None and r.witness_satisfies
    assert "-fr->" in witness_text(r)
    dot = witness_dot(r)
    assert dot.startswith('digraph "SB"') and dot.rstrip().endswith("}")


def test_forbidden_outcome_is_explained_by_an_ob_cycle() -> None:
    text = """AArch64 MPdmb
{ 0:X1=x; 0:X3=y; 1:X1=y; 1:X3=x; }
 P0 | P1 ;
 MOV W0,#1 | LDR W0,[X1] ;
 STR W0,[X1] | DMB SY ;
 DMB SY | LDR W2,[X3] ;
 STR W0,[X3] | ;
exists (1:X0=1 /\\ 1:X2=0)
"""
    r = check_test(parse_litmus(text))
    assert r.verdict == "Forbidden"
    assert r.forbidden is not None and "external visibility" in r.forbidden.violation
    text_out = witness_text(r)
    assert "ordered-before cycle:" in text_out
    for rel in ("-rfe->", "-fre->", "-dmb.full->"):
        assert rel in text_out
    assert "penwidth=3" in witness_dot(r)
    # Without a wanted-but-forbidden outcome there is nothing to explain.
    allowed = check_test(parse_litmus(text.replace("DMB SY | LDR", "NOP | LDR")))
    assert allowed.verdict == "Allowed" and allowed.forbidden is None


@pytest.mark.parametrize("n", [2, 3, 5])
def test_generated_message_passing_chain_is_forbidden(n: int) -> None:
    from stalecheck.litmus.generate import mp_chain

    r = check_test(parse_litmus(mp_chain(n)))
    assert r.verdict == "Forbidden"
    assert r.executions == 2**n - 1  # every flag read 0 or 1, minus the forbidden outcome


@pytest.mark.parametrize("n", [4, 5])
def test_generated_iriw_with_barriers_is_forbidden(n: int) -> None:
    from stalecheck.litmus.generate import iriw

    assert check_test(parse_litmus(iriw(n))).verdict == "Forbidden"
    # Without the barriers the readers may disagree on the order of the writes.
    assert check_test(parse_litmus(iriw(n).replace("DMB LD", "NOP"))).verdict == "Allowed"
