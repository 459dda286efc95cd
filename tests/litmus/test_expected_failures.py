"""Inputs herd refuses (``.expected-failure``) must be refused by us too, never checked."""

from __future__ import annotations

import pytest

from stalecheck.axiomatic.check import check_test
from stalecheck.errors import InputError, StalecheckError, UnsupportedError
from stalecheck.litmus import parse_file
from tests.litmus.conftest import SHARED

FAILURES = sorted((SHARED / "herd-instructions" / "AArch64").glob("*.expected-failure"))


def test_there_are_expected_failures() -> None:
    assert len(FAILURES) == 31


@pytest.mark.parametrize("failure", FAILURES, ids=[f.name.split(".")[0] for f in FAILURES])
def test_rejected(failure) -> None:  # type: ignore[no-untyped-def]
    litmus = failure.with_name(failure.name.removesuffix(".expected-failure"))
    herd_says = failure.read_text()
    with pytest.raises(StalecheckError) as info:
        check_test(parse_file(litmus))
    err = info.value
    assert isinstance(err, InputError | UnsupportedError)
    assert err.position is not None and err.position.path == str(litmus)
    # Where herd blames the user for a reason we also model and we refuse the input as
    # malformed too (not merely unsupported), our message must name such a reason.
    modelled = {
        "Non symbolic address": "non symbolic address",
        "Out of bounds access": "out of bounds access",
        "Post-condition introduces new symbolic location": "introduces new symbolic location",
        "Illegal operation mask32": "illegal operation mask32",
    }
    if isinstance(err, InputError) and any(p in herd_says for p in modelled):
        assert any(ours in err.message for ours in modelled.values()), err.message
