"""Command-line interface: the only place that prints errors and chooses exit codes.

Exit codes (``errors.ExitCode``): 0 whatever the verdict (a reachable bad state is an
answer, not an error); 1 when a batch ran but some of its inputs had errors or
timed out; 2 for a user error (bad input, bad option); 3 for our own bug; 130
when interrupted.  User text printed through rich is never read as markup, and JSON goes to
stdout with ``json.dumps``, never through a console that reads markup.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from stalecheck import __version__
from stalecheck.cli_litmus import litmus
from stalecheck.cli_options import MaxMemory, Timeout
from stalecheck.cli_stress import _executor, stress_cmd
from stalecheck.cli_text import explain_interrupt, interrupt_explained, labelled
from stalecheck.compiled import build_name
from stalecheck.errors import ExitCode, StalecheckError, UsageError
from stalecheck.explore.reduced import PLAIN, Order, SearchMode
from stalecheck.explore.search import Budget, Store, replay
from stalecheck.explore.search import Progress as SearchProgress
from stalecheck.explore.verdict import StopReason
from stalecheck.machine.describe import every_line
from stalecheck.machine.system import Machine
from stalecheck.report.verdicts import dumps, html_section, verdict_table, witness_text
from stalecheck.report.witness_dot import witness_dot
from stalecheck.report.witness_html import Section, page
from stalecheck.report.witness_text import witness_lines
from stalecheck.runner import Parallel, Result, load_scenario, run_variant, select, source_of, table_rows
from stalecheck.scenarios import registry
from stalecheck.scenarios.builder import Scenario, Variant
from stalecheck.variant_pool import check_many
from stalecheck.workers import available_cpus, capped_note

EXIT_CODES = (
    "Exit codes: 0 success, whatever the verdicts; 1 a batch had errors or timeouts; "
    "2 user error (bad input or option, with its position); 3 internal error (our bug); "
    "130 interrupted."
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find where Arm CPUs, devices, walkers and VMs can read stale data; prove fixes.",
    epilog=EXIT_CODES,
    rich_markup_mode=None,
)
app.command("litmus", epilog=EXIT_CODES)(litmus)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"stalecheck {__version__} ({build_name()})")  # pure or `make compiled`
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Find where Arm CPUs, devices, walkers and VMs can read stale data; prove fixes."""

# Piped output (make run, CI logs) is not wrapped at 80 columns: witnesses stay one line a step.
# No emoji codes anywhere: ":warning:" in a user's string must print as typed.
out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)

# How long a dask scheduler may take to connect and answer.
SCHEDULER_SECONDS = 10

MaxStates = Annotated[
    int | None, typer.Option("--max-states", min=1, help="Stop with 'unknown' after this many states.")
]
StoreOption = Annotated[
    Store,
    typer.Option(
        "--store",
        help="Visited states: 'exact' (no collision possible), 'digest' (64-bit digests in a "
        "set, half the memory, slower, a stated collision bound) or 'compact' (the same digests "
        "in a sorted array: 13 bytes a state, the same stated bound).",
    ),
]

PorOption = Annotated[
    bool,
    typer.Option(
        "--por/--no-por",
        help="Partial-order reduction: explore one order of steps that commute (stubborn sets over "
        "threads, buffers and cache lines). Verdicts are the same; the witness may not be the shortest.",
    ),
]
SymmetryOption = Annotated[
    bool,
    typer.Option(
        "--symmetry/--no-symmetry",
        help="Symmetry reduction: one state per orbit of interchangeable threads, PEs and lines "
        "(declared with Builder.interchangeable, or threads with identical programs on PEs placed "
        "alike). Verdicts are the same; the witness is a real run.",
    ),
]
OrderOption = Annotated[
    Order,
    typer.Option(
        "--order",
        help="'bfs' (shortest witness), 'dfs' (memory for the path instead of a whole level) or "
        "'bitstate' (depth-first over a bit array: never 'unreachable', only 'unknown').",
    ),
]
ShortestOption = Annotated[
    bool,
    typer.Option(
        "--shortest",
        help="When a reduced or depth-first search finds a witness, search again breadth-first "
        "without reduction for the shortest one.",
    ),
]
BitstateOption = Annotated[
    int,
    typer.Option("--bitstate-bits", min=10, max=36, help="log2 of the bitstate array's size in bits."),
]


