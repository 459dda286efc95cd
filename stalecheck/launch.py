"""The ``stalecheck`` console script: a fast start for one litmus file, else the full CLI.

Scripts run ``stalecheck litmus ONE.litmus`` once per test, the way they run
herd7, so start-up time is paid per test.  The full command line (typer,
which builds pydantic adapters for every option, rich, the machine engine)
costs several hundred milliseconds before any work starts.  The most common
call -- ``litmus`` and a single ``.litmus`` file, no options -- needs none of
it: this module checks the file with the engine alone and prints herd's text.
Anything else, and any outcome other than a verdict (an error, an unsupported
test), goes through the full CLI, which reports it as it always does; so the
fast path can only ever print what the full path prints.
"""

from __future__ import annotations

import os
import sys

_VERDICTS = ("allowed", "forbidden", "required")


def _one_litmus_file(argv: list[str]) -> int | None:
    """Exit code of a fast single-file check, or None to let the full CLI run."""
    if len(argv) != 2 or argv[0] != "litmus" or argv[1].startswith("-"):
        return None
    path = argv[1]
    if not path.endswith(".litmus") or not os.path.isfile(path):
        return None
    from stalecheck.litmus_batch import check_path  # the engine only: no typer, no rich

    try:
        outcome = check_path(path, raise_errors=True)
    except Exception:
        return None  # the full CLI redoes it and reports the error in its one way
    if outcome.status not in _VERDICTS:
        return None
    try:
        sys.stdout.write(outcome.herd + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # ``| head``: quiet, as the full CLI is
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def main() -> None:
    """Run the command line in ``sys.argv`` and exit with its code (see ``ExitCode``)."""
    argv = sys.argv[1:]
    try:
        code = _one_litmus_file(argv)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130  # ExitCode.INTERRUPTED, as the full CLI says it
    if code is not None:
        raise SystemExit(code)
    from stalecheck.cli import main as full_main

    full_main()
