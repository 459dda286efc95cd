"""Two ways to run the CLI in tests: the installed console script in a subprocess
(what a user runs: the real exit code, the real stdout and stderr), and the same
entry point in this process (``cli.run``), fast enough for hypothesis."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from stalecheck.cli import run

_SCRIPT = Path(sys.executable).parent / "stalecheck"
# The console script pip installed; ``python -m stalecheck`` runs the same ``main``.
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "stalecheck"]


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def script(*args: str, timeout: float = 120, cwd: Path | None = None) -> Ran:
    """The installed ``stalecheck`` in a subprocess."""
    res = subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
        encoding="utf-8", errors="surrogateescape",
    )
    return Ran(res.returncode, res.stdout, res.stderr)


def in_process(*args: str) -> Ran:
    """``cli.run`` here, with stdout and stderr captured (rich consoles follow
    ``sys.stdout``/``sys.stderr`` when they print)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    return Ran(int(code), out.getvalue(), err.getvalue())


SB = """AArch64 SB
{ 0:X1=x; 0:X3=y; 1:X1=y; 1:X3=x; }
 P0          | P1          ;
 MOV W0,#1   | MOV W0,#1   ;
 STR W0,[X1] | STR W0,[X1] ;
 LDR W2,[X3] | LDR W2,[X3] ;
exists (0:X2=0 /\\ 1:X2=0)
"""


def user_scenario(tmp_path: Path, body: str, name: str = "case.py", header: str = "") -> Path:
    """A user's scenario file with one variant ``v`` whose builder body is ``body``
    (indented four spaces); ``header`` goes at module level before it."""
    src = tmp_path / name
    src.write_text(
        "from stalecheck.scenarios.builder import Builder, Scenario\n"
        + header
        + "SCENARIO = Scenario('case', 'a user case')\n"
        "@SCENARIO.variant('v', expect='reachable')\n"
        "def _(b: Builder) -> None:\n" + body
    )
    return src