def _print_json(document: str) -> None:
    """A JSON document straight to stdout: a console would read ``[x]`` as markup
    and ``:warning:`` as an emoji inside the user's strings."""
    sys.stdout.write(document + "\n")
    sys.stdout.flush()


def _interrupted(r: Result) -> bool:
    return r.verdict.reason == StopReason.INTERRUPTED


def _exit_if_interrupted(results: list[Result], planned: int) -> None:
    """After Ctrl-C: the results so far are printed; say what was not done, exit 130."""
    if results and _interrupted(results[-1]):
        last = results[-1]
        v = last.verdict
        plain = v.order == "bfs" and not v.reduction.startswith("partial-order")  # only then is depth a bound
        covered = f"nothing bad within {v.depth} steps" if plain else "nothing bad in those states"
        explain_interrupt(
            err,
            f"{last.scenario}/{last.variant} stopped after {v.states:,} states "
            f"({covered}); {planned - len(results)} of {planned} variants not started",
        )
        raise typer.Exit(ExitCode.INTERRUPTED)


def _run(
    scenario: Scenario,
    variant: Variant,
    budget: Budget,
    store: Store = Store.EXACT,
    mode: SearchMode = PLAIN,
    parallel: Parallel | None = None,
) -> Result:
    """One exhaustive check, with a rich progress bar on a terminal."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", style="bold", markup=False),  # a user's names
        BarColumn() if budget.max_states else TextColumn(""),
        TextColumn("{task.fields[states]} states"),
        TextColumn("{task.fields[rate]} states/s"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(
            f"{scenario.name}/{variant.name}", total=budget.max_states, states="0", rate="-"
        )

        def tick(p: SearchProgress) -> None:
            rate = p.states / p.seconds if p.seconds > 0 else 0.0
            bar.update(task, completed=p.states, states=f"{p.states:,}", rate=f"{rate:,.0f}")

        return run_variant(scenario, variant, budget, tick, store, mode, parallel)


@app.command("scenarios", epilog=EXIT_CODES)
def scenarios(
    only: Annotated[
        list[str] | None,
        typer.Argument(help="Registered names or .py files to list (default: every registered scenario)."),
    ] = None,
) -> None:
    """List scenarios: bundled ones, those other installed packages register (entry
    points in the group stalecheck.scenarios), or the given files."""
    registered = registry.registered()
    table = Table(title="scenarios", title_justify="left")
    table.add_column("scenario", style="bold")
    table.add_column("from")
    table.add_column("seed")
    table.add_column("variant")
    table.add_column("what it models")
    for name in only or registry.names():
        regs = registered.get(name, [])
        origin = ", ".join("bundled" if r.bundled else r.dist for r in regs) or "file"
        try:
            sc = load_scenario(name)
        except StalecheckError as exc:
            if any(r.bundled for r in regs) or not regs:
                raise
            table.add_row(*(Text(c) for c in (name, origin, "", "", f"cannot be loaded: {exc.render()}")))
            continue
        extras = _extras(sc)
        rows = [(v.name, v.summary) for v in sc.variants.values()] + ([("", extras)] if extras else [])
        for i, (variant, summary) in enumerate(rows):
            head = (sc.name, origin, sc.seed) if i == 0 else ("", "", "")
            cells = (*head, variant, summary)
            table.add_row(*(Text(c) for c in cells))  # Text: never read as markup
    out.print(table)


def _extras(sc: Scenario) -> str:
    """What besides variants a scenario declares (its stress sweep, its tables)."""
    parts = []
    if sc.stress is not None:
        sweep = sc.stress
        parts.append(
            f"stress sweep over {sweep.label}: {', '.join(map(str, sweep.sizes))}"
            + (f"; hypotheses {', '.join(sweep.hypotheses)}" if sweep.hypotheses else "")
            + (f"; flags {', '.join(sweep.flags)}" if sweep.flags else "")
        )
    parts.extend(f"table: {t.title}" for t in sc.tables)
    return "\n".join(parts)


@app.command("check", epilog=EXIT_CODES)
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
    max_memory: MaxMemory = None,
    store: StoreOption = Store.EXACT,
    por: PorOption = False,
    symmetry: SymmetryOption = False,
    order: OrderOption = Order.BFS,
    shortest: ShortestOption = False,
    bitstate_bits: BitstateOption = 30,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Explore each variant on this many worker processes (one search, states "
            "partitioned between them: the same verdict, counts and witness).",
        ),
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Run the -j workers on the dask.distributed cluster there."),
    ] = None,
) -> None:
    """Explore every interleaving of a scenario's variants; print verdicts and witnesses."""
    sc = load_scenario(scenario)
    budget = Budget(max_states=max_states, timeout=timeout, max_memory=max_memory)
    mode = _mode(por, order, shortest, bitstate_bits, store, symmetry)
    chosen = select(sc, variant or [])
    _, client = _executor(scheduler)
    if client is None and jobs > available_cpus():
        err.print(capped_note(jobs))
        jobs = available_cpus()
    parallel = Parallel(jobs, client, scenario)
    results = []
    for v in chosen:
        r = _run(sc, v, budget, store, mode, parallel)
        results.append(r)
        if as_json:
            _print_json(dumps(r))
        else:
            out.print(witness_text(r), soft_wrap=not out.is_terminal)  # piped: never wrap
            out.print()
        if _interrupted(r):
            break
    if not as_json and len(results) > 1:
        out.print(verdict_table(results, f"{sc.name} (seed {sc.seed})" if sc.seed else sc.name))
    if html is not None:
        title = f"{sc.name} (seed {sc.seed}): {sc.title}" if sc.seed else sc.name
        _write_html(html, page(title, [html_section(r) for r in results]))
    _exit_if_interrupted(results, len(chosen))


