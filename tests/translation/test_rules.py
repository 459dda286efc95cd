"""The translation rules on their own: descriptors, walk, syndromes, TLB."""

from __future__ import annotations

import pytest

from stalecheck.machine import tlb
from stalecheck.machine.translation import (
    FSC_ACCESS_FLAG,
    FSC_PERMISSION,
    FSC_TRANSLATION,
    RegimeSpec,
    check_permission,
    desc_oa,
    esr,
    fault,
    fault_fsc,
    is_fault,
    page_desc,
    table_desc,
    walk,
)

REGIME = RegimeSpec("r", "T2", (2, 3), {"V": (0, 1)})


def _walk(mem: dict[tuple[int, int], int]) -> tuple[int, ...]:
    return walk(REGIME, "V", 0, lambda line, off: (mem.get((line, off), 0),), lambda t, i: (t, i))


def test_walk_follows_table_to_leaf() -> None:
    leaf = page_desc(7)
    (result,) = _walk({(0, 0): table_desc(1), (1, 1): leaf})
    assert result == leaf and desc_oa(result) == 7


@pytest.mark.parametrize(
    ("mem", "fsc"),
    [
        ({}, FSC_TRANSLATION + 2),
        ({(0, 0): table_desc(1)}, FSC_TRANSLATION + 3),
        ({(0, 0): table_desc(1), (1, 1): page_desc(7, af=False)}, FSC_ACCESS_FLAG + 3),
    ],
)
def test_walk_faults_at_the_right_level(mem: dict[tuple[int, int], int], fsc: int) -> None:
    (result,) = _walk(mem)
    assert is_fault(result) and fault_fsc(result) == fsc


def test_permission_faults() -> None:
    assert fault_fsc(check_permission(page_desc(1, ro=True), REGIME, True, False)) == FSC_PERMISSION + 3
    assert fault_fsc(check_permission(page_desc(1, xn=True), REGIME, False, True)) == FSC_PERMISSION + 3
    assert not is_fault(check_permission(page_desc(1, ro=True), REGIME, False, False))


def test_esr_values() -> None:
    """D17 ESR_ELx: EC, IL, WnR, S1PTW and the fault status code."""
    l3 = fault(FSC_TRANSLATION + 3)
    assert esr(l3, fetch=False, write=False, same_el=True) == 0x96000007  # seed 003
    assert esr(l3, fetch=False, write=True, same_el=True) == 0x96000047
    assert esr(fault(FSC_TRANSLATION + 3, stage2=True), fetch=False, write=False, same_el=False) == 0x92000007
    assert esr(fault(FSC_TRANSLATION + 2, stage2=True), fetch=True, write=False, same_el=False) == 0x82000006
    assert esr(fault(FSC_TRANSLATION + 3, stage2=True, s1ptw=True), False, True, False) == 0x92000087


def test_tlb_never_caches_a_fault() -> None:
    with pytest.raises(AssertionError):
        tlb.fill((), 0, 0, fault(FSC_TRANSLATION + 3))


def test_tlbi_by_va_and_all() -> None:
    t = tlb.fill(tlb.fill(tlb.fill((), 0, 0, 5), 0, 1, 6), 1, 0, 7)
    assert tlb.invalidate(t, 2, frozenset({0}), 0, False, ()) == ((0, 1, 6), (1, 0, 7))
    assert tlb.invalidate(t, 2, frozenset({0}), -1, False, ()) == ((1, 0, 7),)
    assert tlb.invalidate(t, 2, frozenset({0, 1}), -1, False, ()) == ()


def test_tlbi_by_va_removes_walk_cache_entries_unless_last_level() -> None:
    """D8.17 I_RTRQB: last-level TLBIs keep "the cached intermediate translation table
    entries"; TLBI VAE1 removes the entries of every level of the walk."""
    n = 2  # regimes 0 and 1
    table = tlb.tag(0, tlb.TABLE, n)  # regime 0, first level
    combined = tlb.tag(0, tlb.COMBINED, n)
    t = tlb.fill(tlb.fill(tlb.fill((), 0, 3, 5), table, 7, 9), combined, 3, 6)
    assert tlb.invalidate(t, n, frozenset({0}), 3, True, (7,)) == ((table, 7, 9),)
    assert tlb.invalidate(t, n, frozenset({0}), 3, False, (7,)) == ()
    assert tlb.invalidate(t, n, frozenset({0}), 3, False, (8,)) == ((table, 7, 9),)  # another prefix
    assert tlb.invalidate(t, n, frozenset({1}), 3, False, (7,)) == t  # a stage-2 TLBI by IPA keeps them
