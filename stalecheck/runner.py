"""Glue between scenarios, the machine engine and the search: one variant in, one
``Result`` out.  No printing here; ``report/`` renders results."""

from __future__ import annotations

import functools
import importlib.util
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stalecheck.errors import InputError, Position, ScenarioError, StalecheckError, UsageError
from stalecheck.explore.parallel import check_parallel
from stalecheck.explore.reduced import PLAIN, SearchMode
from stalecheck.explore.search import Budget, ProgressFn, Store, check, replay
from stalecheck.explore.verdict import Outcome, StopReason, Verdict
from stalecheck.explore.watchdog import Stop, watchdog
from stalecheck.machine import symmetry
from stalecheck.machine.assumptions import assumptions
from stalecheck.machine.cost import measure_cost
from stalecheck.machine.describe import every_line
from stalecheck.machine.por import PartialOrder
from stalecheck.machine.schedule import RareHardware
from stalecheck.machine.spec import SystemSpec
from stalecheck.machine.step_record import LineCopies, StepRecord
from stalecheck.machine.system import Machine
from stalecheck.scenarios import registry
from stalecheck.scenarios.builder import Scenario, StressSweep, Variant


@dataclass(frozen=True)
class Result:
    scenario: str
    variant: str
    summary: str
    expect: str
    verdict: Verdict
    cost: dict[str, int]
    assumptions: tuple[str, ...]
    bad: str
    # Every copy of every line in the initial state: with each witness step's
    # ``after`` copies, the copies of every line after every step (report/witness_html).
    initial_copies: tuple[LineCopies, ...] = ()

    @property
    def steps(self) -> tuple[StepRecord, ...]:
        """The witness, one record per step (empty unless reachable)."""
        return self.verdict.steps

    @property
    def outcome(self) -> str:
        return self.verdict.outcome.value


_PACKAGE = Path(__file__).resolve().parent


def _user_code_error(exc: BaseException, path: str) -> InputError:
    """An exception raised by a user's scenario code, placed at the deepest line of
    that file in the traceback: the user's mistake, reported like any bad input."""
    line = 0
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == Path(path).resolve():
            line = tb.tb_lineno
        tb = tb.tb_next
    return InputError(f"the scenario raised {type(exc).__name__}: {exc}", Position(path, line))


def load_scenario(name_or_path: str) -> Scenario:
    """A registered scenario by name (bundled or from an installed package's entry
    point), or a user's Python file defining ``SCENARIO``."""
    try:
        return registry.load(name_or_path)
    except KeyError:
        pass
    path = Path(name_or_path)
    if path.suffix == ".py" and path.exists() and not path.is_file():  # a FIFO would block
        raise UsageError(f"{path} is not a regular file")
    if path.suffix != ".py" or not path.exists():
        known = ", ".join(registry.names())
        raise UsageError(
            f"no registered scenario {name_or_path!r} and no such .py file (registered: {known})"
        )
    return _load_file(path)


def _load_file(path: Path) -> Scenario:
    name = f"stalecheck_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except StalecheckError as exc:
        if exc.position is not None:
            raise
        placed = _user_code_error(exc, str(path)).position  # e.g. a bad @SCENARIO.variant(...)
        raise type(exc)(exc.message, placed) from None
    except SyntaxError as err:
        raise InputError(
            f"Python syntax error: {err.msg}", Position(str(path), err.lineno or 0, err.offset or 0), err.text
        ) from None
    except Exception as exc:
        raise _user_code_error(exc, str(path)) from None
    scenario = getattr(module, "SCENARIO", None)
    if not isinstance(scenario, Scenario):
        raise ScenarioError(f"{path} defines no SCENARIO = Scenario(...)")
    return scenario


def source_of(name_or_path: str) -> str:
    """How another process finds the same scenario: its registered name, or the
    file's absolute path (worker processes may run in another directory)."""
    if name_or_path in registry.registered():
        return name_or_path
    return str(Path(name_or_path).resolve())