def _mode(
    por: bool, order: Order, shortest: bool, bitstate_bits: int, store: Store, symmetry: bool = False
) -> SearchMode:
    """The search mode from the options (explore/reduced.py), refusing combinations
    that cannot run."""
    mode = SearchMode(
        order=order, por=por, bitstate_log2=bitstate_bits, shortest=shortest, symmetry=symmetry
    )
    if store == Store.COMPACT and mode != PLAIN:
        raise UsageError(
            "--store compact works only with the plain breadth-first search "
            "(no --por, --symmetry, --order bfs)"
        )
    return mode


def _write_html(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--html {path}: cannot write the file ({exc.strerror or exc})") from None
    err.print(f"wrote {escape(str(path))}")


@app.command("run-all", epilog=EXIT_CODES)
def run_all(
    only: Annotated[
        list[str] | None,
        typer.Argument(help="Registered names or .py files (default: every registered scenario)."),
    ] = None,
    max_states: MaxStates = None,
    timeout: Timeout = None,
    max_memory: MaxMemory = None,
    store: StoreOption = Store.EXACT,
    por: PorOption = False,
    symmetry: SymmetryOption = False,
    order: OrderOption = Order.BFS,
    shortest: ShortestOption = False,
    bitstate_bits: BitstateOption = 30,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Check this many variants at once, each in its own worker process (every "
            "search stays on one core: the same verdicts, counts and witnesses).",
        ),
    ] = 1,
) -> None:
    """The verdict table of every variant, and each scenario's extra tables (what
    `make run` shows for the bundled scenarios)."""
    budget = Budget(max_states=max_states, timeout=timeout, max_memory=max_memory)
    mode = _mode(por, order, shortest, bitstate_bits, store, symmetry)
    scenarios = [(name, load_scenario(name)) for name in only or registry.names()]
    pooled: Iterator[Result] | None = None
    if jobs > 1:
        if jobs > available_cpus():
            err.print(capped_note(jobs))
        tasks = [(source_of(name), v.name) for name, sc in scenarios for v in select(sc, [])]
        pooled = check_many(tasks, jobs, budget, store, mode)
    for _, sc in scenarios:
        results = []
        for v in select(sc, []):
            results.append(_run(sc, v, budget, store, mode) if pooled is None else next(pooled))
            if _interrupted(results[-1]):
                break
        named = f"{sc.name} (seed {sc.seed})" if sc.seed else sc.name
        out.print(verdict_table(results, f"{named}: {sc.title}"))
        _exit_if_interrupted(results, len(sc.variants))
        for title, rows in table_rows(sc):
            out.print(Text(title))  # above the table, not wrapped to its width
            out.print(_table(rows))
        out.print()
    out.print(
        "Verdicts come from exhaustive exploration; 'predicted' is the seed analysis. "
        "`stalecheck check SCENARIO -v VARIANT` prints a witness and the assumptions."
    )


