"""`stalecheck stress` on a dask.distributed cluster and as a plot (issue 5).

The same seed must give the same numbers locally and on the cluster: batches
are collected in submission order, whatever worker ran them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-c", "from stalecheck.cli import main; main()"]
ARGS = ["stress", "fcvm-vsock-nv2", "--sizes", "512K,1M", "--runs", "3", "--seed", "3", "--json"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=300)


def test_cluster_run_equals_local_run() -> None:
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        remote = run(*ARGS, "--scheduler", cluster.scheduler_address)
    local = run(*ARGS)
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)


def test_unreachable_scheduler_is_a_clean_error() -> None:
    pytest.importorskip("dask.distributed")
    res = run(*ARGS, "--scheduler", "tcp://127.0.0.1:9")
    assert res.returncode == 2 and "cannot reach the cluster" in res.stderr
    assert "Traceback" not in res.stderr


def test_plot_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "curve.svg"
    res = run(*ARGS[:-1], "--plot", str(out))
    assert res.returncode == 0, res.stderr
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))
