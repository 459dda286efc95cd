"""stalecheck: where Arm observers can read stale data, and proof that a fix closes it."""

__version__ = "0.1.0"  # the only place the version is written (pyproject reads it; see CHANGELOG.md)
