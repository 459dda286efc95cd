"""The two engines check each other (docs/design.md section 2).

On every litmus test both can express, the machine engine's final states must
equal the axiomatic engine's allowed states (issue 10).  A state on one side
only is a bug in one of the two; the tests name the test and the states.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalecheck.axiomatic.check import CheckResult, check_test
from stalecheck.crosscheck import Translated, machine_outcomes, translate
from stalecheck.errors import StalecheckError
from stalecheck.litmus.parser import parse_file, parse_litmus
from tests.data import HERDTOOLS7

CATALOGUE = HERDTOOLS7 / "herd-catalogue" / "aarch64" / "tests"
CATALOGUE_TESTS = sorted(CATALOGUE.glob("*.litmus"))  # listed, not parsed: collection stays cheap


@cache
def _translated(path: Path) -> tuple[CheckResult, Translated] | str:
    """The axiomatic result and the machine translation of one test, or why it cannot be translated."""
    try:
        test = parse_file(path)
        result = check_test(test)
        return result, translate(test, tuple(result.columns))
    except StalecheckError as exc:
        return exc.render()


def test_enough_catalogue_tests_are_expressible() -> None:
    """A floor, so that a translator regression cannot silently empty the check."""
    expressible = [p for p in CATALOGUE_TESTS if not isinstance(_translated(p), str)]
    assert len(expressible) >= 31


@pytest.mark.parametrize("path", CATALOGUE_TESTS, ids=[p.stem for p in CATALOGUE_TESTS])
def test_machine_states_equal_axiomatic_states(path: Path) -> None:
    translated = _translated(path)
    if isinstance(translated, str):
        pytest.skip(f"the machine engine cannot express this test: {translated}")
    result, program = translated
    outcomes, complete = machine_outcomes(program)
    assert complete
    assert outcomes, "the machine reached no final state"
    extra = outcomes - set(result.states)
    missing = set(result.states) - outcomes
    assert not extra, f"machine-only final states {sorted(extra)}"
    assert not missing, f"final states the machine never reaches {sorted(missing)}"


def test_machine_shows_store_buffering() -> None:
    """SB's relaxed outcome needs the store buffer: the machine must reach it."""
    test = parse_file(CATALOGUE / "SB.litmus")
    result = check_test(test)
    outcomes, _ = machine_outcomes(translate(test, tuple(result.columns)))
    assert len(outcomes) == len(result.states) == 4


_OPS = st.one_of(
    st.tuples(st.sampled_from(["STR", "STLR"]), st.sampled_from("xy"), st.integers(1, 2)),
    st.tuples(st.sampled_from(["LDR", "LDAR", "LDAPR"]), st.sampled_from("xy")),
    st.tuples(st.sampled_from(["DMB", "DSB"]), st.sampled_from(["SY", "ST", "LD", "ISH", "ISHST"])),
    st.tuples(st.just("ISB")),
)


def _litmus(threads: list[list[tuple]]) -> str:  # type: ignore[type-arg]
    """Render random threads as a herd litmus test observing every load and location."""
    cells: list[list[str]] = []
    observed: list[str] = ["x=0", "y=0"]
    for p, ops in enumerate(threads):
        col: list[str] = []
        for i, op in enumerate(ops):
            if op[0] in ("STR", "STLR"):
                col += [f"MOV W9,#{op[2]}", f"{op[0]} W9,[X{'1' if op[1] == 'x' else '3'}]"]
            elif op[0] in ("LDR", "LDAR", "LDAPR"):
                reg = 10 + i
                col.append(f"{op[0]} W{reg},[X{'1' if op[1] == 'x' else '3'}]")
                observed.append(f"{p}:X{reg}=0")
            elif op[0] == "ISB":
                col.append("ISB")
            else:
                col.append(f"{op[0]} {op[1]}")
        cells.append(col)
    rows = max(len(c) for c in cells)
    init = " ".join(f"{p}:X1=x; {p}:X3=y;" for p in range(len(threads)))
    lines = ["AArch64 gen", "{", init, "}", " " + " | ".join(f"P{p}" for p in range(len(threads))) + " ;"]
    for r in range(rows):
        lines.append(" " + " | ".join(c[r] if r < len(c) else "" for c in cells) + " ;")
    lines.append("exists (" + " \\/ ".join(observed) + ")")
    return "\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_OPS, min_size=1, max_size=3), min_size=2, max_size=3))
def test_random_programs_machine_equals_axiomatic(threads: list[list[tuple]]) -> None:  # type: ignore[type-arg]
    test = parse_litmus(_litmus(threads), "gen.litmus")
    result = check_test(test)
    outcomes, complete = machine_outcomes(translate(test, tuple(result.columns)))
    assert complete
    extra = outcomes - set(result.states)
    missing = set(result.states) - outcomes
    assert not extra, f"{_litmus(threads)}\nmachine-only final states {sorted(extra)}"
    assert not missing, f"{_litmus(threads)}\nfinal states the machine never reaches {sorted(missing)}"
