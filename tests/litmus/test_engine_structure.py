"""The axiomatic engine's shape: small modules and no import cycle through report/.

The engine is split like herd (semantics -> candidates -> model) so that
instruction fetch, VMSA and a cat interpreter extend it without touching the
enumeration; these checks keep that shape from eroding.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "stalecheck"
ENGINE = sorted((PACKAGE / "axiomatic").glob("*.py"))
MAX_LINES = 600


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: p.name)
def test_engine_module_is_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: p.name)
def test_engine_does_not_import_rendering_or_cli(path: Path) -> None:
    """report/ renders engine results, so the engine must not import it (no cycle)."""
    bad = {m for m in _imports(path) if m.startswith(("stalecheck.report", "stalecheck.cli"))}
    assert not bad


def test_model_does_not_reach_into_instruction_semantics() -> None:
    """The model sees events only: it must not depend on how instructions make them."""
    for name in ("model.py", "aarch64_model.py", "aarch64_local.py", "candidates.py"):
        mods = _imports(PACKAGE / "axiomatic" / name)
        assert not {m for m in mods if m.split(".")[-1].startswith(("isa_", "machine", "semantics"))}
