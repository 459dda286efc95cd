"""Command-line interface: the only place that prints errors and chooses exit codes.

Exit codes: 0 whatever the verdict (a reachable bad state is an answer, not an
error); 2 for a user error (bad input, bad option); 3 for our own bug.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from stalecheck.cli_litmus import litmus
from stalecheck.errors import StalecheckError, UsageError
from stalecheck.explore.search import Budget, replay
from stalecheck.explore.search import Progress as SearchProgress
from stalecheck.machine.describe import every_line
from stalecheck.machine.system import Machine
from stalecheck.report.verdicts import dumps, html_section, verdict_table, witness_text
from stalecheck.report.witness_dot import witness_dot
from stalecheck.report.witness_html import Section, page
from stalecheck.report.witness_text import witness_lines
from stalecheck.runner import Result, load_scenario, run_variant, select
from stalecheck.scenarios import BUNDLED
from stalecheck.scenarios.builder import Scenario, Variant

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find where Arm CPUs, devices, walkers and VMs can read stale data; prove fixes.",
)
app.command("litmus")(litmus)

# Piped output (make run, CI logs) is not wrapped at 80 columns: witnesses stay one line a step.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

MaxStates = Annotated[
    int | None, typer.Option("--max-states", min=1, help="Stop with 'unknown' after this many states.")
]
Timeout = Annotated[
    float | None, typer.Option("--timeout", min=0.001, help="Stop with 'unknown' after this many seconds.")
]


def _run(scenario: Scenario, variant: Variant, budget: Budget) -> Result:
    """One exhaustive check, with a rich progress bar on a terminal."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn() if budget.max_states else TextColumn(""),
        TextColumn("{task.fields[states]} states"),
        TextColumn("{task.fields[rate]} states/s"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(f"{scenario.name}/{variant.name}", total=budget.max_states, states="0", rate="-")

        def tick(p: SearchProgress) -> None:
            rate = p.states / p.seconds if p.seconds > 0 else 0.0
            bar.update(task, completed=p.states, states=f"{p.states:,}", rate=f"{rate:,.0f}")

        return run_variant(scenario, variant, budget, tick)


@app.command("scenarios")
def scenarios() -> None:
    """List the bundled scenarios and their variants."""
    table = Table(title="bundled scenarios", title_justify="left")
    table.add_column("scenario", style="bold")
    table.add_column("seed")
    table.add_column("variant")
    table.add_column("what it models")
    for name in BUNDLED:
        sc = load_scenario(name)
        for i, v in enumerate(sc.variants.values()):
            table.add_row(name if i == 0 else "", sc.seed if i == 0 else "", v.name, v.summary)
    out.print(table)


@app.command("check")
def check(
    scenario: Annotated[str, typer.Argument(help="A bundled scenario name or a .py scenario file.")],
    variant: Annotated[
        list[str] | None, typer.Option("--variant", "-v", help="Variant(s) to check (default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per variant.")] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML page (witnesses as sequence charts)."),
    ] = None,
    max_states: MaxStates = None,
    timeout: Timeout = None,
) -> None:
    """Explore every interleaving of a scenario's variants; print verdicts and witnesses."""
    sc = load_scenario(scenario)
    budget = Budget(max_states=max_states, timeout=timeout)
    results = []
    for v in select(sc, variant or []):
        r = _run(sc, v, budget)
        results.append(r)
        if as_json:
            _print_json(dumps(r))
        else:
            out.print(witness_text(r))
            out.print()
    if not as_json and len(results) > 1:
        out.print(verdict_table(results, f"{sc.name} (seed {sc.seed})"))
    if html is not None:
        title = f"{sc.name} (seed {sc.seed}): {sc.title}" if sc.seed else sc.name
        _write_html(html, page(title, [html_section(r) for r in results]))


