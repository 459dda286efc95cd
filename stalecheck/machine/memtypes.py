"""Memory types: where an access's attributes come from and how stages combine.

Kept apart from *where* the attributes are stored (static tables today, page
tables in memory later) so that one function decides each combination rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property


class Cacheability(IntEnum):
    """Ordered from most to least restrictive, so ``min`` picks the stronger type."""

    NC = 0
    WT = 1
    WB = 2


class Shareability(IntEnum):
    NSH = 0
    ISH = 1
    OSH = 2


PATH_NC, PATH_CACHEABLE, PATH_MIX_INNER, PATH_MIX_OUTER = 0, 1, 2, 3
INNER_CACHEABLE_PATHS = (PATH_CACHEABLE, PATH_MIX_INNER)


@dataclass(frozen=True)
class MemType:
    """One access's effective type: Device, or Normal with inner/outer cacheability.

    The derived properties are ``cached_property``: the search asks them of the same few
    types millions of times (speed only; frozen fields, so the cached answers stay true)."""

    device: bool
    inner: Cacheability
    outer: Cacheability
    share: Shareability

    @cached_property
    def cacheable(self) -> bool:
        """Whether the access is cacheable at every level: it allocates in and looks up
        the data caches and is coherent with other cacheable accesses (D7.5.1)."""
        return not self.device and self.inner != Cacheability.NC and self.outer != Cacheability.NC

    @cached_property
    def mixed(self) -> bool:
        """Inner and outer disagree on caching at all (Inner WB / Outer NC, Inner NC / Outer
        WB, ...).  Such an access is cached in some levels and not in others; which
        modelled level is inner or outer is IMPLEMENTATION DEFINED, so the model lets it
        behave either as a cacheable or as a Non-cacheable access, whichever can be stale
        (D8.6.5.2 keeps inner and outer cacheability separate; B2.11)."""
        return not self.device and (self.inner == Cacheability.NC) != (self.outer == Cacheability.NC)

    @cached_property
    def path(self) -> int:
        """How buffered entries record the type (state.py STORE/DCVA fields): 0 Non-cacheable
        or Device, 1 cacheable, 2 an inner/outer mix with the inner side cacheable, 3 a mix
        with the inner side Non-cacheable."""
        if self.cacheable:
            return PATH_CACHEABLE
        if self.mixed:
            return PATH_MIX_INNER if self.inner != Cacheability.NC else PATH_MIX_OUTER
        return PATH_NC

    @cached_property
    def allocates(self) -> bool:
        """Whether the type lets a cache allocate the line (D7.5.1): any cacheable level."""
        return self.cacheable or self.mixed

    @cached_property
    def cacheability_key(self) -> int:
        """The inner and outer cacheability as one int, for D7.5.9.15 Ordering and completion
        of data and instruction cache instructions: a DC by VA executes in program order
        with loads and stores to its line only when they "Use an address with the same
        cacheability attributes" (Write-Back and Write-Through are different attributes)."""
        return int(self.inner) * 3 + int(self.outer)

    @cached_property
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
    FORCE_NC = 2  # MemAttr[2:0]=0b101: Normal NC; a Device stage 1 stays Device (Table D8-101)


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


def _stage2_walk_type(s1: MemType, s2: MemType, fwb: bool, force: S2Force) -> MemType:
    """What the stage 2 walk hands on before HCR_EL2.{CD,ID}: stage 2's own type with
    FWB=0, or stage 1 with FWB applied (J1.1 AArch64.S2ApplyFWBMemAttrs; D8.6.6,
    Table D8-101): FORCE_WB gives Normal WB whatever stage 1 said, with the stage 1 and
    stage 2 shareability combined (D8.6.7.1, Table D8-103); FORCE_NC gives Normal NC,
    but a Device stage 1 stays Device; PASS keeps stage 1's type."""
    if not fwb:
        return s2
    if force == S2Force.FORCE_WB:
        return MemType(False, Cacheability.WB, Cacheability.WB, max(s1.share, s2.share))
    if force == S2Force.FORCE_NC:
        return s1 if s1.device else NORMAL_NC
    return s1 if not s2.device else DEVICE


def stage2_treat_as_nc(walk: MemType, force_nc: bool, fetch: bool) -> bool:
    """J1.1.4.58 AArch64.S2TreatAsNormalNC: an instruction fetch is Normal NC when the
    stage 2 walk gave Device or HCR_EL2.ID=1; a data access is Normal NC when the walk
    gave Normal and HCR_EL2.CD=1 (D7.5.5).  The walk's type is taken after FWB, so CD and
    ID also apply with FWB=1."""
    if fetch:
        return walk.device or force_nc
    return force_nc and not walk.device


def combine_stages(
    s1: MemType, s2: MemType, fwb: bool, force: S2Force, hcr_cd: bool, fetch: bool = False
) -> MemType:
    """Combined stage 1 x stage 2 type (J1.1 AArch64.S2Translate).

    ``hcr_cd`` is HCR_EL2.CD for a data access and HCR_EL2.ID for a fetch
    (``fetch=True``); it applies to the stage 2 walk's type, after FWB
    (``stage2_treat_as_nc``).
    FWB=0 (D8.6.5.1 Combining stage 1 and stage 2 memory type attributes; D8.6.5.2
    Combining stage 1 and stage 2 Cacheability attributes for Normal memory):
    Device wins over Normal, and for Normal the more restrictive of NC < WT < WB,
    separately for inner and outer; shareability is the larger domain (D8.6.7.1
    Combining the stage 1 and stage 2 Shareability attributes for Normal memory).
    FWB=1: the walk's type is the result (``_stage2_walk_type``).
    """
    walk = _stage2_walk_type(s1, s2, fwb, force)
    if stage2_treat_as_nc(walk, hcr_cd, fetch):
        walk = NORMAL_NC
    if fwb:
        return walk
    if s1.device or walk.device:
        return DEVICE
    inner = min(s1.inner, walk.inner)
    outer = min(s1.outer, walk.outer)
    share = max(s1.share, walk.share)
    if inner == Cacheability.NC and outer == Cacheability.NC:
        share = Shareability.OSH  # D8.6.7.1, B2.10.1.1.1: Normal NC is Outer Shareable
    return MemType(False, inner, outer, share)


def stage1_fetch_type(table_type: MemType, mmu: bool, icache: bool, hcr_dc: bool) -> MemType:
    """Stage-1 output type of an instruction fetch of the EL1&0 regime.

    HCR_EL2.DC=1 makes stage 1 Normal Inner/Outer WB Non-shareable for instruction
    accesses too, whatever SCTLR_EL1.{M,I} say (D7.5.5 Enabling and disabling the
    caching of memory accesses).  Stage 1 off: Normal NC, or Write-Through with
    SCTLR_EL1.I=1 (D8.2.12.1).  SCTLR_EL1.I=0 makes stage 1 Normal fetches NC (D7.5.5).
    """
    if hcr_dc:
        return NORMAL_WB_NSH
    if not mmu:
        return NORMAL_WT if icache else NORMAL_NC
    if not icache and not table_type.device:
        return NORMAL_NC
    return table_type


def guest_data_type(s1_table: MemType, s2: MemType, force: S2Force, flags: RegimeFlags) -> MemType:
    """A guest data access's final type: stage 1 under its SCTLR/HCR bits, then stage 2."""
    s1 = stage1_data_type(s1_table, flags.mmu, flags.dcache, flags.hcr_dc)
    return combine_stages(s1, s2, flags.fwb, force, flags.hcr_cd)
