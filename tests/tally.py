"""Count what a property test's inputs came to.

A fuzz test that only asserts "nothing crashed" passes just as well when every
input is rejected at the first token, and then it tests nothing.  Such a test
counts its inputs with a ``Tally`` and ends with ``require``: at least a fixed
share must get past the front door (parse), so the deeper code is exercised.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Tally:
    tried: int = 0
    accepted: int = 0

    def saw(self, accepted: bool) -> None:
        self.tried += 1
        self.accepted += accepted

    def require(self, share: float, what: str, at_least: int = 1) -> None:
        assert self.accepted >= at_least, f"only {self.accepted} inputs {what} (at least {at_least} must)"
        assert self.accepted >= share * self.tried, (
            f"only {self.accepted} of {self.tried} inputs {what} (at least {share:.0%} must)"
        )