def _print_json(text: str) -> None:
    """JSON goes to stdout as it is: never through rich, which would read markup in it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _write_html(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--html {path}: cannot write the file ({exc.strerror or exc})") from None
    err.print(f"wrote {escape(str(path))}")


@app.command("run-all")
def run_all(max_states: MaxStates = None, timeout: Timeout = None) -> None:
    """The verdict table for every bundled scenario and variant (what `make run` shows)."""
    budget = Budget(max_states=max_states, timeout=timeout)
    for name in BUNDLED:
        sc = load_scenario(name)
        results = [_run(sc, v, budget) for v in sc.variants.values()]
        out.print(verdict_table(results, f"{sc.name} (seed {sc.seed}): {sc.title}"))
        module = sys.modules.get(BUNDLED[name])
        tables = getattr(module, "cost_tables", None)
        if tables is not None:
            for table in tables():
                out.print(table)
        out.print()
    out.print(
        "Verdicts come from exhaustive exploration; 'predicted' is the seed analysis. "
        "`stalecheck check SCENARIO -v VARIANT` prints a witness and the assumptions."
    )


@app.command("explain")
def explain(
    scenario: Annotated[str, typer.Argument(help="Scenario name or .py path.")],
    variant: Annotated[str, typer.Argument(help="Variant name.")],
    token: Annotated[str, typer.Argument(help="Replay token printed with a witness, e.g. 0/3/1.")],
    dot: Annotated[bool, typer.Option("--dot", help="Print the witness as Graphviz DOT.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the witness as a self-contained HTML page.")
    ] = None,
) -> None:
    """Replay a witness from its token, step by step."""
    sc = load_scenario(scenario)
    (v,) = select(sc, [variant])
    try:
        path = tuple(int(part) for part in token.split("/") if part != "")
    except ValueError:
        raise UsageError(f"replay token {token!r} is not a '/'-separated list of step indices") from None
    machine = Machine(v.build())
    try:
        steps = replay(machine, path)
    except ValueError as exc:
        raise UsageError(f"token {token!r} does not replay on {sc.name}/{variant}: {exc}") from None
    if html is not None:
        section = Section(
            heading=f"{sc.name}/{variant}: replay of {token}",
            notes=(v.summary,),
            steps=steps,
            initial=every_line(machine, machine.initial_state()),
        )
        _write_html(html, page(f"{sc.name}/{variant}", [section]))
    if dot:
        out.print(witness_dot(f"{sc.name}/{variant}", steps), end="", markup=False, soft_wrap=True)
        return
    for line in witness_lines(steps):
        out.print(line, markup=False)


@app.command("stress")
def stress_cmd(
    scenario: Annotated[
        str, typer.Argument(help="A scenario that defines a stress sweep (e.g. fcvm-vsock-nv2).")
    ],
    hypothesis: Annotated[
        str | None, typer.Option("--hypothesis", help="Which root-cause model to sweep (default: the first).")
    ] = None,
    fwb: Annotated[bool, typer.Option("--fwb", help="L0 uses FEAT_S2FWB.")] = False,
    sizes: Annotated[
        str | None, typer.Option("--sizes", help="Comma-separated sizes to sweep (default: the seed's).")
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Random schedules per size.")] = 100,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the schedules (results are reproducible).")
    ] = 0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Run on a dask.distributed cluster at this address.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write pass rate against size as PNG or SVG.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Seeded random schedules for configurations too large to explore: failure rate per
    swept size with 95% Wilson intervals (a trend of the model, not hardware rates)."""
    import functools
    import json

    from stalecheck.explore.stress import stress
    from stalecheck.report.stress import render_stress

    sc = load_scenario(scenario)
    module = sys.modules.get(BUNDLED.get(scenario, ""), None)
    model = getattr(module, "stress_model", None)
    known = getattr(module, "STRESS_HYPOTHESES", None)
    swept = getattr(module, "SEED_SIZES", None)
    if model is None or not known or not swept:
        raise UsageError(
            f"scenario {sc.name!r} defines no stress sweep (stress_model, STRESS_HYPOTHESES, SEED_SIZES)"
        )
    chosen = hypothesis or next(iter(known))
    if chosen not in known:
        raise UsageError(f"--hypothesis {chosen!r}: choose one of {', '.join(known)}")
    points = tuple(x.strip() for x in sizes.split(",")) if sizes else tuple(swept)
    bad = [x for x in points if x not in swept]
    if bad:
        raise UsageError(f"--sizes: {', '.join(bad)} not in the sweep ({', '.join(swept)})")
    factory = functools.partial(model, hypothesis=chosen, fwb=fwb)
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot {plot}: the file name must end in .png or .svg")
    executor, client = None, None
    if scheduler is not None:
        try:
            from dask.distributed import Client
        except ImportError:
            raise UsageError(
                "--scheduler needs dask.distributed: pip install 'stalecheck[cluster]'"
            ) from None
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"--scheduler {scheduler}: cannot reach the cluster ({exc})") from None
        executor = client.get_executor()
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
        try:
            result = stress(
                factory,
                points,
                runs=runs,
                seed=seed,
                jobs=jobs,
                executor=executor,
                progress=lambda done, total: bar.update(task, completed=done),
            )
        finally:
            if client is not None:
                client.close()
    if plot is not None:
        from stalecheck.report.stress_plot import write_plot

        write_plot(result, plot, f"{sc.name}: {chosen}{' + FWB' if fwb else ''}")
    if as_json:
        out.print(
            json.dumps({"scenario": sc.name, "hypothesis": chosen, "fwb": fwb, **result.as_dict()}),
            soft_wrap=True,
        )
        return
    title = f"{sc.name}: hypothesis {chosen}{', FWB' if fwb else ''}, {runs} random schedules per size"
    out.print(render_stress(result, title=title), markup=False)


_debug = "--debug" in sys.argv


def main() -> None:
    """Entry point: run the app, render user errors once, exit non-zero on error."""
    if _debug:
        sys.argv.remove("--debug")
    try:
        app(standalone_mode=False)
    except StalecheckError as exc:
        if _debug:
            raise
        err.print(f"[bold red]error:[/] {exc.render()}", markup=True, highlight=False)
        raise SystemExit(2) from None
    except (typer.Exit, SystemExit) as exc:
        raise SystemExit(getattr(exc, "exit_code", getattr(exc, "code", 0))) from None
    except typer.exceptions.Abort:
        raise SystemExit(130) from None
    except typer.exceptions.TyperException as exc:  # bad options: typer's own message
        exc.show()  # type: ignore[attr-defined]
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    except Exception as exc:  # our own bugs
        if _debug:
            raise
        err.print(f"internal error (not your fault, please report): {type(exc).__name__}: {exc}")
        raise SystemExit(3) from None
