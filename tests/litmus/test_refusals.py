"""Refuse, never guess: herd features we do not model are *unsupported*, with the line.

Each test feeds a construct herd accepts but whose semantics we do not have
(a variant, a header key, a page-table symbol, a memory fault atom) and checks
that the engine refuses it instead of giving a verdict for a different test.
"""

from __future__ import annotations

import pytest

from stalecheck.axiomatic.check import check_test
from stalecheck.errors import InputError, UnsupportedError
from stalecheck.litmus import parse_litmus
from stalecheck.report.herd import herd_text

MP = """AArch64 T
{header}
{{ 0:X1=x; 0:X3=y; 1:X1=y; 1:X3=x; {init} }}
 P0          | P1          ;
 MOV W0,#1   | LDR W0,[X1] ;
 STR W0,[X1] | LDR W2,[X3] ;
 STR W0,[X3] |             ;
exists ({cond})
"""


def _test(header: str = "", init: str = "", cond: str = "1:X0=1 /\\ 1:X2=0") -> str:
    return MP.format(header=header, init=init, cond=cond)


@pytest.mark.parametrize("header", ["VARIANT=ifetch,kvm", "Variant=memtag", "Variant=ets2 vmsa",
                                    "Variant=Self,memtag", "variant=ets3,Imprecise"])
def test_unmodelled_variant_is_unsupported_with_its_line(header: str) -> None:
    """herd matches the key case-insensitively and lowercases the tags (lib/testVariant.ml).
    The test names a page-table entry, so walks are needed, and the walk model does not
    cover ifetch, MTE, ETS2 or fault handlers (vmsa_scope.py)."""
    with pytest.raises(UnsupportedError) as info:
        check_test(parse_litmus(_test(header, init="0:X5=PTE(x);")))
    assert "variant" in info.value.message
    assert info.value.position is not None and info.value.position.line == 2


def test_modelled_variants_are_accepted_in_any_case() -> None:
    assert check_test(parse_litmus(_test("variant=FATAL,nv2"))).verdict == "Allowed"
    assert check_test(parse_litmus(_test("VARIANT=Self\nCacheType=DIC"))).verdict == "Allowed"


def test_variant_herd_does_not_know_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown variant 'vsma'"):
        check_test(parse_litmus(_test("Variant=vsma")))


def test_command_line_variant_is_checked_too() -> None:
    with pytest.raises(UnsupportedError, match="--variant"):
        check_test(parse_litmus(_test()), variants=["memtag,fatal"])
    with pytest.raises(UnsupportedError, match="--variant"):
        check_test(parse_litmus(_test(init="0:X5=PTE(x);")), variants=["kvm,ets2"])


@pytest.mark.parametrize("header", ["Variant=vmsa", "variant=KVM,fatal", "Variant=vmsa,ets2",
                                    "Variant=vmsa ets3"])
def test_vmsa_test_naming_no_translation_state_is_decided_by_the_base_model(
        header: str) -> None:
    """vmsa_scope.py: with no PTE written, every walk reads the initial valid entry, raises
    no fault, and adds no ob cycle (aarch64.cat: the only ob edge into a walk is
    rf; [Imp & TTD] from the initial write, or DSB-ob with ETS2/ETS3), so the verdict is
    the base model's: MP without barriers is Allowed, as herd7 -variant vmsa says."""
    assert check_test(parse_litmus(_test(header))).verdict == "Allowed"
    assert check_test(parse_litmus(_test()), variants=["kvm,fatal"]).verdict == "Allowed"


@pytest.mark.parametrize("extra", ["0:X5=PTE(x);", "0:X5=pte_x;", "0:X5=phy_x;"])
def test_vmsa_test_naming_a_page_table_entry_is_decided_with_walks(extra: str) -> None:
    """Naming an entry changes no mapping: MP without barriers stays Allowed under walks."""
    assert check_test(parse_litmus(_test("Variant=vmsa", init=extra))).verdict == "Allowed"


@pytest.mark.parametrize("header", ["Variant=vmsa,ets2", "Variant=vmsa,ets3"])
def test_vmsa_features_beyond_walks_are_refused(header: str) -> None:
    """ETS2/ETS3 ordering of walks is not modelled yet (vmsa_scope.py)."""
    with pytest.raises(UnsupportedError, match="not supported"):
        check_test(parse_litmus(_test(header, init="[PTE(y)]=(oa:PA(y), af:0);")))


def test_vmsa_with_ifetch_is_refused() -> None:
    """herd flags combining-vmsa-and-ifetch-is-not-supported (aarch64util.cat)."""
    with pytest.raises(UnsupportedError):
        check_test(parse_litmus(_test("Variant=vmsa,ifetch")))


@pytest.mark.parametrize("key", ["TTHM=P0:HA", "EL0=P1", "Unroll=4"])
def test_semantic_header_keys_are_unsupported(key: str) -> None:
    with pytest.raises(UnsupportedError, match="header key"):
        check_test(parse_litmus(_test(key)))


@pytest.mark.parametrize(("init", "cond"), [
    ("0:X5=pte_x;", "1:X0=1"),
    ("pte_x=1;", "1:X0=1"),
    ("", "1:X0=1 /\\ pte_x=0"),
    ("0:X5=phy_x;", "1:X0=1"),
    ("PTE(x)=(oa:PA(y));", "1:X0=1"),
])
def test_page_table_symbols_are_never_plain_memory(init: str, cond: str) -> None:
    """``pte_x`` is the page-table entry of x (herd lib/constant.ml), not a location."""
    with pytest.raises(UnsupportedError):
        check_test(parse_litmus(_test(init=init, cond=cond)))


@pytest.mark.parametrize("atom", [
    "fault(P0,UndefinedInstruction)",   # a bare thread: valid herd syntax
    "fault(P1:L0,x)",                   # a fault on a memory location (VMSA)
    "fault(P1:L0,x,MMU:Translation)",
    "Fault(P1:L0,MMU:Permission)",
])
def test_valid_herd_fault_atoms_are_unsupported_not_syntax_errors(atom: str) -> None:
    text = _test(cond=f"1:X0=1 /\\ {atom}").replace("LDR W0,[X1] ;", "L0: LDR W0,[X1] ;")
    with pytest.raises(UnsupportedError):
        check_test(parse_litmus(text))


def test_fault_atom_in_locations_is_unsupported_not_a_syntax_error() -> None:
    text = _test().replace("exists", "locations [fault(P1,x);]\nexists")
    with pytest.raises(UnsupportedError):
        check_test(parse_litmus(text))


def test_litmus_suffix_of_the_name_is_dropped_as_herd_does() -> None:
    r = check_test(parse_litmus(_test().replace("AArch64 T", "AArch64 T.litmus")))
    assert r.name == "T"
    assert "Observation T Sometimes" in herd_text(r)


def test_state_of_faults_only_starts_with_a_space() -> None:
    """herd/archExtra_herd.ml: the cells, a space, then the faults."""
    text = """AArch64 U
{ }
 P0 ;
 L0: UDF #0 ;
exists (Fault(P0:L0,UndefinedInstruction))
"""
    lines = herd_text(check_test(parse_litmus(text))).splitlines()
    assert lines[2] == " Fault(P0:L0,UndefinedInstruction);"


def test_telechat_ret_leaves_the_test() -> None:
    """herd's telechat variant: a RET without operand exits (AArch64Sem.ml I_RET)."""
    text = """AArch64 R
Variant=telechat
{ 0:X30=x; }
 P0 ;
 RET ;
 MOV W1,#1 ;
exists (0:X1=0)
"""
    assert check_test(parse_litmus(text)).verdict == "Allowed"
