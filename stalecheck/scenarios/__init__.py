"""Bundled scenarios: one module per real case, each defining ``SCENARIO``.

They are registered as entry points in the group ``stalecheck.scenarios``
(``pyproject.toml``), like any third-party scenario; ``registry`` reads them.
``BUNDLED`` (name -> module) is computed from those entry points on first use.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "BUNDLED":
        from stalecheck.scenarios.registry import bundled

        return {key: value.partition(":")[0] for key, value in bundled().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
