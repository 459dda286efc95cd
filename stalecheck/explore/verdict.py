"""What a search concludes, and why it stopped."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"


class StopReason(StrEnum):
    """Why the search ended: only ``EXHAUSTED`` makes ``unreachable`` a proof."""

    FOUND = "found"
    EXHAUSTED = "exhausted"
    MAX_STATES = "max-states"
    TIMEOUT = "timeout"
    MAX_MEMORY = "max-memory"
    INTERRUPTED = "interrupted"  # Ctrl-C
    BITSTATE = "bitstate"  # a bitstate search ended: states may have been skipped (explore/reduced.py)


@dataclass(frozen=True)
class Verdict:
    """Result of one search.

    ``witness`` holds the action indices from the initial state (the replay
    token); ``steps`` what the model's ``describe`` says of each, rebuilt by
    replaying them (the machine engine: one ``StepRecord`` per step).
    ``depth`` is how many BFS levels were completed: an ``unknown`` verdict of the
    plain breadth-first search still proves that nothing bad happens within
    ``depth`` steps (not so depth-first, bitstate or reduced: ``order``, ``reduction``).
    """

    outcome: Outcome
    reason: StopReason
    states: int
    transitions: int
    depth: int
    seconds: float
    witness: tuple[int, ...] = ()
    steps: tuple[Any, ...] = field(default_factory=tuple)
    sane: bool = True  # some explored state met the sanity property
    store: str = "exact"  # how visited states were stored (``search.Store``, or "bitstate")
    order: str = "bfs"  # the search order (``reduced.Order``)
    reduction: str = "none"  # "partial-order", "none", or why it was turned off
    shortest: bool = True  # the witness is a shortest one (breadth-first, unreduced)
    reduced_states: int = 0  # states where the reduction followed fewer than every action
    bitstate_log2: int = 0  # size of the bitstate array, as log2 of its bits

    @property
    def token(self) -> str:
        """The witness as a ``0/2/1`` path token that ``stalecheck explain`` replays."""
        return "/".join(str(i) for i in self.witness)

    @property
    def search_assumptions(self) -> tuple[str, ...]:
        """What the search order and reduction add to the verdict's assumptions."""
        out: list[str] = []
        # ``reduction``: "partial-order", "off: why", "none", each maybe followed by
        # " + symmetry (N)" or "; symmetry off: why" / "symmetry: none found" (reduced.py).
        por, _, sym = self.reduction.partition("; ")
        if por.startswith("symmetry"):
            por, sym = "none", por
        if " + symmetry (" in por:
            por, _, group = por.partition(" + ")
            sym = group
        if sym.startswith("symmetry ("):
            out.append(
                f"symmetry reduction (machine/symmetry.py, a group of {sym[10:-1]} renamings of "
                "interchangeable threads, PEs and lines): one state per orbit explored, the bad state "
                "asked of every member"
            )
        elif sym:
            out.append(f"symmetry reduction: {sym.removeprefix('symmetry').lstrip(': ')}")
        if por == "partial-order":
            out.append(
                "partial-order reduction (stubborn sets over threads, buffers and lines, machine/por.py): "
                "every reachable valuation of what the bad state reads is reached; "
                + ("the witness may not be the shortest (--shortest finds it)" if self.witness else
                   f"{self.reduced_states:,} states expanded in part")
            )
        elif por.startswith("off: "):
            out.append(f"partial-order reduction turned off: {por[5:]}")
        if self.order == "dfs":
            out.append("depth-first search: a witness is a run, not the shortest one")
        return tuple(out)

    @property
    def visited_assumption(self) -> str:
        """What the visited set adds to the verdict's assumptions, from the search that ran.

        Digests: a collision between two of the ``n`` stored 64-bit digests is what
        could hide a state; with BLAKE2b taken as a random function the chance is at
        most n(n-1)/2 pairs times 2**-64 (the birthday bound)."""
        if self.store == "bitstate":
            return (
                "bitstate search: a state whose two bits were already set was taken as visited, so "
                f"states may have been skipped (expected share of new states recognised as new at the end: "
                f"{bitstate_coverage(self.states, self.bitstate_log2):.4f}); not a proof"
            )
        if self.store == "exact":
            return "visited states stored exactly (compared by equality): no state hidden by a hash collision"
        n = self.states
        bound = min(1.0, n * (n - 1) / 2**65)
        where = " in a sorted array" if self.store == "compact" else ""
        return (
            f"visited states stored as 64-bit BLAKE2b digests{where}: chance that a collision hid a state "
            f"<= n(n-1)/2^65 = {bound:.1e} for the n = {n:,} states explored"
        )


def bitstate_coverage(states: int, log2: int) -> float:
    """The expected fraction of states that were new when met but taken as visited,
    complemented: with ``n`` states set in ``m`` bits, two bits each, a new state
    collides with probability about (1 - e^(-2n/m))^2 (Holzmann's estimate)."""
    m = float(1 << log2)
    return 1.0 - (1.0 - math.exp(-2.0 * states / m)) ** 2
