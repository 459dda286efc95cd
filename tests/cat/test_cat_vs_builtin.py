"""``--cat aarch64.cat`` (herd's model, interpreted) against the built-in model, test by test.

On every test of herd's AArch64 catalogue and instruction suite that the
built-in model decides, the interpreted cat model must give the same
verdict, Observation line, witness counts and final states.  The whole of both
suites runs here (about 10 s on one core), not a sample.  A second test
shows the comparison is not vacuous: a different cat model (sequential
consistency) changes verdicts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stalecheck.axiomatic.check import CheckResult, check_test
from stalecheck.cat.engine_model import model_for_test
from stalecheck.cat.program import vendored_dir
from stalecheck.errors import StalecheckError, UnsupportedError
from stalecheck.litmus import parse_file
from stalecheck.litmus_agreement import CATALOGUES
from stalecheck.report.herd import herd_text
from tests.litmus.conftest import HERD, manifest_rows

VENDORED = str(vendored_dir() / "aarch64.cat")
# Floors: how many tests the built-in model decides today (see docs/litmus.md); the cat
# model must decide and agree on each of them.
FLOORS = {"aarch64": 73, "instructions": 269, "mixed": 19}
# Small catalogues, run with herd7's CI variants: wherever both decide, they agree; the cat
# adapter may refuse (fetch, walk and tag events are not built).  ifetch (326 tests) and
# VMSA (461) are left out of the fast suite for time; the adapter refuses their variants.
OTHERS = ("faults", "ETS2", "ETS3")
BY_NAME = {c.name: c for c in CATALOGUES}


def _observable(r: CheckResult) -> tuple[object, ...]:
    return (r.verdict, r.observation, r.positive, r.negative, r.p_true, r.p_false, r.states)


def _observation_line(r: CheckResult, source: str) -> str:
    return next(line for line in herd_text(r, source).splitlines() if line.startswith("Observation"))


def _compare(name: str) -> tuple[int, int, list[str]]:
    """(tests compared, tests the cat adapter refused, mismatches) over one catalogue."""
    catalogue = BY_NAME[name]
    cat = model_for_test(VENDORED)
    compared = refused = 0
    mismatches = []
    for row in manifest_rows(catalogue.suite):
        try:
            test = parse_file(HERD / row["relative_path"])
            builtin = check_test(test, keep_witness=False, variants=catalogue.variants)
        except StalecheckError:
            continue  # not decided by the built-in model (unsupported or refused)
        try:
            interpreted = check_test(test, keep_witness=False, variants=catalogue.variants,
                                     model_for=cat)
        except UnsupportedError:
            refused += 1
            continue
        compared += 1
        if _observable(builtin) != _observable(interpreted):
            mismatches.append(
                f"{row['relative_path']}: built-in {_observation_line(builtin, test.source)!r}, "
                f"cat {_observation_line(interpreted, test.source)!r}"
            )
    return compared, refused, mismatches


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_herds_cat_model_agrees_with_the_builtin_model(name: str) -> None:
    compared, refused, mismatches = _compare(name)
    assert not mismatches, "\n".join(mismatches)
    assert refused == 0
    assert compared >= FLOORS[name]


@pytest.mark.parametrize("name", OTHERS)
def test_never_a_different_verdict_on_the_other_catalogues(name: str) -> None:
    _compared, _refused, mismatches = _compare(name)
    assert not mismatches, "\n".join(mismatches)


SC_MODEL = """\
(* Sequential consistency: a user's own model, much stronger than Arm's *)
include "cos.cat"
acyclic po | rf | co | fr as sc
"""


def test_a_users_model_changes_the_verdicts(tmp_path: Path) -> None:
    """SB (store buffering) is Allowed on Arm and Forbidden under SC: the cat file decides."""
    model = tmp_path / "sc.cat"
    model.write_text(SC_MODEL)
    sb = parse_file(HERD / "herd-catalogue/aarch64/tests/SB.litmus")
    assert check_test(sb, keep_witness=False).verdict == "Allowed"
    assert check_test(sb, keep_witness=False, model_for=model_for_test(str(model))).verdict == "Forbidden"
    assert check_test(sb, keep_witness=False, model_for=model_for_test(VENDORED)).verdict == "Allowed"


def test_vendored_models_are_herds_files_unchanged() -> None:
    for path in sorted((HERD / "cat").glob("*.cat")):
        assert (vendored_dir() / path.name).read_bytes() == path.read_bytes(), path.name


def test_variants_the_adapter_cannot_build_are_refused() -> None:
    """A VMSA or MTE test needs translation-table or tag events: unsupported, never judged."""
    test = parse_file(HERD / "herd-catalogue/aarch64/tests/SB.litmus")
    with pytest.raises(UnsupportedError, match="variant vmsa"):
        model_for_test(VENDORED)(test, frozenset({"vmsa"}))


def test_engine_facts_the_adapter_does_not_map_are_refused() -> None:
    """A new kind of fact in the engine's events (say, an instruction fetch flag) is refused
    until the adapter maps it, rather than silently dropped from the cat model's view."""
    from dataclasses import field, make_dataclass

    from stalecheck.cat.engine_model import _refuse_unknown

    event = make_dataclass("Event", [("kind", str, field(default="R")),
                                     ("fetch", bool, field(default=False))])
    _refuse_unknown(event())  # default value: nothing new to map
    with pytest.raises(UnsupportedError, match=r"Event\.fetch"):
        _refuse_unknown(event(fetch=True))
