"""Data the tests read, kept in the repository so a bare clone passes ``make test``."""

from pathlib import Path

HERDTOOLS7 = Path(__file__).resolve().parent / "herdtools7"
"""herd7's litmus catalogues, instruction tests and cat model (see ``README.md`` here)."""
