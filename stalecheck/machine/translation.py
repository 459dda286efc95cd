"""Address translation rules: descriptors, the table walk and fault syndromes.

Page tables are ordinary locations in simulated memory, so a PTE write goes
through the PE's buffer and caches like any other store (docs/design.md section 1,
Translation).  A descriptor is one small int in the model's own encoding (not
Arm's bit layout, which would only make states bigger); the walk reads each
level's entry through the walker's view of memory and returns either a leaf
(output page, attributes, permissions) or a fault with its level.

Everything here is pure: the walker's view of memory is a function passed in,
so the same walk serves the PE's walker (cacheable or not, never seeing the
PE's store buffer) and ``AT``-style checks in fault handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stalecheck.errors import ScenarioError
from stalecheck.machine.memtypes import DEVICE, NORMAL_NC, NORMAL_WB, MemType

# ---- descriptors (model encoding) ----------------------------------------------------------

VALID = 1  # D8.3: bit[0] of every descriptor; 0 = Invalid descriptor, faults
TABLE = 2  # D8.3: bit[1]=1 at a non-last level is a Table descriptor (0 = Block)
AF = 4  # D8.15.1 MMU fault types, Access flag fault: 0 makes the first access fault (no FEAT_HAFDBS modelled)
RO = 8  # AP[2]: read-only
XN = 16  # execute-never
ATTR_SHIFT = 5  # 2 bits: the memory type the leaf gives (MAIR index in real tables)
CONTIG = 128  # D8.7.1 the Contiguous bit: one of adjacent entries mapping a contiguous OA range
OA_SHIFT = 8  # output address: a line index (table) or a page index (leaf)

ATTR_WB, ATTR_NC, ATTR_DEVICE = 0, 1, 2
ATTRS: dict[str, int] = {"wb": ATTR_WB, "nc": ATTR_NC, "device": ATTR_DEVICE}
ATTR_TYPES: tuple[MemType, ...] = (NORMAL_WB, NORMAL_NC, DEVICE)


def table_desc(line_index: int) -> int:
    """A valid Table descriptor pointing at the next-level table (one line)."""
    return VALID | TABLE | (line_index << OA_SHIFT)


def page_desc(
    page_index: int,
    attr: str = "wb",
    ro: bool = False,
    xn: bool = False,
    af: bool = True,
    contig: bool = False,
) -> int:
    """A valid Page (or Block) descriptor mapping to a physical page."""
    if attr not in ATTRS:
        raise ScenarioError(f"unknown memory attribute {attr!r} (known: {', '.join(ATTRS)})")
    bits = VALID | (AF if af else 0) | (RO if ro else 0) | (XN if xn else 0)
    bits |= CONTIG if contig else 0
    return bits | (ATTRS[attr] << ATTR_SHIFT) | (page_index << OA_SHIFT)


def desc_oa(desc: int) -> int:
    return desc >> OA_SHIFT


def desc_type(desc: int) -> MemType:
    return ATTR_TYPES[(desc >> ATTR_SHIFT) & 3]


# ---- fault status codes and syndromes ----------------------------------------------------------

# D17 ESR_ELx ISS encoding for an exception from a Data/Instruction Abort: DFSC/IFSC.
FSC_TRANSLATION = 0b000100  # + level: Translation fault, level 0..3
FSC_ACCESS_FLAG = 0b001000  # + level: Access flag fault
FSC_PERMISSION = 0b001100  # + level: Permission fault
FSC_TLB_CONFLICT = 0b110000  # TLB conflict abort (D8.16 Translation Lookaside Buffers, TLB conflict abort)

# D17 ESR_ELx.EC: exception classes of aborts.
EC_IABT_LOWER = 0x20
EC_IABT_SAME = 0x21
EC_DABT_LOWER = 0x24
EC_DABT_SAME = 0x25
IL = 1 << 25  # 32-bit instruction
WNR = 1 << 6  # data abort caused by a write
S1PTW = 1 << 7  # stage-2 fault on a stage-1 table walk

# A walk result is one int: >= 0 is a leaf descriptor (success); < 0 is a fault,
# ``-(1 + fsc + (STAGE2 if at stage 2) + (WALK if on a stage-1 walk's table access))``.
STAGE2_FAULT = 1 << 8
WALK_FAULT = 1 << 9


IPA_SHIFT = 12  # a stage-2 fault also carries its IPA page (index + 1), as HPFAR_EL2 does


def fault(fsc: int, stage2: bool = False, s1ptw: bool = False) -> int:
    return -(1 + fsc + (STAGE2_FAULT if stage2 else 0) + (WALK_FAULT if s1ptw else 0))


def with_ipa(result: int, page_index: int) -> int:
    """A stage-2 fault tagged with the IPA page that faulted (HPFAR_EL2.FIPA)."""
    if result >= 0:
        return result
    return -(1 + ((-result - 1) | ((page_index + 1) << IPA_SHIFT)))


def fault_ipa(result: int) -> int:
    """The faulting IPA page index of a stage-2 fault, -1 if none recorded."""
    return ((-result - 1) >> IPA_SHIFT) - 1


def is_fault(result: int) -> bool:
    return result < 0


def fault_fsc(result: int) -> int:
    return (-result - 1) & 0xFF


def fault_stage2(result: int) -> bool:
    return bool((-result - 1) & STAGE2_FAULT)


def esr(result: int, fetch: bool, write: bool, same_el: bool) -> int:
    """The ESR_ELx value the fault is reported with (D17 ESR_ELx; e.g. a level-3
    translation fault on a load at EL1 taken to EL1 is 0x96000007, seed 003)."""
    code = -result - 1
    ec = {
        (True, True): EC_IABT_SAME,
        (True, False): EC_IABT_LOWER,
        (False, True): EC_DABT_SAME,
        (False, False): EC_DABT_LOWER,
    }[(fetch, same_el)]
    value = (ec << 26) | IL | (code & 0x3F)
    if code & WALK_FAULT:
        value |= S1PTW  # a stage-1 walk's table access faulted at stage 2: WnR is 0 then
    elif write and not fetch:
        value |= WNR
    return value


def describe_esr(value: int) -> str:
    """Decode the ESR_ELx values this model produces, for witnesses (D17 ESR_ELx)."""
    ec = value >> 26
    kind = {EC_IABT_SAME: "instruction abort, same EL", EC_IABT_LOWER: "instruction abort from a lower EL"}
    kind |= {EC_DABT_SAME: "data abort, same EL", EC_DABT_LOWER: "data abort from a lower EL (to EL2)"}
    fsc = value & 0x3F
    names = {FSC_TRANSLATION: "translation", FSC_ACCESS_FLAG: "access-flag", FSC_PERMISSION: "permission"}
    what = "TLB conflict" if fsc == FSC_TLB_CONFLICT else f"level-{fsc & 3} {names.get(fsc & ~3, '?')} fault"
    walk = ", on a stage-1 table walk (S1PTW)" if value & S1PTW else ""
    write = ", write (WnR)" if value & WNR else ""
    return f"{kind.get(ec, hex(ec))}: {what}{walk}{write}"


def describe_fault(result: int) -> str:
    fsc = fault_fsc(result)
    stage = "stage-2" if fault_stage2(result) else "stage-1"
    walk = " on a stage-1 table walk" if (-result - 1) & WALK_FAULT else ""
    if fsc == FSC_TLB_CONFLICT:
        return "TLB conflict abort"
    kind = {FSC_TRANSLATION: "translation", FSC_ACCESS_FLAG: "access-flag", FSC_PERMISSION: "permission"}
    return f"{stage} level-{fsc & 3} {kind.get(fsc & ~3, 'unknown')} fault{walk}"


# ---- regimes and the walk -----------------------------------------------------------------------


@dataclass(frozen=True)
class RegimeSpec:
    """One stage of translation: its root table, levels, and the VAs (or IPAs) it translates.

    ``vas`` maps each input-address name to the entry index it uses at each level;
    ``walk`` is the walker's cacheability (``TCR_ELx.IRGN/ORGN``): ``"wb"`` walks
    look up the data caches coherently, ``"nc"`` walks are Non-cacheable (may hit a
    cached copy, B2.11), ``"noncoherent"`` walks read the PoC only (a walker that
    does not snoop: software must clean tables to the PoC).
    """

    name: str
    root: str  # the first-level table: a line name
    levels: tuple[int, ...]  # e.g. (2, 3): a level-2 table then level-3 tables
    vas: dict[str, tuple[int, ...]] = field(compare=False, hash=False)
    stage: int = 1
    walk: str = "wb"
    s2: str = ""  # stage-1 regime of a guest: the stage-2 regime its walks go through
    colour: dict[str, int] = field(default_factory=dict, compare=False, hash=False)  # VIPT alias bit
    vmid: int = 0  # the VMID/ASID tag a VIVT icache uses for this regime's fetches
    asid: int = -1  # stage 1: the ASID its TLB entries carry; -1: one no other regime uses (tlb.py)
    contig: int = 1  # last-level entries per contiguous range (D8.7.1; 16 with a 4KB granule)


Reader = Callable[[int, int], tuple[int, ...]]  # (line, offset) -> values a walk may read


def walk(
    regime: RegimeSpec,
    va: str,
    root_line: int,
    read: Reader,
    line_offset: Callable[[int, int], tuple[int, int]],
    cached: Callable[[int], tuple[int, ...]] | None = None,
    seen: set[tuple[int, int]] | None = None,
    cached_pa: Callable[[int], tuple[int, ...]] | None = None,
    read_pa: Reader | None = None,
) -> tuple[int, ...]:
    """Every result a walk of ``va`` may produce (D8.2 translation table walk).

    ``read(line, entry)`` gives the values the walker may observe for one entry
    (several when a Non-cacheable walk may hit a cached copy; a negative value is
    a stage-2 fault on the table's own address); ``line_offset``
    resolves a table descriptor's output (a line index) and the entry index to
    the location read.  Results are leaf descriptors (>= 0) or faults (< 0); a
    Table descriptor at the last level is treated as a Page descriptor, a Block
    (TABLE=0) before it as a leaf.

    ``cached(p)`` gives the Table descriptors a walk cache holds for this input at
    level position p: the walk may start there instead of at the root, without
    reading the levels above (D8.16 R_SQBCS: entries may be held in "intermediate TLB
    caching structures"; tlb.py).  ``seen`` collects the (level position, Table
    descriptor) pairs the walk went through, which a walk cache may hold.

    ``cached_pa(p)`` gives a guest stage-1 walk cache's *combined* Table entries at level
    position p: the next table's address is already a PA (stage 2 applied when the entry
    was cached), so that table is read with ``read_pa``, with no stage-2 translation
    (D8.17 R_RRVJDB, D8.17.6.1; tlb.py).
    """
    results: set[int] = set()
    indices = regime.vas[va]
    stage2 = regime.stage == 2

    def step(level_pos: int, table_line: int, reader: Reader = read) -> None:
        level = regime.levels[level_pos]
        line, offset = line_offset(table_line, indices[level_pos])
        for desc in reader(line, offset):
            last = level_pos == len(regime.levels) - 1
            if desc < 0:  # the table's own address faulted at stage 2 (D8.2: S1PTW)
                results.add(-(1 + ((-desc - 1) | WALK_FAULT)))
            elif not desc & VALID:
                results.add(fault(FSC_TRANSLATION + level, stage2))
            elif not last and desc & TABLE:
                if seen is not None:
                    seen.add((level_pos, desc))
                step(level_pos + 1, desc_oa(desc))
            elif not desc & AF:
                results.add(fault(FSC_ACCESS_FLAG + level, stage2))
            else:
                results.add(desc)

    step(0, root_line)
    if cached is not None:
        for level_pos in range(len(regime.levels) - 1):
            for desc in cached(level_pos):
                step(level_pos + 1, desc_oa(desc))
    if cached_pa is not None and read_pa is not None:
        for level_pos in range(len(regime.levels) - 1):
            for desc in cached_pa(level_pos):
                step(level_pos + 1, desc_oa(desc), read_pa)
    return tuple(sorted(results))


def contiguous_range(regime: RegimeSpec, va: str) -> list[tuple[str, int]]:
    """The other inputs of ``va``'s contiguous range, each with its distance in entries:
    D8.7.1 R_RCBXXM, a Page descriptor with the Contiguous bit "is permitted to be cached
    in a TLB as though it is one of a number of adjacent translation table entries that
    point to a contiguous OA range with consistent attributes and permissions"."""
    if regime.contig <= 1:
        return []
    idx = regime.vas[va]
    return [
        (other, j[-1] - idx[-1])
        for other, j in regime.vas.items()
        if other != va and j[:-1] == idx[:-1] and j[-1] // regime.contig == idx[-1] // regime.contig
    ]


