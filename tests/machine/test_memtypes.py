"""The memory-type rules of ``memtypes.py``: stage 1 under SCTLR/HCR bits, then
stage 1 x stage 2 with and without FEAT_S2FWB (D8.6.5, D8.6.6, D8.2.12.1)."""

from __future__ import annotations

import pytest

from stalecheck.machine.memtypes import (
    DEVICE,
    NORMAL_NC,
    NORMAL_WB,
    NORMAL_WB_NSH,
    NORMAL_WT,
    Cacheability,
    MemType,
    RegimeFlags,
    S2Force,
    Shareability,
    combine_stages,
    guest_data_type,
    stage1_data_type,
)

WB, WT, NC = Cacheability.WB, Cacheability.WT, Cacheability.NC
TYPES = [NORMAL_WB, NORMAL_WB_NSH, NORMAL_WT, NORMAL_NC, DEVICE, MemType(False, WB, NC, Shareability.ISH)]


def test_mmu_off_makes_data_accesses_device() -> None:
    assert stage1_data_type(NORMAL_WB, mmu=False, dcache=True, hcr_dc=False) == DEVICE


def test_sctlr_c_0_makes_normal_data_non_cacheable_but_leaves_device() -> None:
    t = stage1_data_type(NORMAL_WB, mmu=True, dcache=False, hcr_dc=False)
    assert not t.cacheable and not t.device
    assert stage1_data_type(DEVICE, mmu=True, dcache=False, hcr_dc=False) == DEVICE


def test_hcr_dc_makes_a_disabled_stage_1_normal_write_back() -> None:
    t = stage1_data_type(DEVICE, mmu=False, dcache=False, hcr_dc=True)
    assert t == NORMAL_WB_NSH and t.cacheable


def test_hcr_dc_applies_whatever_sctlr_el1_m_says() -> None:
    """D24.2.62 / D8.2.12.1 RLBPTY: with HCR_EL2.DC=1 the Effective SCTLR_EL1.M is 0,
    and stage 1 data accesses are Normal WB whatever the guest's tables say."""
    assert stage1_data_type(DEVICE, mmu=True, dcache=True, hcr_dc=True) == NORMAL_WB_NSH


def test_fwb_force_wb_combines_shareability_of_both_stages() -> None:
    """D8.6.7.1, Table D8-103: Non-shareable at both stages stays Non-shareable."""
    t = combine_stages(NORMAL_WB_NSH, NORMAL_WB_NSH, fwb=True, force=S2Force.FORCE_WB, hcr_cd=False)
    assert t.share == Shareability.NSH


@pytest.mark.parametrize("s1", TYPES)
@pytest.mark.parametrize("s2", TYPES)
def test_fwb_0_takes_the_more_restrictive_of_each_stage(s1: MemType, s2: MemType) -> None:
    t = combine_stages(s1, s2, fwb=False, force=S2Force.PASS, hcr_cd=False)
    if s1.device or s2.device:
        assert t == DEVICE
        return
    assert t.inner == min(s1.inner, s2.inner) and t.outer == min(s1.outer, s2.outer)
    assert t.share >= max(s1.share, s2.share)
    assert t.cacheable == (s1.cacheable and s2.cacheable)


def test_normal_non_cacheable_is_outer_shareable() -> None:
    t = combine_stages(NORMAL_NC, NORMAL_WB_NSH, fwb=False, force=S2Force.PASS, hcr_cd=False)
    assert t.share == Shareability.OSH


@pytest.mark.parametrize("s1", TYPES)
def test_fwb_1_force_wb_overrides_stage_1(s1: MemType) -> None:
    t = combine_stages(s1, DEVICE, fwb=True, force=S2Force.FORCE_WB, hcr_cd=False)
    assert t.cacheable and not t.write_through


@pytest.mark.parametrize("s1", [t for t in TYPES if not t.device])
def test_fwb_1_force_nc_makes_normal_non_cacheable(s1: MemType) -> None:
    t = combine_stages(s1, NORMAL_WB, fwb=True, force=S2Force.FORCE_NC, hcr_cd=False)
    assert not t.cacheable and not t.device


def test_fwb_1_force_nc_keeps_a_device_stage_1_device() -> None:
    """D8.6.6 (FWB, stage 2 MemAttr 0b101): Normal Non-cacheable, unless stage 1 is
    Device, whose type is kept (QEMU's combined_attrs_fwb reads the same)."""
    assert combine_stages(DEVICE, NORMAL_WB, fwb=True, force=S2Force.FORCE_NC, hcr_cd=False) == DEVICE


@pytest.mark.parametrize("s1", TYPES)
def test_fwb_1_pass_keeps_stage_1_unless_stage_2_is_device(s1: MemType) -> None:
    assert combine_stages(s1, NORMAL_WB, fwb=True, force=S2Force.PASS, hcr_cd=False) == s1
    assert combine_stages(s1, DEVICE, fwb=True, force=S2Force.PASS, hcr_cd=False) == DEVICE


@pytest.mark.parametrize("s1", TYPES)
def test_hcr_cd_makes_every_guest_data_access_non_cacheable(s1: MemType) -> None:
    assert not combine_stages(s1, NORMAL_WB, fwb=False, force=S2Force.PASS, hcr_cd=True).cacheable


@pytest.mark.parametrize(
    ("flags", "cacheable"),
    [
        (RegimeFlags(), True),
        (RegimeFlags(mmu=False), False),
        (RegimeFlags(dcache=False), False),
        (RegimeFlags(mmu=False, dcache=False, hcr_dc=True), True),
        (RegimeFlags(hcr_cd=True), False),
        (RegimeFlags(mmu=False, fwb=True), True),  # FWB forcing WB rescues an MMU-off guest
        (RegimeFlags(mmu=False, hcr_dc=True, hcr_cd=True), False),
    ],
)
def test_guest_data_type_composes_the_rules(flags: RegimeFlags, cacheable: bool) -> None:
    assert guest_data_type(NORMAL_WB, NORMAL_WB, S2Force.FORCE_WB, flags).cacheable == cacheable


def test_inner_only_cacheable_is_treated_as_non_cacheable_as_the_assumptions_say() -> None:
    assert not MemType(False, WB, NC, Shareability.ISH).cacheable
    assert NORMAL_WT.write_through and not NORMAL_WB.write_through
