"""The boundary between a model and the search (after stateright's ``Model``)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol, TypeVar

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")


class Model(Protocol[S, A]):
    """What the search needs from a model.

    ``actions`` must return actions in a stable order for a given state: a
    witness is stored as a list of action indices and rebuilt by replay, so a
    model that iterated a salted-hash set here would replay a different path.
    """

    def initial_state(self) -> S:
        """The single initial state (nondeterministic set-up is a first step)."""
        ...

    def actions(self, state: S) -> Sequence[A]:
        """Enabled actions, in a deterministic order."""
        ...

    def next_state(self, state: S, action: A) -> S:
        """The state after ``action``; never mutates ``state``."""
        ...

    def is_bad(self, state: S) -> bool:
        """The property that must *never* hold (the stale read, the fault)."""
        ...

    def fingerprint(self, state: S) -> int:
        """A 64-bit digest of a canonical encoding of ``state`` (``explore.fingerprint``),
        equal in every process.  Used only when the search stores digests
        (``Store.DIGEST``); never the built-in ``hash()``, which merges distinct
        states by construction (``hash(-1) == hash(-2)``)."""
        ...

    def describe(self, before: S, action: A, after: S) -> object:
        """What ``action`` taken in ``before`` did, for a witness (the machine engine
        returns a ``StepRecord``); the search only stores it."""
        ...
