"""Memory types: where an access's attributes come from and how stages combine.

Kept apart from *where* the attributes are stored (static tables today, page
tables in memory later) so that one function decides each combination rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Cacheability(IntEnum):
    """Ordered from most to least restrictive, so ``min`` picks the stronger type."""

    NC = 0
    WT = 1
    WB = 2


class Shareability(IntEnum):
    NSH = 0
    ISH = 1
    OSH = 2


@dataclass(frozen=True)
class MemType:
    """One access's effective type: Device, or Normal with inner/outer cacheability."""

    device: bool
    inner: Cacheability
    outer: Cacheability
    share: Shareability

    @property
    def cacheable(self) -> bool:
        """Whether the access allocates in and looks up the data caches.

        Simplification (stated with verdicts): a Normal access is cached only if
        both inner and outer are cacheable; inner-only caching is treated as NC.
        """
        return not self.device and self.inner != Cacheability.NC and self.outer != Cacheability.NC

    @property
    def write_through(self) -> bool:
        return self.cacheable and Cacheability.WT in (self.inner, self.outer)

    def __str__(self) -> str:
        if self.device:
            return "Device-nGnRnE"
        if self.inner == self.outer:
            kind = f"Normal-{self.inner.name}"
        else:
            kind = f"Normal-i{self.inner.name}-o{self.outer.name}"
        return f"{kind}-{self.share.name}"


NORMAL_WB = MemType(False, Cacheability.WB, Cacheability.WB, Shareability.ISH)
NORMAL_WB_NSH = MemType(False, Cacheability.WB, Cacheability.WB, Shareability.NSH)
NORMAL_WT = MemType(False, Cacheability.WT, Cacheability.WT, Shareability.ISH)
NORMAL_NC = MemType(False, Cacheability.NC, Cacheability.NC, Shareability.OSH)
# D8.2.12.1 (Behavior when stage 1 address translation is disabled, rule RWFZPW):
# data accesses are Device-nGnRnE; Device memory is "treated as being Outer
# Shareable" (B2.10.2 Device memory).
DEVICE = MemType(True, Cacheability.NC, Cacheability.NC, Shareability.OSH)


class S2Force(IntEnum):
    """What stage 2 does to the type under HCR_EL2.FWB=1 (D8.6.6 Stage 2 memory type
    and Cacheability attributes when FWB is enabled, Table D8-101; FEAT_S2FWB)."""

    PASS = 0  # MemAttr[2:0]=0b111: the stage 1 type passes through
    FORCE_WB = 1  # MemAttr[2:0]=0b110: Normal Write-Back, whatever stage 1 said
    # MemAttr[2:0]=0b101: Normal Non-cacheable for a Normal stage 1; the manual keeps
    # a Device stage 1 Device (Table D8-101), the model makes it Normal NC too.
    FORCE_NC = 2


@dataclass(frozen=True)
class RegimeFlags:
    """The system-register bits that shape a guest (EL1&0) data access's type."""

    mmu: bool = True  # SCTLR_EL1.M
    dcache: bool = True  # SCTLR_EL1.C
    hcr_dc: bool = False  # HCR_EL2.DC
    hcr_cd: bool = False  # HCR_EL2.CD
    fwb: bool = False  # HCR_EL2.FWB


def stage1_data_type(table_type: MemType, mmu: bool, dcache: bool, hcr_dc: bool) -> MemType:
    """Stage-1 output type of a data access.

    D8.2.12.1 Behavior when stage 1 address translation is disabled (rule RWFZPW):
    data accesses are Device-nGnRnE, unless HCR_EL2.DC=1, which makes them Normal
    Inner/Outer Write-Back Non-shareable (D24.2.62 HCR_EL2.DC; D7.5.5), whatever
    SCTLR_EL1.M says (RLBPTY: with HCR_EL2.DC=1 the Effective value of
    SCTLR_EL1.M is 0).
    SCTLR_EL1.C=0 makes stage 1 Normal data accesses Non-cacheable (D7.5.5
    Enabling and disabling the caching of memory accesses).
    """
    if hcr_dc:
        return NORMAL_WB_NSH
    if not mmu:
        return DEVICE
    if not dcache and not table_type.device:
        return MemType(False, Cacheability.NC, Cacheability.NC, Shareability.OSH)
    return table_type


def combine_stages(s1: MemType, s2: MemType, fwb: bool, force: S2Force, hcr_cd: bool) -> MemType:
    """Combined stage 1 x stage 2 type.

    FWB=0 (D8.6.5.1 Combining stage 1 and stage 2 memory type attributes; D8.6.5.2
    Combining stage 1 and stage 2 Cacheability attributes for Normal memory):
    Device wins over Normal, and for Normal the more restrictive of NC < WT < WB,
    separately for inner and outer; shareability is the larger domain (D8.6.7.1
    Combining the stage 1 and stage 2 Shareability attributes for Normal memory).
    HCR_EL2.CD forces stage 2 data to NC (D7.5.5).
    FWB=1 (D8.6.6, Table D8-101): stage 2 overrides; FORCE_WB gives Normal WB
    whatever stage 1 said, FORCE_NC gives Normal NC (the manual keeps a Device
    stage 1 Device), PASS keeps stage 1's type.
    """
    if hcr_cd:
        s2 = MemType(s2.device, Cacheability.NC, Cacheability.NC, s2.share)
    if fwb:
        if force == S2Force.FORCE_WB:
            # D8.6.7.1, Table D8-103: stage 1 and stage 2 shareability combine
            return MemType(False, Cacheability.WB, Cacheability.WB, max(s1.share, s2.share))
        if force == S2Force.FORCE_NC:  # MemAttr 0b101: a Device stage 1 stays Device
            return s1 if s1.device else MemType(False, Cacheability.NC, Cacheability.NC, Shareability.OSH)
        return s1 if not s2.device else DEVICE
    if s1.device or s2.device:
        return DEVICE
    inner = min(s1.inner, s2.inner)
    outer = min(s1.outer, s2.outer)
    share = max(s1.share, s2.share)
    if inner == Cacheability.NC and outer == Cacheability.NC:
        share = Shareability.OSH  # D8.6.7.1, B2.10.1.1.1: Normal NC is Outer Shareable
    return MemType(False, inner, outer, share)


def guest_data_type(s1_table: MemType, s2: MemType, force: S2Force, flags: RegimeFlags) -> MemType:
    """A guest data access's final type: stage 1 under its SCTLR/HCR bits, then stage 2."""
    s1 = stage1_data_type(s1_table, flags.mmu, flags.dcache, flags.hcr_dc)
    return combine_stages(s1, s2, flags.fwb, force, flags.hcr_cd)
