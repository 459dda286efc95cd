"""stalecheck: where Arm observers can read stale data, and proof that a fix closes it."""

__version__ = "0.1.0"