def select(scenario: Scenario, names: Iterable[str]) -> list[Variant]:
    names = list(names)
    if not scenario.variants:
        raise ScenarioError(
            f"scenario {scenario.name!r} declares no variants (decorate a build function with "
            "@SCENARIO.variant(...))"
        )
    if not names:
        return list(scenario.variants.values())
    out = []
    for name in names:
        if name not in scenario.variants:
            known = ", ".join(scenario.variants)
            raise UsageError(f"scenario {scenario.name!r} has no variant {name!r} (variants: {known})")
        out.append(scenario.variants[name])
    return out


_WATCHDOG_STOPS = (StopReason.TIMEOUT, StopReason.MAX_MEMORY, StopReason.INTERRUPTED)


@dataclass(frozen=True)
class VariantMachine:
    """Builds one variant's ``Machine`` wherever it is called: what a worker of a
    search on a dask cluster receives (a machine itself holds unpicklable functions)."""

    source: str  # a bundled scenario name or a .py file
    variant: str

    def __call__(self) -> Machine:
        return Machine(load_scenario(self.source).variants[self.variant].build())


@dataclass(frozen=True)
class Parallel:
    """How a search is spread: ``jobs`` worker processes, on the dask cluster of
    ``client`` if given (``explore.parallel``); ``source`` names the scenario for them."""

    jobs: int = 1
    client: Any = None
    source: str = ""


def run_variant(
    scenario: Scenario,
    variant: Variant,
    budget: Budget = Budget(),
    progress: ProgressFn | None = None,
    store: Store = Store.EXACT,
    mode: SearchMode = PLAIN,
    parallel: Parallel | None = None,
) -> Result:
    """Build and explore one variant within ``budget``.  The watchdog bounds the
    building too (a 30,000-PE system takes long to build), and turns Ctrl-C into
    ``unknown`` with what was covered."""
    spec: SystemSpec | None = None
    machine: Machine | None = None
    verdict: Verdict | None = None
    cost: dict[str, int] = {}
    start = time.monotonic()
    with watchdog(budget.timeout, budget.max_memory):
        try:
            spec, machine = _build(variant)
            verdict = _explore(variant, machine, budget, progress, store, mode, parallel)
            if verdict.reason not in _WATCHDOG_STOPS:  # else the budget is spent: no more work
                cost = measure_cost(machine)
        except Stop as stop:  # while building or costing (the search catches its own)
            if verdict is None:
                verdict = Verdict(Outcome.UNKNOWN, stop.reason, 0, 0, 0, time.monotonic() - start)
    if verdict.outcome == Outcome.UNREACHABLE and not verdict.sane:
        raise ScenarioError(
            f"{scenario.name}/{variant.name}: no run reaches the end of every program, so "
            "'unreachable' would prove nothing (a WAIT never signalled, or a policy that never maps?)"
        )
    return Result(
        scenario=scenario.name,
        variant=variant.name,
        summary=variant.summary,
        expect=variant.expect,
        verdict=verdict,
        cost=cost,
        assumptions=(
            (*assumptions(machine), verdict.visited_assumption, *verdict.search_assumptions)
            if machine is not None
            else ()
        ),
        bad=spec.bad_text if spec is not None else "",
        initial_copies=every_line(machine, machine.initial_state()) if machine and verdict.steps else (),
    )


def _user_call(fn: Any, owner: Any, *args: Any) -> Any:
    """``fn(*args)`` where ``owner`` is the scenario's function doing the work: an
    exception from a user's file is an input error at its line, one from our own
    package is our bug."""
    try:
        return fn(*args)
    except StalecheckError as exc:
        source = owner.__code__.co_filename
        if exc.position is not None or Path(source).resolve().is_relative_to(_PACKAGE):
            raise
        # Raised by our code on the user's behalf (``v.reg('cpu', 'r9')`` in a bad_when):
        # placed at the user's line that made the call.
        placed = _user_code_error(exc, source).position
        if placed is None or not placed.line:  # found after the user's code returned: its def line
            placed = Position(source, owner.__code__.co_firstlineno)
        raise type(exc)(exc.message, placed) from None
    except Exception as exc:
        source = owner.__code__.co_filename
        if Path(source).resolve().is_relative_to(_PACKAGE):
            raise
        raise _user_code_error(exc, source) from None


