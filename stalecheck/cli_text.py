"""User text through rich, exactly as typed.

``rich.markup.escape`` is not enough: it leaves ``\\[`` alone, which markup then
reads as an escaped ``[`` and drops the backslash.  So user text never goes
through markup at all: it is wrapped in ``Text`` (which rich never parses) and
the consoles are made with ``emoji=False`` (``:warning:`` stays as typed).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def labelled(label: str, style: str, message: str) -> Text:
    """``label: message`` with the label styled and the message verbatim."""
    return Text.assemble((f"{label}:", style), " ", message)


class _Interrupt:
    """Whether a command already said what Ctrl-C left undone (so the entry point
    adds no second, vaguer line)."""

    explained = False


def explain_interrupt(console: Console, message: str) -> None:
    """Print what an interrupted command covered; the command then exits 130."""
    console.print(labelled("interrupted", "bold yellow", message))
    _Interrupt.explained = True


def interrupt_explained(reset: bool = False) -> bool:
    was = _Interrupt.explained
    if reset:
        _Interrupt.explained = False
    return was
