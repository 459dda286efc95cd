"""Exceptions: SVC/UDF entry, handler columns (``P0.F``), ERET, and FEAT_ExS (``exs``/``eis``/``eos``).

Each test quotes the rule it checks and uses a program whose verdict flips
without it.  Rules: taking an exception and returning from one are context
synchronization events (Arm ARM D1.3.5; herd's ``aarch64hwreqs.cat``:
``IFB = ISB | EXC-ENTRY-IFB | EXC-RET-IFB``), except that with FEAT_ExS an SVC
entry synchronizes only with SCTLR_ELx.EIS and a return only with
SCTLR_ELx.EOS (``EXC-ENTRY-IFB = if not "ExS" || "EIS" then EXC-ENTRY else
EXC-ENTRY \\ SVC``, ``EXC-RET-IFB = if not "ExS" || "EOS" then EXC-RET else {}``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stalecheck.axiomatic.check import CheckResult, check_test
from stalecheck.cat.engine_model import model_for_test
from stalecheck.cat.program import vendored_dir
from stalecheck.errors import UnsupportedError
from stalecheck.litmus import parse_litmus
from stalecheck.litmus.parser import parse_file

CAT = vendored_dir() / "aarch64.cat"

HERD = Path(__file__).resolve().parents[1] / "data" / "herdtools7" / "herd-catalogue"
FAULTS = HERD / "aarch64-faults" / "tests"
IFETCH = HERD / "aarch64-ifetch" / "tests"

# P1 reads y, branches on it, takes an SVC; its handler reads x.
MP_SVC = """AArch64 T
variant={variants}
{{ 0:X1=x; 0:X3=y; 1:X0=y; 1:X2=x; }}
 P0          | P1           | P1.F         ;
 MOV W0,#1   | LDR W1,[X0]  | LDR W3,[X2]  ;
 STR W0,[X1] | CBNZ W1,LC00 | {ret}        ;
 DMB ST      | LC00:        |              ;
 MOV W2,#1   | SVC #1       |              ;
 STR W2,[X3] | {after}      |              ;
exists (1:X1=1 /\\ 1:X3=0)
"""


def _mp_svc(variants: str, ret: str = "", after: str = "") -> CheckResult:
    return check_test(parse_litmus(MP_SVC.format(variants=variants, ret=ret, after=after)))


def test_svc_entry_is_context_synchronizing_by_default() -> None:
    """D1.3.5: exception entry is context-synchronizing, so ``[R]; ctrl; [IFB]; po``
    orders the read of y before the handler's read of x: MP is forbidden."""
    assert _mp_svc("fatal").verdict == "Forbidden"


@pytest.mark.parametrize(("variants", "verdict"), [("exs", "Allowed"), ("exs,eis", "Forbidden")])
def test_feat_exs_makes_svc_entry_synchronizing_only_with_eis(variants: str, verdict: str) -> None:
    """FEAT_ExS: ``EXC-ENTRY-IFB = EXC-ENTRY \\ SVC`` unless EIS (aarch64hwreqs.cat)."""
    assert _mp_svc(variants).verdict == verdict


@pytest.mark.parametrize(("variants", "verdict"), [("exs", "Allowed"), ("exs,eos", "Forbidden")])
def test_feat_exs_makes_eret_synchronizing_only_with_eos(variants: str, verdict: str) -> None:
    """FEAT_ExS: ``EXC-RET-IFB = {}`` unless EOS: the handler only returns (ERET to the
    instruction after the SVC, D1.3.4 preferred return address), and the read of x
    after it is ordered by ``ctrl; [IFB]; po`` only if the return synchronizes."""
    r = _mp_svc(variants, ret="ERET", after="LDR W3,[X2]").verdict
    assert r == verdict


def test_svc_returns_to_the_next_instruction() -> None:
    """D1.3.4: the preferred return address of an SVC is the next instruction (herd's
    ``get_link_addr``), so an ERET-only handler does not run the SVC again."""
    r = check_test(parse_litmus("""AArch64 T
{ }
 P0          | P0.F ;
 SVC #0      | ERET ;
 MOV W9,#1   |      ;
forall (0:X9=1)
"""))
    assert r.verdict == "Required"


def test_svc_pte_value_written_before_a_cut_handler_loop_is_known() -> None:
    """herd keeps executions where the walk first reads the invalid entry (fault, handler,
    ERET to the load) and then the entry the thread wrote; the loop that keeps faulting
    is cut.  The written value must enter the value domain from the cut path."""
    r = check_test(parse_file(FAULTS / "SVC-pte.exs1eis0.litmus"))
    assert r.verdict == "Allowed"
    assert r.positive == 1


def test_svc_pte_with_eis_orders_the_entry_store_before_the_walk() -> None:
    """``DSB-ob; [IFB]; po`` with the SVC entry as IFB: the walk after it sees the new entry."""
    assert check_test(parse_file(FAULTS / "SVC-pte.exs1eis1.litmus")).verdict == "Forbidden"


def test_udf_with_walks_goes_on_under_fault_to_next() -> None:
    """herd's faultToNext: after UDF the next instruction runs (mem.ml add_fault, Skip)."""
    r = check_test(parse_file(FAULTS / "3faults.litmus"))
    assert r.verdict == "Required"


def test_handler_code_is_not_fetched_as_the_thread_code() -> None:
    """Under ifetch, a fetch fault enters the handler column; the handler's rows are not
    the thread's exported labels, so they are not fetched (no fault inside the handler)."""
    r = check_test(parse_file(IFETCH / "DIC0-IDC0" / "S-self+dmb.st+fault.litmus"), variants=["ifetch"])
    assert r.verdict == "Forbidden"
    assert sorted(r.states) == sorted([("1:X2=0", "[x]=1"), ("1:X2=2", "[x]=2")])


def test_cat_adapter_refuses_exception_boundaries() -> None:
    """The --cat adapter has no EXC-ENTRY/EXC-RET events: such a test is refused."""
    test = parse_litmus(MP_SVC.format(variants="fatal", ret="", after=""))
    with pytest.raises(UnsupportedError):
        check_test(test, model_for=model_for_test(str(CAT)))
