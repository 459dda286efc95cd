"""The ``stalecheck litmus`` command (axiomatic engine front door); filled in by the litmus work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stalecheck.errors import UnsupportedError


def litmus(
    paths: Annotated[list[Path], typer.Argument(help="Litmus files, folders or index files.")],
) -> None:
    """Check herd7 AArch64 litmus tests against the Arm model (herd-compatible output)."""
    raise UnsupportedError("the axiomatic engine is not built yet")
