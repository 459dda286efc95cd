"""The ``stalecheck litmus`` command: herd7-compatible checking of AArch64 litmus tests.

One file is checked in this process and a user error in it is raised (the
CLI renders it with its caret).  Several files form a batch: bad files are
reported on stderr and counted, a rich progress bar runs on stderr, and a
summary line ends the run, so stdout carries only herd-format text (or one
JSON document with ``--json``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stalecheck.cli_options import LitmusTimeout
from stalecheck.cli_text import explain_interrupt, labelled
from stalecheck.errors import ExitCode, UsageError
from stalecheck.litmus.discovery import discover
from stalecheck.litmus_batch import Outcome, check_path, run_batch, summary_counts
from stalecheck.workers import capped_note


def _emit(outcome: Outcome, as_json: bool, dot: bool, err: Console) -> None:
    if outcome.status in ("unsupported", "error", "timeout"):
        err.print(labelled(outcome.status, "yellow", outcome.message))
        return
    if as_json:
        return
    typer.echo(outcome.herd, nl=False)
    if dot:
        typer.echo(outcome.witness, nl=False)
        typer.echo(outcome.dot, nl=False)
    typer.echo("")


def _cat_model(cat: Path | None) -> str | None:
    """Parse ``--cat FILE`` (and its includes) up front, so a bad model stops the run once."""
    if cat is None:
        return None
    from stalecheck.cat.program import load_model

    load_model(cat)
    return str(cat)


def litmus(
    paths: Annotated[list[Path], typer.Argument(help="Litmus files, folders or index files.")],
    jobs: Annotated[int, typer.Option("-j", "--jobs", help="Worker processes.")] = 1,
    timeout: LitmusTimeout = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    dot: Annotated[
        bool, typer.Option("--dot", help="Also print a witness execution (text and DOT).")
    ] = False,
    variant: Annotated[
        list[str] | None,
        typer.Option("--variant", help="herd -variant tags (comma-separated), as herd7's."),
    ] = None,
    cat: Annotated[
        Path | None,
        typer.Option("--cat", metavar="FILE",
                     help="Judge with this cat model (herd's language) instead of the built-in one."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="axiomatic (the Arm model, as herd7) or machine (one PE per thread over "
            "coherent caches, out-of-order; herd's execution counts, from the exploration).",
        ),
    ] = "axiomatic",
) -> None:
    """Check herd7 AArch64 litmus tests against the Arm model (herd-compatible output)."""
    if jobs < 1:
        raise UsageError(f"-j must be at least 1, got -j {jobs}")
    if engine not in ("axiomatic", "machine"):
        raise UsageError(f"--engine must be axiomatic or machine, got {engine!r}")
    if engine == "machine" and (variant or dot or cat):
        raise UsageError("--engine machine takes no --variant or --cat and draws no --dot witness")
    variants = tuple(variant or ())
    files = discover(paths)
    cat_path = _cat_model(cat)
    # Never hard-wrap file:line:col; never turn ":name:" in a user's line into an emoji.
    err = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)
    note = capped_note(jobs) if len(files) > 1 else None
    if note:
        err.print(note, markup=False)
    start = time.perf_counter()
    done: dict[str, Outcome] = {}
    if len(files) == 1 and files[0] == paths[0] and paths[0].is_file():
        # A single file: its user errors propagate so the CLI shows them with a caret.
        outcomes = [
            check_path(str(files[0]), timeout, dot, raise_errors=True, variants=variants,
                       cat=cat_path, engine=engine)
        ]
        _emit(outcomes[0], as_json, dot, err)
    else:
        with Progress(
            TextColumn("[bold]litmus"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True, disable=not err.is_terminal,
        ) as progress:
            task = progress.add_task("litmus", total=len(files))

            def finished(o: Outcome) -> None:
                done[o.path] = o
                progress.advance(task)

            try:
                outcomes = run_batch(files, jobs, timeout, dot, on_done=finished, variants=variants,
                                     cat=cat_path, engine=engine)
            except KeyboardInterrupt:  # the workers are stopped; report what was checked
                outcomes = [done[str(f)] for f in files if str(f) in done]
        for o in outcomes:
            _emit(o, as_json, dot, err)
    elapsed = time.perf_counter() - start
    interrupted = len(outcomes) < len(files)
    counts = summary_counts(outcomes)
    if as_json:
        doc: dict[str, Any] = {
            "tests": [o.json | {"status": o.status} if o.json else
                      {"path": o.path, "status": o.status, "message": o.message}
                      for o in outcomes],
            "summary": counts | {"total": len(outcomes), "seconds": round(elapsed, 3)},
        }
        if interrupted:
            doc["summary"] |= {"interrupted": True, "not_checked": len(files) - len(outcomes)}
        typer.echo(json.dumps(doc, indent=2))
    if len(outcomes) > 1 or interrupted:
        err.print(
            f"{len(outcomes)} tests: {counts['allowed']} allowed, {counts['forbidden']} forbidden, "
            f"{counts['required']} required, {counts['unsupported']} unsupported, "
            f"{counts['error']} errors, {counts['timeout']} timeouts in {elapsed:.2f} s",
            highlight=False,
        )
    sys.stdout.flush()
    if interrupted:
        explain_interrupt(err, f"{len(files) - len(outcomes)} of {len(files)} tests not checked")
        raise typer.Exit(ExitCode.INTERRUPTED)
    if any(o.internal for o in outcomes):
        raise typer.Exit(ExitCode.INTERNAL)
    if counts["error"] or counts["timeout"]:
        raise typer.Exit(ExitCode.BATCH_FAILED)
