"""What the candidate generator asks of a memory model.

herd separates three things, and so do we: instruction semantics produce
each thread's events (:mod:`~stalecheck.axiomatic.semantics`); a candidate
generator enumerates read-from and coherence over them
(:mod:`~stalecheck.axiomatic.candidates`); a *model* says which candidates
are executions.  The built-in Arm model
(:class:`~stalecheck.axiomatic.aarch64_model.Aarch64Model`) implements this
protocol with one named function per relation and per axiom; a ``--cat``
interpreter implements the same three methods by evaluating a cat file.

The split into ``prepare`` / ``admits_rf`` / ``judge`` exists for speed:
whatever does not depend on the rf and co choices is computed once per
combination of thread paths, and a model may reject a read-from choice before
any coherence order is enumerated.  Pruning must be sound: ``admits_rf`` may
only return None where every coherence choice would break an axiom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from stalecheck.axiomatic.candidates import Candidate, CandidateSpace


@dataclass(frozen=True, slots=True)
class Judgement:
    """A model's word on one candidate: the first axiom it breaks ("" if none).

    ``ob`` is the ordered-before relation (bitmask rows), kept when explaining a
    forbidden outcome so a witness can show the cycle.
    """

    violation: str = ""
    ob: tuple[int, ...] = ()


class MemoryModel(Protocol):
    """A memory model over candidate executions (see the module docstring)."""

    name: str

    def prepare(self, space: CandidateSpace) -> object:
        """Precompute what depends only on the thread paths (e.g. ``lob``)."""
        ...

    def admits_rf(self, prepared: object, rf: dict[int, int], explain: bool) -> object | None:
        """Per-rf state for :meth:`judge`, or None if no coherence choice can be allowed.

        With ``explain`` the model must not prune (forbidden candidates are wanted).
        """
        ...

    def judge(
        self, prepared: object, rf_state: object, candidate: Candidate, explain: bool
    ) -> Judgement:
        """Check every axiom on one candidate; with ``explain``, also return ``ob``."""
        ...

    def thread_edges(self, prepared: object) -> tuple[tuple[tuple[int, int, str], ...], ...]:
        """Named thread-local edges per thread (local event indices), for witnesses."""
        ...
