"""Where scenarios come from: package entry points in the group ``stalecheck.scenarios``.

stalecheck registers its own scenarios in its ``pyproject.toml``; any installed
package can ship more the same way, each entry point naming a ``Scenario``::

    [project.entry-points."stalecheck.scenarios"]
    my-case = "my_package.my_case:SCENARIO"

Names are looked up in the installed metadata (``importlib.metadata``), and a
module is imported only when its scenario is asked for, so one broken
third-party package cannot stop the others from being listed or run.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from stalecheck.errors import ScenarioError, UsageError
from stalecheck.scenarios.builder import Scenario

GROUP = "stalecheck.scenarios"
OWN = "stalecheck"  # the distribution whose entry points are the bundled scenarios


@dataclass(frozen=True)
class Registered:
    """One entry point: the scenario's name, where it lives, which package registered it."""

    name: str
    value: str  # "module:attribute"
    dist: str

    @property
    def bundled(self) -> bool:
        return self.dist == OWN


def _dist_name(ep: EntryPoint) -> str:
    dist = ep.dist
    return dist.metadata["Name"] if dist is not None else "?"


def registered() -> dict[str, list[Registered]]:
    """Every registered name, with each package that registers it (normally one)."""
    found: dict[str, list[Registered]] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, []).append(Registered(ep.name, ep.value, _dist_name(ep)))
    if not any(r.bundled for regs in found.values() for r in regs):
        raise UsageError(
            f"no scenarios registered by {OWN} itself: its installed metadata predates the "
            f"'{GROUP}' entry points; reinstall it (make .venv/.installed, or pip install -e .)"
        )
    return found


def names() -> list[str]:
    """Registered names, bundled ones first, each group in registration order."""
    regs = registered()
    return sorted(regs, key=lambda name: not any(r.bundled for r in regs[name]))


def bundled() -> dict[str, str]:
    """The scenarios stalecheck itself registers: name -> "module:attribute"."""
    return {r.name: r.value for regs in registered().values() for r in regs if r.bundled}


def load(name: str) -> Scenario:
    """The registered scenario ``name`` (import errors and wrong objects are reported
    with the package that registered it)."""
    regs = registered().get(name)
    if not regs:
        raise KeyError(name)
    if len(regs) > 1:
        who = ", ".join(f"{r.dist} ({r.value})" for r in regs)
        raise UsageError(f"scenario {name!r} is registered by more than one package: {who}")
    (reg,) = regs
    ep = EntryPoint(reg.name, reg.value, GROUP)
    try:
        scenario = ep.load()
    except ScenarioError:
        raise
    except Exception as exc:
        if reg.bundled:
            raise  # our own scenario: our bug, reported as one

        raise ScenarioError(
            f"scenario {name!r} (entry point {reg.value!r} of package {reg.dist}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(scenario, Scenario):
        raise ScenarioError(
            f"entry point {name!r} = {reg.value!r} of package {reg.dist} is a "
            f"{type(scenario).__name__}, not a Scenario"
        )
    return scenario
