"""``stalecheck stress``: seeded random schedules over a scenario's declared sweep.

Everything comes from the scenario's ``StressSweep`` (sizes, hypotheses, flags,
axis label), so a user's ``.py`` file, a bundled scenario and one from another
package's entry point are swept the same way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from stalecheck.cli_text import explain_interrupt
from stalecheck.errors import ExitCode, UsageError
from stalecheck.explore.stress import stress
from stalecheck.explore.watchdog import Stop, watchdog
from stalecheck.report.stress import render_stress
from stalecheck.runner import SweepModel, load_scenario, source_of, sweep_sizes
from stalecheck.workers import capped_note

out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)

# How long a dask scheduler may take to connect and answer.
SCHEDULER_SECONDS = 10


def _executor(scheduler: str | None) -> tuple[Any, Any]:
    """A dask.distributed executor and its client, or (None, None) for local workers."""
    if scheduler is None:
        return None, None
    try:
        from dask.distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs dask.distributed: pip install 'stalecheck[cluster]'") from None
    try:
        # dask's timeout covers connecting, not a peer that accepts and never answers
        # (an HTTP server): the watchdog bounds the whole handshake.
        with watchdog(timeout=SCHEDULER_SECONDS + 2, interrupt=False):
            client = Client(scheduler, timeout=f"{SCHEDULER_SECONDS}s")  # type: ignore[no-untyped-call]
    except Stop:
        raise UsageError(
            f"--scheduler {scheduler}: cannot reach the cluster (something accepted the "
            f"connection but did not answer as a dask scheduler within {SCHEDULER_SECONDS + 2} s)"
        ) from None
    except Exception as exc:  # not a dask scheduler: OSError, garbage read as a length
        # (MemoryError: "3.07 EiB"), a protocol error: all the user's address, none our bug
        raise UsageError(
            f"--scheduler {scheduler}: cannot reach the cluster ({type(exc).__name__}: {exc})"
        ) from None
    return client.get_executor(), client  # type: ignore[no-untyped-call]


def stress_cmd(
    scenario: Annotated[
        str,
        typer.Argument(help="A scenario (name or .py file) declaring a stress sweep, e.g. fcvm-vsock-nv2."),
    ],
    hypothesis: Annotated[
        str | None, typer.Option("--hypothesis", help="Which of the sweep's hypotheses (default: the first).")
    ] = None,
    flag: Annotated[
        list[str] | None,
        typer.Option("--flag", help="Turn on one of the sweep's flags (repeatable), e.g. --flag fwb."),
    ] = None,
    sizes: Annotated[
        str | None, typer.Option("--sizes", help="Comma-separated sizes to sweep (default: all declared).")
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Random schedules per size.")] = 100,
    max_steps: Annotated[
        int, typer.Option("--max-steps", min=1, help="A run still going after this many steps is incomplete.")
    ] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random schedules (reproducible).")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Run on a dask.distributed cluster at this address.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write pass rate against size as PNG or SVG.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Seeded random schedules for configurations too large to explore: pass rate per
    swept size with 95% Wilson intervals (a trend of the model, not hardware rates);
    runs that deadlock or hit --max-steps are reported as incomplete, never as passes."""
    sc = load_scenario(scenario)
    sweep = sc.stress
    if sweep is None:
        raise UsageError(f"scenario {sc.name!r} defines no stress sweep (see Scenario.stress_sweep)")
    flags = tuple(dict.fromkeys(flag or ()))
    points = sweep_sizes(sweep, [x.strip() for x in sizes.split(",")] if sizes else None)
    chosen = sweep.check(hypothesis, flags, points)
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot {plot}: the file name must end in .png or .svg")
    if plot is not None and not plot.resolve().parent.is_dir():  # before the runs, not after
        raise UsageError(f"--plot {plot}: the folder {plot.parent} does not exist")
    note = capped_note(jobs) if scheduler is None else None
    if note:
        err.print(note, markup=False)
    factory = SweepModel(source_of(scenario), chosen, flags)
    for size in points:  # build each size here first: a user's mistake is placed, not lost in a worker
        factory(size)
    executor, client = _executor(scheduler)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]stress"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} runs"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("stress", total=len(points) * runs)
        finished = [0]

        def advance(done: int, _total: int) -> None:
            finished[0] = done
            bar.update(task, completed=done)

        try:
            result = stress(
                factory,
                points,
                runs=runs,
                seed=seed,
                max_steps=max_steps,
                jobs=jobs,
                executor=executor,
                progress=advance,
            )
        except KeyboardInterrupt:  # the workers are stopped; a partial sweep would bias the curve
            explain_interrupt(
                err, f"{finished[0]} of {len(points) * runs} runs done; no rates printed for a partial sweep"
            )
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        finally:
            if client is not None:
                client.close()
    what = ", ".join(filter(None, (f"hypothesis {chosen}" if chosen else "", *(f"+{f}" for f in flags))))
    if plot is not None:
        from stalecheck.report.stress_plot import write_plot

        try:
            write_plot(result, plot, f"{sc.name}: {what}" if what else sc.name, sweep.label)
        except OSError as exc:
            raise UsageError(f"--plot {plot}: cannot write it ({exc.strerror})") from None
    if as_json:
        document = {"scenario": sc.name, "hypothesis": chosen, "flags": list(flags), **result.as_dict()}
        sys.stdout.write(json.dumps(document) + "\n")
        sys.stdout.flush()
        return
    title = f"{sc.name}: {what + ', ' if what else ''}{runs} random schedules per size"
    out.print(render_stress(result, title=title), markup=False, emoji=False)