def _table(rows: list[dict[str, Any]]) -> Table:
    """A scenario's extra table: the first row's keys name the columns."""
    table = Table()
    for key in rows[0] if rows else ():
        table.add_column(Text(str(key)), justify="right")
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row.values()))
    return table


@app.command("explain", epilog=EXIT_CODES)
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
    parts = [part for part in token.split("/") if part != ""]
    # Digits only: int() would take "-1" (Python counts it from the end, inventing a
    # witness), "+1", " 1" and "1_0".
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise UsageError(
            f"replay token {token!r} is not a '/'-separated list of step indices (0, 1, 2, ...)"
        )
    path = tuple(int(part) for part in parts)
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
        out.print(line, markup=False, emoji=False)


app.command("stress", epilog=EXIT_CODES)(stress_cmd)


def _internal_error(exc: BaseException) -> None:
    err.print(
        labelled(
            "internal error", "bold red",
            f"(not your fault, please report; --debug shows the traceback) {type(exc).__name__}: {exc}",
        )
    )


def _with_source_line(exc: StalecheckError) -> StalecheckError:
    """Add the user's line under an error placed at a column, for the caret, when
    the code that raised it had no text at hand (a check of a scenario's program)."""
    pos = exc.position
    if exc.source_line is None and pos is not None and pos.line > 0 and pos.column > 0:
        try:
            with open(pos.path, encoding="utf-8") as fh:
                for number, text in enumerate(fh, 1):
                    if number == pos.line:
                        exc.source_line = text.rstrip("\n")
                        break
        except (OSError, UnicodeDecodeError):
            pass
    return exc


def run(argv: list[str]) -> int:
    """Run one command line and return its exit code (see ``ExitCode``); never raises.

    Typer runs without its standalone mode, so every outcome comes back here and
    is mapped in one place: a command's ``typer.Exit(code)`` is *returned* by
    click in that mode (ignoring it made failed batches exit 0), a user error is
    rendered once with its position, anything else is our bug.
    """
    interrupt_explained(reset=True)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        rv = app(args=argv, prog_name="stalecheck", standalone_mode=False)
    except StalecheckError as exc:
        if debug:
            raise
        err.print(labelled("error", "bold red", _with_source_line(exc).render()))
        return ExitCode.USER_ERROR
    except typer.Abort:  # EOF at a prompt, or Ctrl-C outside a command
        err.print("interrupted")
        return ExitCode.INTERRUPTED
    except typer.exceptions.TyperException as exc:  # bad options: typer's (click's) own message
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(labelled("error", "bold red", exc.format_message()))
        return ExitCode.USER_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return ExitCode.INTERRUPTED
    except SystemExit as exc:  # e.g. a closed pipe (typer exits 1 quietly)
        code = exc.code
        return code if isinstance(code, int) else (ExitCode.OK if code is None else ExitCode.INTERNAL)
    except Exception as exc:
        if debug:
            raise
        _internal_error(exc)
        return ExitCode.INTERNAL
    if rv == ExitCode.INTERRUPTED and not interrupt_explained():  # typer: KeyboardInterrupt -> 130
        err.print("interrupted")
    return rv if isinstance(rv, int) else ExitCode.OK


def main() -> None:
    """The console script ``stalecheck``: exits with the code ``run`` chose."""
    raise SystemExit(run(sys.argv[1:]))
