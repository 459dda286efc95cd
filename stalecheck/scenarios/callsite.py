"""Where in a user's scenario file a builder call, and the program it passes, are.

An error found in ``b.guest(...)`` must name the user's file and the line of
that call, and an error in a program must name the program's own line, even
when the call spans several lines or the program is a module constant defined
elsewhere in the file.  The frame gives the call's exact span (Python 3.11
``co_positions``); the file's syntax tree then gives the argument: a string
literal (where its text starts, and whether it is triple-quoted so that its
lines are the file's lines), or a name bound to such a literal at module level.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import FrameType

from stalecheck.errors import Position

# The builder's own frames, skipped to reach the user's call (bundled scenario
# modules in this folder are user code for this purpose).
_OURS = frozenset(
    str(Path(__file__).resolve().parent / name) for name in ("builder.py", "callsite.py")
)


@dataclass(frozen=True)
class CallSite:
    """One call in the user's code: ``path:line:column`` and the call's full span."""

    path: str
    line: int
    column: int  # 1-based, 0 if unknown
    end_line: int
    end_column: int  # 0-based exclusive, as ``ast`` gives it

    @property
    def position(self) -> Position:
        return Position(self.path, self.line, self.column)


def caller() -> CallSite | None:
    """The innermost frame outside ``stalecheck/scenarios``: the user's call."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()) in _OURS:
        frame = frame.f_back
    if frame is None:
        return None
    path = frame.f_code.co_filename
    line, end_line, col, end_col = frame.f_lineno, frame.f_lineno, None, None
    positions = list(frame.f_code.co_positions())
    index = frame.f_lasti // 2
    if 0 <= index < len(positions):
        p_line, p_end, p_col, p_end_col = positions[index]
        if p_line is not None:
            line, end_line, col, end_col = p_line, p_end or p_line, p_col, p_end_col
    return CallSite(path, line, (col + 1) if col is not None else 0, end_line, end_col or 0)


@lru_cache(maxsize=32)
def _tree(path: str, mtime: float) -> tuple[ast.Module, tuple[str, ...]] | None:
    try:
        source = Path(path).read_text(encoding="utf-8")
        return ast.parse(source), tuple(source.splitlines())
    except (OSError, SyntaxError, ValueError):
        return None


def _parsed(path: str) -> tuple[ast.Module, tuple[str, ...]] | None:
    try:
        return _tree(path, Path(path).stat().st_mtime)
    except OSError:
        return None


def _call_node(module: ast.Module, site: CallSite) -> ast.Call | None:
    """The call whose span is the frame's current instruction: the innermost call
    that starts at the site (``b.host(...)`` inside ``f(b.host(...))``)."""
    best: ast.Call | None = None
    for node in ast.walk(module):
        if (
            isinstance(node, ast.Call)
            and node.lineno == site.line
            and node.col_offset + 1 == site.column
            and node.end_lineno == site.end_line
            and node.end_col_offset == site.end_column
        ):
            best = node
    return best


@dataclass(frozen=True)
class TextOrigin:
    """Where an argument's text starts in the file.  ``lines_match`` says whether the
    text's line ``k`` is the file's line ``line + k - 1`` (a triple-quoted literal); if
    not (``"a\\nb"`` or a computed string), every line of it is reported at ``line``."""

    line: int
    column: int  # 1-based column of the text's first character on ``line``
    lines_match: bool


def _literal_origin(node: ast.expr, lines: tuple[str, ...]) -> TextOrigin | None:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return None
    first = lines[node.lineno - 1] if 0 < node.lineno <= len(lines) else ""
    head = first[node.col_offset:]
    prefix = len(head) - len(head.lstrip("rRuUbBfF"))
    quote = head[prefix:prefix + 3]
    triple = quote in ('"""', "'''")
    width = prefix + (3 if triple else 1)
    return TextOrigin(node.lineno, node.col_offset + width + 1, triple)


def argument_origin(site: CallSite, index: int, keyword: str) -> TextOrigin | None:
    """Where the text passed as argument ``index`` (or ``keyword=``) of the call at
    ``site`` is written: the literal itself, or the module-level constant a name is
    bound to.  None when it cannot be known (a computed string)."""
    parsed = _parsed(site.path)
    if parsed is None:
        return None
    module, lines = parsed
    call = _call_node(module, site)
    if call is None:
        return None
    arg: ast.expr | None = call.args[index] if index < len(call.args) else None
    for kw in call.keywords:
        if kw.arg == keyword:
            arg = kw.value
    if arg is None:
        return None
    if isinstance(arg, ast.Name):
        bound = [
            stmt.value
            for stmt in module.body
            if isinstance(stmt, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == arg.id for t in stmt.targets)
        ]
        if len(bound) != 1:  # unbound here, or rebound: which text ran is not certain
            return None
        arg = bound[0]
    return _literal_origin(arg, lines)


def place(origin: TextOrigin | None, site: CallSite | None, line: int, column: int) -> tuple[int, int]:
    """The file position of line ``line``, column ``column`` (1-based) of a program."""
    if origin is None:
        return (site.line if site else 0, 0)
    if line == 1:  # on the literal's own line, after its opening quote
        return (origin.line, origin.column + column - 1 if column else 0)
    if not origin.lines_match:  # "a\nb": every program line sits on the literal's line
        return (origin.line, 0)
    return (origin.line + line - 1, column)


def file_line(path: str, line: int) -> str | None:
    """The text of line ``line`` of the user's file, for the caret under an error."""
    parsed = _parsed(path)
    if parsed is None or not 0 < line <= len(parsed[1]):
        return None
    return parsed[1][line - 1]
