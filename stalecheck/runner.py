"""Glue between scenarios, the machine engine and the search: one variant in, one
``Result`` out.  No printing here; ``report/`` renders results."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stalecheck.errors import InputError, Position, ScenarioError, StalecheckError, UsageError
from stalecheck.explore.search import Budget, ProgressFn, Store, check
from stalecheck.explore.verdict import Outcome, Verdict
from stalecheck.machine.assumptions import assumptions
from stalecheck.machine.cost import measure_cost
from stalecheck.machine.describe import every_line
from stalecheck.machine.step_record import LineCopies, StepRecord
from stalecheck.machine.system import Machine
from stalecheck.scenarios import BUNDLED
from stalecheck.scenarios.builder import Scenario, Variant


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
    """A bundled scenario by name, or a user's Python file defining ``SCENARIO``."""
    if name_or_path in BUNDLED:
        module = importlib.import_module(BUNDLED[name_or_path])
        return module.SCENARIO  # type: ignore[no-any-return]
    path = Path(name_or_path)
    if path.suffix != ".py" or not path.exists():
        known = ", ".join(sorted(BUNDLED))
        raise UsageError(f"no bundled scenario {name_or_path!r} and no such .py file (bundled: {known})")
    spec = importlib.util.spec_from_file_location(f"stalecheck_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except StalecheckError:
        raise
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


def select(scenario: Scenario, names: Iterable[str]) -> list[Variant]:
    names = list(names)
    if not names:
        return list(scenario.variants.values())
    out = []
    for name in names:
        if name not in scenario.variants:
            known = ", ".join(scenario.variants)
            raise UsageError(f"scenario {scenario.name!r} has no variant {name!r} (variants: {known})")
        out.append(scenario.variants[name])
    return out


def run_variant(
    scenario: Scenario,
    variant: Variant,
    budget: Budget = Budget(),
    progress: ProgressFn | None = None,
    store: Store = Store.EXACT,
) -> Result:
    try:
        spec = variant.build()
        machine = Machine(spec)
    except StalecheckError:
        raise
    except Exception as exc:
        source = variant.build_fn.__code__.co_filename
        if Path(source).resolve().is_relative_to(_PACKAGE):
            raise  # our own scenario: our bug, not the user's
        raise _user_code_error(exc, source) from None
    verdict = check(machine, budget, progress, sanity=machine.is_complete, store=store)
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
        cost=measure_cost(machine),
        assumptions=(*assumptions(machine), verdict.visited_assumption),
        bad=spec.bad_text,
        initial_copies=every_line(machine, machine.initial_state()),
    )
