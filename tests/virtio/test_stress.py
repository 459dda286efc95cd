"""Stress mode: Wilson intervals, determinism across workers, a trend with size."""

import functools

import pytest

from stalecheck.errors import UsageError
from stalecheck.explore.stress import stress, wilson
from stalecheck.report.stress import render_stress
from stalecheck.scenarios.fcvm_vsock_nv2 import stress_model


def test_wilson_known_values() -> None:
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-3) and high == pytest.approx(0.7634, abs=1e-3)
    assert wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson(10, 10)[1] == pytest.approx(1.0, abs=1e-12)


def test_same_seed_same_numbers_with_any_number_of_workers() -> None:
    factory = functools.partial(stress_model, hypothesis="data-nc")
    one = stress(factory, ["512K", "1M"], runs=12, seed=7, jobs=1, chunk=5)
    two = stress(factory, ["512K", "1M"], runs=12, seed=7, jobs=2, chunk=5)
    assert one.as_dict() == two.as_dict()


def test_baseline_never_fails_and_nc_data_fails_more_with_size() -> None:
    base = stress(functools.partial(stress_model, hypothesis="baseline"), ["512K", "2M"], runs=20, seed=1)
    assert all(p.failures == 0 for p in base.points)
    nc = stress(functools.partial(stress_model, hypothesis="data-nc"), ["512K", "2M"], runs=40, seed=1)
    small, large = nc.points
    assert large.failures > small.failures
    text = render_stress(nc)
    assert "512K" in text and "2M" in text


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        stress(stress_model, [], runs=1)
    with pytest.raises(UsageError):
        stress(stress_model, ["512K"], runs=0)