_SWEEPS: dict[str, StressSweep] = {}  # per process: a worker loads each scenario once


@dataclass(frozen=True)
class SweepModel:
    """Builds the model of one swept size in any process (``stress``'s factory).

    Picklable because it names the scenario (``source_of``) instead of holding its
    functions, so worker processes and dask workers load a user's file or a
    registered scenario the same way.  Spontaneous cache steps get the sweep's
    ``hardware`` weight (``RareHardware``)."""

    source: str
    hypothesis: str | None = None
    flags: tuple[str, ...] = ()

    def sweep(self) -> StressSweep:
        if self.source not in _SWEEPS:
            scenario = load_scenario(self.source)
            if scenario.stress is None:
                raise UsageError(
                    f"scenario {scenario.name!r} defines no stress sweep (see Scenario.stress_sweep)"
                )
            _SWEEPS[self.source] = scenario.stress
        return _SWEEPS[self.source]

    def __call__(self, size: Any) -> Machine:
        sweep = self.sweep()
        sweep.check(self.hypothesis, self.flags, [size])
        spec = _user_call(sweep.build, sweep.build_fn, size, self.hypothesis, self.flags)
        model = RareHardware(spec)
        model.hardware = sweep.hardware
        return model


def sweep_sizes(sweep: StressSweep, tokens: Sequence[str] | None) -> tuple[Any, ...]:
    """The swept values named on the command line (as they print), or all of them."""
    if not tokens:
        return sweep.sizes
    by_text = {str(size): size for size in sweep.sizes}
    missing = [t for t in tokens if t not in by_text]
    if missing:
        raise UsageError(f"--sizes: {', '.join(missing)} not in the sweep ({', '.join(by_text)})")
    return tuple(by_text[t] for t in tokens)


def table_rows(scenario: Scenario) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each extra table's title and rows, computed now (user errors placed)."""
    return [(table.title, _user_call(table.rows, table.rows)) for table in scenario.tables]


def _build(variant: Variant) -> tuple[SystemSpec, Machine]:
    spec = _user_call(variant.build, variant.build_fn)
    return spec, _user_call(Machine, variant.build_fn, spec)


def _explore(
    variant: Variant,
    machine: Machine,
    budget: Budget,
    progress: ProgressFn | None,
    store: Store,
    mode: SearchMode = PLAIN,
    parallel: Parallel | None = None,
) -> Verdict:
    """The search; an exception raised by the user's own code on the way (a
    ``bad_when`` predicate, a policy) is the user's error, placed at its line.
    With ``mode.shortest``, a witness found with reduction or depth-first is
    searched again breadth-first without reduction: that search stops at the
    shortest witness, no deeper than the one found.  With ``parallel`` (``-j``),
    one plain breadth-first search runs on several workers (``explore.parallel``)."""
    if parallel is not None and (parallel.jobs > 1 or parallel.client is not None):
        if store != Store.EXACT or mode != PLAIN:
            raise UsageError(
                f"-j {parallel.jobs}: a parallel search is breadth-first and unreduced, with the "
                "states stored exactly (--store exact, without --por, --order or --bitstate-bits)"
            )
        factory = VariantMachine(parallel.source, variant.name) if parallel.client is not None else None
        split = functools.partial(
            check_parallel,
            jobs=parallel.jobs,
            max_states=budget.max_states,
            timeout=budget.timeout,
            sanity="is_complete",
            replay=replay,
            client=parallel.client,
            factory=factory,
        )
        found: Verdict = _user_call(split, variant.build_fn, machine)
        return found
    search = functools.partial(
        check,
        sanity=machine.is_complete,
        store=store,
        mode=mode,
        reducer=lambda seen: PartialOrder(machine, seen),
        symmetry=lambda: symmetry.find(machine),
    )
    verdict: Verdict = _user_call(search, variant.build_fn, machine, budget, progress)
    if mode.shortest and verdict.outcome == Outcome.REACHABLE and not verdict.shortest:
        plain = functools.partial(check, sanity=machine.is_complete, store=store)
        verdict = _user_call(plain, variant.build_fn, machine, budget, progress)
    return verdict
