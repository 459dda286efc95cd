"""One root for every error a user can cause.

Library code raises these and never prints or exits; only ``cli.py`` catches
``StalecheckError``, renders it once with its position and context, and
exits non-zero.  Anything else escaping to the CLI is our bug, not the user's,
and is reported as such (with the traceback only under ``--debug``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """The process exit status, one meaning each, so scripts and CI can branch on it.

    A verdict is an answer, never a failure: ``reachable`` and ``unreachable``
    both exit 0.  130 is the shell's convention for SIGINT (128 + 2).
    """

    OK = 0
    BATCH_FAILED = 1  # a batch ran to its end, but some inputs had errors or timed out
    USER_ERROR = 2  # bad input or a bad option: the message says where
    INTERNAL = 3  # our bug, not the user's
    INTERRUPTED = 130  # Ctrl-C


@dataclass(frozen=True)
class Position:
    """Where in the user's input an error is: editors jump to ``path:line:column``."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        if self.column <= 0:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"


class StalecheckError(Exception):
    """Root of user-facing errors; carries an optional position and source line."""

    def __init__(
        self,
        message: str,
        position: Position | None = None,
        source_line: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.source_line = source_line

    def render(self) -> str:
        """The message as printed by the CLI: position, message, then the line with a caret."""
        head = f"{self.position}: {self.message}" if self.position else self.message
        if self.source_line is None or self.position is None or self.position.column <= 0:
            return head
        caret = " " * (self.position.column - 1) + "^"
        return f"{head}\n    {self.source_line.rstrip()}\n    {caret}"


class InputError(StalecheckError):
    """The input (a program, a scenario, a litmus file) is malformed."""


class ScenarioError(StalecheckError):
    """A scenario is inconsistent: unknown line, PE, policy, or a vacuous bad state."""


class UsageError(StalecheckError):
    """A command-line option or argument is invalid."""


class UnsupportedError(StalecheckError):
    """The input is valid but uses something the model does not cover (yet)."""
