"""TLB rules: what a PE's TLB may hold and what each TLBI removes.

A TLB is a sorted tuple of ``(tag, input, result)`` entries, one PE's worth,
so equal contents hash equal.  The tag says which regime and what kind of entry
(``tag``): a *leaf* of one stage (input: a VA or IPA), a *combined* stage 1+2 leaf
of a guest regime (input: a VA; result: the output page with both stages'
attributes), or a *table* entry of a walk cache at one level (input: the VA
prefix that indexes the levels up to it; result: the Table descriptor read
there).  D8.17 R_RRVJDB: "a TLB entry is any structure that holds a translation
table entry, including intermediate TLB caching structures".  The rules, each
defined here once:

- an entry holds a *non-faulting* walk result only: a walk that faults is never
  cached (D8.16 Translation Lookaside Buffers: "The TLB never holds a translation that generates a
  Translation fault, Address size fault or Access flag fault"), which is why
  making an invalid entry valid needs no TLBI (seed 003);
- a PE may cache a walk result at any time and drop any entry at any time
  (D8.16 Translation Lookaside Buffers: speculative walks and eviction);
- a TLB may hold two different results for one input when the table changed
  between two fills without break-before-make; a lookup may then take a TLB
  conflict abort (D8.16 Translation Lookaside Buffers, TLB conflict abort) or use either entry,
  and so may a walk that finds two table entries of one level for its input (D8.17.1
  I_HYQMB: "For Table descriptors, this also applies to intermediate TLB caching
  structures"; ``walker.py``);
- a TLBI removes the matching entries of every PE in its scope when it
  *completes*; it completes asynchronously and only a DSB waits for it
  (D8.17 TLB maintenance, R_YNJCP, R_PSMWS; docs/design.md section 1: ``DSB ISHST`` completes none);
- what it removes (``invalidate``): by input, the leaf and combined entries of the
  input and the table entries on its walk, but a last-level TLBI (``VALE1``,
  ``IPAS2LE1``) only the leaf and combined ones (D8.17 I_RTRQB: last-level
  invalidation avoids "loss of the cached intermediate translation table
  entries"); a stage-2 TLBI by IPA leaves combined entries, which only a stage-1
  TLBI of the VA or ``VMALLE1``/``VMALLS12E1``/``ALLE1`` removes (D8.17.6.1: "TLBI
  IPAS2E1, Xt; DSB; TLBI VMALLE1" is required to invalidate all cached copies of the
  stage 2 translation of the IPA);
- a guest's stage-1 walk cache may hold a *combined table* entry: the Table descriptor
  with the next table's IPA already translated by stage 2 to its PA (D8.17 R_RRVJDB: any
  structure holding a translation table entry; D8.17.6.1: after ``TLBI IPAS2E1`` a
  stage-2 translation of a table's IPA survives in such entries until a stage-1 TLBI of
  the VA that is not last-level, ``VMALLE1``, ``VMALLS12E1`` or ``ALLE1``).  It is a
  stage-1 entry (the stage-1 regime's tag), so a stage-2 TLBI never removes it;
- a lookup in a range with the Contiguous bit *misprogrammed* (some valid entry of the
  range has it, another has not) may give an output, permissions and attributes
  consistent with any entry of the range, or inconsistent with all of them (without
  FEAT_BBM levels 1 and 2), or a TLB conflict abort (D8.7.1.1 R_NGLXZ); it never reaches
  memory or attributes that a correctly programmed range could not (D8.7.1.2 R_MWFWF).
  So the TLB may hold, for each input of the range, every output page any entry gives
  (as its own or extrapolated across the range) with the bits of any entry
  (``misprogrammed``); two different such entries give the conflict abort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from stalecheck.errors import ScenarioError


class TlbEntry(NamedTuple):
    """One cached translation table entry (see ``tag`` for its kinds)."""

    regime: int  # the tag: regime and kind of entry (``tag``)
    key: int  # the input (VA or IPA page) index in the regime, or a VA prefix index (table entries)
    result: int  # a non-faulting walk result or Table descriptor (translation.py's encoding)


Tlb = tuple[TlbEntry, ...]

# Kinds of entry; a table entry of level position p (0: the first level) is TABLE + p,
# a combined table entry (its next table's address a PA: stage 1 and 2) COMBINED_TABLE + p.
LEAF, COMBINED, TABLE = 0, 1, 2
MAX_TABLE_LEVELS = 5  # D8.2: at most five lookup levels (-1 to 3)
COMBINED_TABLE = TABLE + MAX_TABLE_LEVELS


def table_position(kind: int) -> int:
    """The level position of a (plain or combined) table entry's kind, -1 for a leaf kind."""
    if kind >= COMBINED_TABLE:
        return kind - COMBINED_TABLE
    return kind - TABLE if kind >= TABLE else -1


def tag(regime: int, kind: int, n_regimes: int) -> int:
    """The tag of ``regime``'s entries of one kind (the leaf tag is the regime index)."""
    return regime + n_regimes * kind


