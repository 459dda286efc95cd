"""TLB rules: what a PE's TLB may hold and what each TLBI removes.

A TLB is a sorted tuple of ``(regime, input, result)`` entries, one PE's worth,
so equal contents hash equal.  The rules, each defined here once:

- an entry holds a *non-faulting* walk result only: a walk that faults is never
  cached (D8.16 Translation Lookaside Buffers: "The TLB never holds a translation that generates a
  Translation fault, Address size fault or Access flag fault"), which is why
  making an invalid entry valid needs no TLBI (seed 003);
- a PE may cache a walk result at any time and drop any entry at any time
  (D8.16 Translation Lookaside Buffers: speculative walks and eviction);
- a TLB may hold two different results for one input when the table changed
  between two fills without break-before-make; a lookup may then take a TLB
  conflict abort (D8.16 Translation Lookaside Buffers, TLB conflict abort) or use either entry;
- a TLBI removes the matching entries of every PE in its scope when it
  *completes*; it completes asynchronously and only a DSB waits for it
  (D8.17 TLB maintenance, R_YNJCP, R_PSMWS; docs/design.md section 1: ``DSB ISHST`` completes none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from stalecheck.errors import ScenarioError


class TlbEntry(NamedTuple):
    """One cached translation of one stage."""

    regime: int
    key: int  # the input (VA or IPA page) index in the regime
    result: int  # a non-faulting walk result (translation.py's encoding)


Tlb = tuple[TlbEntry, ...]


def lookup(tlb: Tlb, regime: int, key: int) -> tuple[int, ...]:
    """The cached results for one input (usually none or one)."""
    return tuple(entry.result for entry in tlb if entry.regime == regime and entry.key == key)


def fill(tlb: Tlb, regime: int, key: int, result: int) -> Tlb:
    """Cache a non-faulting walk result (a faulting one is never cached)."""
    assert result >= 0, "a faulting walk result is never cached in a TLB"
    return tuple(sorted({*tlb, TlbEntry(regime, key, result)}))


def drop(tlb: Tlb, index: int) -> Tlb:
    return (*tlb[:index], *tlb[index + 1 :])


@dataclass(frozen=True)
class TlbiOp:
    """One TLBI operation: whether it is broadcast and what it matches (D8.17 TLB maintenance / C5.5)."""

    broadcast: bool
    by_input: bool  # by VA (stage 1) or by IPA (stage 2)
    all_regimes: bool  # ALLE1/ALLE2: every regime (every VMID)
    stage2: bool = False  # IPAS2E1*: stage-2 entries; VMALLS12E1*: both stages


TLBI_OPS: dict[str, TlbiOp] = {
    "VAE1": TlbiOp(False, True, False),
    "VAE1IS": TlbiOp(True, True, False),
    "VALE1": TlbiOp(False, True, False),
    "VALE1IS": TlbiOp(True, True, False),
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


def invalidate(tlb: Tlb, regimes: frozenset[int], key: int) -> Tlb:
    """Remove the entries of ``regimes`` (every input when ``key`` < 0)."""
    return tuple(e for e in tlb if not (e[0] in regimes and (key < 0 or e[1] == key)))
