"""Command-line options shared by several commands, validated where they are parsed.

A bad value is a ``typer.BadParameter``: click names the option in its message
and the entry point exits 2, before any work starts.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

import typer

# Below a millisecond a deadline is noise (the clock and signal granularity), so
# such a value is far more likely a typo than a wish.
MIN_SECONDS = 0.001


def _seconds(value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of seconds; leave the option out for no limit")
    if value < MIN_SECONDS:
        raise typer.BadParameter(f"{value} is below the minimum of {MIN_SECONDS} s")
    return value


def timeout_option(help_text: str) -> typer.models.OptionInfo:
    option: typer.models.OptionInfo = typer.Option(
        "--timeout", help=help_text, callback=_seconds, metavar="SECONDS"
    )
    return option


Timeout = Annotated[float | None, timeout_option("Stop with 'unknown' after this many seconds.")]
LitmusTimeout = Annotated[
    float | None, timeout_option("Seconds allowed per test (a test past it counts as a timeout).")
]


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
# A bare small number is surely a missing unit ("4" meaning 4G), not 4 bytes.
MIN_MEMORY = 1 << 20


def _memory(value: str | None) -> int | None:
    if value is None:
        return None
    m = _SIZE.fullmatch(value.strip())
    if m is None:
        raise typer.BadParameter(f"{value!r} is not a size such as 4G, 500M or 2GiB")
    size = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if size < MIN_MEMORY:
        raise typer.BadParameter(f"{value} is below the minimum of {MIN_MEMORY >> 20}M")
    return size


MaxMemory = Annotated[
    int | None,
    typer.Option(
        "--max-memory", metavar="SIZE", parser=_memory,
        help="Stop with 'unknown' when resident memory passes SIZE (e.g. 4G, 500M).",
    ),
]
