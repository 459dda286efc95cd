"""Which hot modules `make compiled` builds with mypyc, and which of them this process runs compiled.

Why here: the CLI's `--version`, the benchmark `benchmarks/compiled_speed.py` and the tests say
which build ran, and `compiled_build.py` builds exactly this list, so the list lives once.
`force_pure` lets one checkout run both builds side by side (the benchmark's pure subprocess).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

# Chosen by profiling benchmarks/explore_speed.py (--sizes 2x2, and --case two-vcpu-guest):
# the split visited set's loop and the memoized plans, walks and TLB steps of the machine.
# (machine/state.py stays pure: its probe stand-ins are plain classes with __slots__.)
COMPILED_MODULES: tuple[str, ...] = (
    "stalecheck.explore.split",
    "stalecheck.machine.plan",
    "stalecheck.machine.mmu",
    "stalecheck.machine.walker",
    "stalecheck.machine.dead_tlb",
    "stalecheck.machine.execute",
    "stalecheck.machine.hardware",
)

_SOURCE = Path(__file__).resolve().parent.parent  # the directory holding the package


def compiled_modules() -> tuple[str, ...]:
    """The modules of COMPILED_MODULES imported from an extension module (empty when pure)."""
    found: list[str] = []
    for name in COMPILED_MODULES:
        path = getattr(importlib.import_module(name), "__file__", None) or ""
        if not path.endswith(".py"):
            found.append(name)
    return tuple(found)


def build_name() -> str:
    """'pure Python', or which compiled build, for the `--version` line."""
    found = compiled_modules()
    if not found:
        return "pure Python"
    return f"mypyc: {len(found)} of {len(COMPILED_MODULES)} hot modules compiled"


class _PureFinder(importlib.abc.MetaPathFinder):
    """Finds the hot modules' `.py` sources even where their extension modules sit beside them."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED_MODULES:
            return None
        source = _SOURCE.joinpath(*fullname.split(".")).with_suffix(".py")
        return importlib.util.spec_from_file_location(fullname, source)


def force_pure() -> None:
    """Import the hot modules from their sources from now on (call before importing them)."""
    loaded = [name for name in COMPILED_MODULES if name in sys.modules]
    if loaded:
        raise RuntimeError(f"force_pure() after {', '.join(loaded)} was imported")
    sys.meta_path.insert(0, _PureFinder())