def untag(value: int, n_regimes: int) -> tuple[int, int]:
    """(regime, kind) of a tag."""
    kind, regime = divmod(value, n_regimes)
    return regime, kind


def lookup(tlb: Tlb, regime: int, key: int) -> tuple[int, ...]:
    """The cached results for one input (usually none or one)."""
    return tuple(entry.result for entry in tlb if entry.regime == regime and entry.key == key)


def fill(tlb: Tlb, regime: int, key: int, result: int) -> Tlb:
    """Cache a non-faulting walk result (a faulting one is never cached)."""
    assert result >= 0, "a faulting walk result is never cached in a TLB"
    return tuple(sorted({*tlb, TlbEntry(regime, key, result)}))


def misprogrammed(
    range_leaves: list[tuple[int, tuple[int, ...]]], contig_bit: int, oa_shift: int, n_pages: int
) -> set[int]:
    """The results a TLB may hold for one input of a contiguous range whose Contiguous bit
    is misprogrammed (D8.7.1.1 R_QTRPM, R_NGLXZ; bounded by D8.7.1.2 R_MWFWF), or the empty
    set when it is not.  ``range_leaves`` holds, for every entry of the range (this input's
    own at distance 0), its distance in pages from this input and its valid leaf results."""
    leaves = [r for _, rs in range_leaves for r in rs]
    if not any(r & contig_bit for r in leaves) or all(r & contig_bit for r in leaves):
        return set()  # D8.7.1.1 I_PGVGZ: invalid entries do not make a range misprogrammed
    low = (1 << oa_shift) - 1
    pages = {r >> oa_shift for r in leaves}  # an entry's own output ...
    pages |= {(r >> oa_shift) + d for d, rs in range_leaves for r in rs}  # ... or extrapolated
    bits = {r & low for r in leaves}
    return {b | (p << oa_shift) for p in pages if 0 <= p < n_pages for b in bits}


def drop(tlb: Tlb, index: int) -> Tlb:
    return (*tlb[:index], *tlb[index + 1 :])


@dataclass(frozen=True)
class TlbiOp:
    """One TLBI operation: whether it is broadcast and what it matches (D8.17 TLB maintenance / C5.5)."""

    broadcast: bool
    by_input: bool  # by VA (stage 1) or by IPA (stage 2)
    all_regimes: bool  # ALLE1/ALLE2: every regime (every VMID)
    stage2: bool = False  # IPAS2E1*: stage-2 entries; VMALLS12E1*: both stages
    last_level: bool = False  # VALE1*, IPAS2LE1*: entries from the last level of the walk only


TLBI_OPS: dict[str, TlbiOp] = {
    "VAE1": TlbiOp(False, True, False),
    "VAE1IS": TlbiOp(True, True, False),
    "VALE1": TlbiOp(False, True, False, last_level=True),
    "VALE1IS": TlbiOp(True, True, False, last_level=True),
    "VAAE1": TlbiOp(False, True, False),
    "VAAE1IS": TlbiOp(True, True, False),
    "VAE2": TlbiOp(False, True, False),
    "VAE2IS": TlbiOp(True, True, False),
    "VMALLE1": TlbiOp(False, False, False),
    "VMALLE1IS": TlbiOp(True, False, False),
    "VMALLS12E1": TlbiOp(False, False, False, True),
    "VMALLS12E1IS": TlbiOp(True, False, False, True),
    "IPAS2E1": TlbiOp(False, True, False, True),
    "IPAS2E1IS": TlbiOp(True, True, False, True),
    "IPAS2LE1": TlbiOp(False, True, False, True, last_level=True),
    "IPAS2LE1IS": TlbiOp(True, True, False, True, last_level=True),
    "ALLE1": TlbiOp(False, False, True),
    "ALLE1IS": TlbiOp(True, False, True),
    "ALLE2": TlbiOp(False, False, True),
    "ALLE2IS": TlbiOp(True, False, True),
}


def tlbi_op(name: str) -> TlbiOp:
    try:
        return TLBI_OPS[name]
    except KeyError:
        raise ScenarioError(f"TLBI {name} is not modelled (modelled: {', '.join(TLBI_OPS)})") from None


def invalidate(
    tlb: Tlb, n_regimes: int, regimes: frozenset[int], key: int, last_level: bool, prefixes: tuple[int, ...]
) -> Tlb:
    """The TLB after a TLBI on ``regimes`` completes: every entry of theirs when ``key`` < 0;
    else the leaf and combined entries of input ``key`` and, unless ``last_level``, the
    table entries on its walk (``prefixes[p]``: the input's prefix index at level position p)."""
    out: list[TlbEntry] = []
    for entry in tlb:
        regime, kind = untag(entry.regime, n_regimes)
        if regime in regimes:
            if key < 0:
                continue
            if kind in (LEAF, COMBINED) and entry.key == key:
                continue
            pos = table_position(kind)
            if pos >= 0 and not last_level and entry.key == prefixes[pos]:
                continue
        out.append(entry)
    return tuple(out)
