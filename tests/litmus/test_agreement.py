"""Every shared herd catalogue: no wrong verdict, and agree-floors that only go up.

The per-catalogue table (``benchmarks/litmus_agreement.py``) is computed by the
same code; here each catalogue must have zero disagreements and zero errors
(a test herd accepts that we neither decide nor refuse with a reason), and at
least its pinned number of agreements.  Raising a floor is progress; lowering
one needs a reason in review.
"""

from __future__ import annotations

import pytest

from stalecheck.litmus_agreement import CATALOGUES, Catalogue, Tally, run_catalogue
from tests.litmus.conftest import HERD, manifest_rows

AGREE_FLOORS = {
    "aarch64": 73,
    "instructions": 277,
    "ifetch": 315,
    "VMSA": 456,
    "ETS2": 7,
    "ETS3": 2,
    "faults": 14,
    "mixed": 19,
}


@pytest.fixture(scope="module", params=CATALOGUES, ids=lambda c: c.name)
def tally(request: pytest.FixtureRequest) -> Tally:
    cat: Catalogue = request.param
    return run_catalogue(HERD, cat, timeout=120.0)


def test_every_test_with_a_verdict_is_classified(tally: Tally) -> None:
    assert len(tally.rows) == len(manifest_rows(tally.catalogue.suite)) > 0


def test_no_wrong_verdict(tally: Tally) -> None:
    wrong = [(r.path, r.expected, r.got, r.detail) for r in tally.rows if r.klass == "disagree"]
    assert wrong == []


def test_no_error_on_a_test_herd_accepts(tally: Tally) -> None:
    errors = [(r.path, r.detail) for r in tally.rows if r.klass == "error"]
    assert errors == []


def test_unsupported_tests_say_what_they_need(tally: Tally) -> None:
    for r in tally.rows:
        if r.klass == "unsupported":
            assert "not supported" in r.detail, r


def test_agree_floor(tally: Tally) -> None:
    assert tally.count("agree") >= AGREE_FLOORS[tally.catalogue.name]
