"""herd's instruction-fetch catalogue (``herd7 -variant ifetch``), and the ifetch rules.

The whole catalogue runs (it takes a few seconds): every test is either decided
as ``kinds.txt`` says, or refused as unsupported for a listed reason.  The
small tests below pin each verdict-changing rule of the ifetch model on a
hand-written test, quoting the rule.
"""

from __future__ import annotations

from functools import cache

import pytest

from stalecheck.axiomatic.check import CheckResult, check_test
from stalecheck.errors import StalecheckError, UnsupportedError
from stalecheck.litmus import parse_file, parse_litmus
from tests.litmus.conftest import HERD, manifest_rows

SUITE = "herd-catalogue/aarch64-ifetch"
ROWS = manifest_rows(SUITE)
IFETCH = frozenset({"ifetch"})  # herd's catalogue flag (README: herd7 -variant ifetch)

# Floors: raising them is progress, lowering them needs a reason in review.
MIN_AGREEING = 315
# What we may refuse, and why (anything else refused fails the run).
ALLOWED_REFUSALS = (
    "pte_x names a page-table entry",  # pte_x=(oa:...): the VMSA part
)


@cache
def outcomes() -> dict[str, tuple[CheckResult | None, str]]:
    out: dict[str, tuple[CheckResult | None, str]] = {}
    for row in ROWS:
        rel = row["relative_path"]
        try:
            out[rel] = (check_test(parse_file(HERD / rel), keep_witness=False, variants=IFETCH), "")
        except UnsupportedError as exc:
            out[rel] = (None, exc.message)
    return out


@pytest.mark.parametrize("row", ROWS, ids=[r["relative_path"].split("tests/", 1)[1] for r in ROWS])
def test_verdict_matches_kinds(row: dict[str, str]) -> None:
    result, refusal = outcomes()[row["relative_path"]]
    if result is None:
        assert refusal.startswith(ALLOWED_REFUSALS), refusal
        pytest.skip(f"unsupported: {refusal}")
    assert result.verdict == row["expected"]


def test_no_disagreement_and_agree_floor() -> None:
    got = outcomes()
    agree = sum(1 for r in ROWS if (res := got[r["relative_path"]][0]) and res.verdict == r["expected"])
    decided = sum(1 for r in ROWS if got[r["relative_path"]][0] is not None)
    assert len(ROWS) == 318
    assert decided == agree, "a decided ifetch test disagrees with kinds.txt"
    assert agree >= MIN_AGREEING


def test_without_the_variant_code_stores_are_refused() -> None:
    """herd without -variant ifetch: "Store to P1:L0 requires instruction fetch functionality"."""
    path = HERD / SUITE / "tests/DIC0-IDC0/MP.FF+dmb.st+po.litmus"
    with pytest.raises(UnsupportedError, match="ifetch variant"):
        check_test(parse_file(path), keep_witness=False)


# ---------------------------------------------------------------- the rules, one test each

SMC = """AArch64 SMC
{CACHE}
{{ 0:X0=NOP; 0:X1=P0:L0; }}
 P0          ;
 STR W0,[X1] ;
{SYNC}
L0:          ;
 B l1        ;
 MOV W9,#1   ;
l1:          ;
exists (0:X9=0)
"""


def _verdict(sync: str, cache_type: str = "", variants: frozenset[str] = IFETCH) -> str:
    text = SMC.format(CACHE=f"CacheType={cache_type}" if cache_type else "",
                      SYNC="\n".join(f" {line} ;" for line in sync.split(";") if line))
    return check_test(parse_litmus(text, "smc.litmus"), keep_witness=False,
                      variants=variants).verdict


def test_fetch_may_see_stale_instruction_without_maintenance() -> None:
    """Instr-obs has rf; [Instr & R] but no fr from a fetch: an old instruction may run."""
    assert _verdict("DSB ISH;ISB") == "Allowed"


def test_full_cache_sync_forbids_stale_fetch() -> None:
    """IC-ca (no IDC, no DIC): [IC]; IC-after; [Instr & R]; ca; [W]; DC-after; [DC.CVAU]."""
    assert _verdict("DC CVAU,X1;DSB ISH;IC IVAU,X1;DSB ISH;ISB") == "Forbidden"


def test_without_isb_the_fetch_is_not_ordered() -> None:
    """IFB-ob: only an ISB orders later fetches (DSB-ob never targets Imp & Instr & R)."""
    assert _verdict("DC CVAU,X1;DSB ISH;IC IVAU,X1;DSB ISH") == "Allowed"


def test_idc_makes_the_dc_clean_unnecessary() -> None:
    """IC-ca with IDC: [IC]; IC-after; [Instr & R]; ca; [W] (no DC-after needed)."""
    sync = "DSB ISH;IC IVAU,X1;DSB ISH;ISB"
    assert _verdict(sync) == "Allowed"
    assert _verdict(sync, "IDC") == "Forbidden"


def test_dic_makes_the_ic_invalidate_unnecessary() -> None:
    """IC-ca with DIC: [Instr & R]; ca; [W]; CacheType=DIC implies IDC (herd's cacheType)."""
    sync = "DSB ISH;ISB"
    assert _verdict(sync, "IDC") == "Allowed"
    assert _verdict(sync, "DIC") == "Forbidden"
    assert _verdict(sync, variants=IFETCH | {"dic"}) == "Forbidden"


def test_invalidate_all_covers_every_line() -> None:
    """scl relates IC IALLU to every location (aarch64loc.cat)."""
    assert _verdict("DC CVAU,X1;DSB ISH;IC IALLU;DSB ISH;ISB") == "Forbidden"


def test_ic_without_completing_dsb_orders_nothing() -> None:
    """C_IC = IC & domain(po; [dsb.full]): an IC with no DSB after it is not paired."""
    assert _verdict("DC CVAU,X1;DSB ISH;IC IVAU,X1;ISB") == "Allowed"


def test_bad_instruction_value_faults() -> None:
    """A fetched value that decodes to no instruction is an UndefinedInstruction fault."""
    text = """AArch64 UDF
{ 0:X0=0; 0:X1=P0:L0; }
 P0          ;
 STR W0,[X1] ;
 DC CVAU,X1  ;
 DSB ISH     ;
 IC IVAU,X1  ;
 DSB ISH     ;
 ISB         ;
L0:          ;
 NOP         ;
exists (fault(P0:L0,UndefinedInstruction))
"""
    result = check_test(parse_litmus(text, "udf.litmus"), keep_witness=False, variants=IFETCH)
    assert result.observation == "Always"


def test_instruction_values_compare_in_herd_spelling() -> None:
    """``B L1`` stored at the label before L1 is the value ``instr:"B .+4"``."""
    path = HERD / "herd-instructions/AArch64/A248.litmus"
    result = check_test(parse_file(path), keep_witness=False)
    assert result.observation == "Always"


def test_bad_instruction_value_is_an_input_error() -> None:
    text = """AArch64 BAD
{ 0:X0=instr:"B [[" ; }
 P0 ;
 NOP ;
exists (0:X0=0)
"""
    with pytest.raises(StalecheckError):
        check_test(parse_litmus(text, "bad.litmus"), keep_witness=False, variants=IFETCH)