def leaf_level(regime: RegimeSpec) -> int:
    return regime.levels[-1]


def check_permission(result: int, regime: RegimeSpec, write: bool, fetch: bool) -> int:
    """D8.4 permission checks on a leaf: a write to a read-only page or a fetch from
    an execute-never page is a Permission fault at the leaf's level."""
    if is_fault(result):
        return result
    if (write and result & RO) or (fetch and result & XN):
        return fault(FSC_PERMISSION + leaf_level(regime), regime.stage == 2)
    return result


@dataclass(frozen=True)
class IcacheInit:
    """An icache entry present at start: code a previous owner of the page ran there."""

    pe: int
    line: str
    value: int
    colour: int = 0
    vmid: int = 0


@dataclass(frozen=True)
class TlbInit:
    """A TLB entry present at start: a translation another context (a vCPU that ran on the
    PE before) left there, tagged with its regime's VMID and ASID."""

    pe: int
    regime: str
    va: str
    desc: int  # the leaf descriptor it holds (``page_desc``)


@dataclass(frozen=True)
class XlateSpec:
    """Everything static about translation and instruction fetch in one variant."""

    regimes: tuple[RegimeSpec, ...] = ()
    thread_regime: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    on_fault: dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # "fatal"/"retry"
    ets2: bool = False  # FEAT_ETS2 (ID_AA64MMFR1_EL1.ETS)
    icache: str = "none"  # "none", "pipt", "vipt", "vivt-vmid"
    idc: bool = False  # CTR_EL0.IDC
    dic: bool = False  # CTR_EL0.DIC
    host_colour: int = 1  # VIPT alias bit of the host's (EL2 linear map) VAs
    guest_colour: int = 0  # VIPT alias bit of a guest's VAs when its stage 1 is off
    icache_init: tuple[IcacheInit, ...] = ()
    tlb_init: tuple[TlbInit, ...] = ()
