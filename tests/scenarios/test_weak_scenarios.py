"""Issue 10 part 5: the bundled verdicts rest on out-of-order execution.

Every bundled variant, those using the translation model included, runs with it, and
its printed assumptions no longer say that loads are performed in order.
"""

from __future__ import annotations

import pytest

from stalecheck.machine.assumptions import IN_ORDER as PRINTED
from stalecheck.machine.assumptions import WEAK_ORDERING, assumptions
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario
from stalecheck.scenarios import BUNDLED
from stalecheck.scenarios.builder import Builder

CASES = [(name, variant) for name in BUNDLED for variant in load_scenario(name).variants]
IN_ORDER = "loads performed in order"


@pytest.mark.parametrize(("scenario", "variant"), CASES, ids=[f"{s}/{v}" for s, v in CASES])
def test_bundled_variants_run_out_of_order(scenario: str, variant: str) -> None:
    m = Machine(load_scenario(scenario).variants[variant].build())
    printed = assumptions(m)
    assert m.spec.options.weak_ordering
    assert WEAK_ORDERING in printed
    assert not any(IN_ORDER in line for line in printed)


def _plain(b: Builder) -> None:
    b.system(pes=1)
    b.page("P", "X")
    b.host("cpu", "LDR r1, X\nLDR r1, X")
    b.bad_when(lambda v: False, "never")


def test_a_default_scenario_runs_out_of_order() -> None:
    """Issue 10: out-of-order execution is the builder's default (a register written twice
    is renamed, docs/ordering.md), so a scenario that sets no option runs as weak as the
    Arm memory model and no printed assumption says "in program order"."""
    b = Builder()
    _plain(b)
    m = Machine(b.build())
    printed = assumptions(m)
    assert m.spec.options.weak_ordering
    assert printed[1] == WEAK_ORDERING
    assert not any("in program order" in line.lower() for line in printed[:2])
    assert not any(IN_ORDER in line for line in printed)


def test_a_scenario_in_program_order_says_so_first() -> None:
    """``weak_ordering=False`` is still an option: the verdict is then stronger than the
    architecture, and the first assumption says so."""
    b = Builder()
    _plain(b)
    b.options(weak_ordering=False)
    m = Machine(b.build())
    assert not m.spec.options.weak_ordering
    assert assumptions(m)[0] == PRINTED and IN_ORDER in PRINTED
