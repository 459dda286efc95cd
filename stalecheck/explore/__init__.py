"""Search over any model that meets ``Model``; knows nothing about caches.

``explore`` relates to ``machine`` the way a model checker relates to a
model: it asks for initial states, enabled actions in a stable order and the
effect of one action, and returns a ``Verdict``.
"""

from stalecheck.explore.protocol import Model
from stalecheck.explore.search import Budget, check
from stalecheck.explore.verdict import Verdict

__all__ = ["Budget", "Model", "Verdict", "check"]
