"""The CLI: commands, JSON contract, and clean errors (exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-c", "from stalecheck.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=300)


def test_help_lists_commands() -> None:
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("check", "run-all", "scenarios", "explain", "litmus"):
        assert cmd in res.stdout


def test_check_json_contract() -> None:
    res = run("check", "kvm-external-l3", "-v", "clean-to-pou", "-v", "clean-to-poc", "--json")
    assert res.returncode == 0, res.stderr
    objs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert [o["variant"] for o in objs] == ["clean-to-pou", "clean-to-poc"]
    for o in objs:
        assert {"scenario", "variant", "verdict", "states", "witness", "cost"} <= o.keys()
    assert objs[0]["verdict"] == "reachable" and objs[0]["witness"]
    assert objs[1]["verdict"] == "unreachable" and objs[1]["witness"] == []


def test_budget_gives_unknown_not_a_hang() -> None:
    res = run("check", "xen-set-way", "-v", "tsw-tvm", "--max-states", "500", "--json")
    assert res.returncode == 0, res.stderr
    obj = json.loads(res.stdout)
    assert obj["verdict"] == "unknown" and obj["stopped_because"] == "max-states"


def test_explain_replays_token() -> None:
    first = json.loads(run("check", "kvm-external-l3", "-v", "clean-to-pou", "--json").stdout)
    res = run("explain", "kvm-external-l3", "clean-to-pou", first["replay"])
    assert res.returncode == 0
    assert len(res.stdout.strip().splitlines()) == len(first["witness"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("check", "no-such-scenario"), "no registered scenario"),
        (("check", "kvm-external-l3", "-v", "nope"), "has no variant 'nope'"),
        (("check", "kvm-external-l3", "--max-states", "0"), "--max-states"),
        (("check", "kvm-external-l3", "--timeout", "-1"), "--timeout"),
        (("explain", "kvm-external-l3", "clean-to-pou", "0/zz"), "replay token"),
        (("explain", "kvm-external-l3", "clean-to-pou", "0/0/99"), "does not replay"),
    ],
)
def test_bad_input_is_a_clean_error(args: tuple[str, ...], needle: str) -> None:
    res = run(*args)
    assert res.returncode == 2
    assert needle in res.stderr
    assert "Traceback" not in res.stderr


def test_user_scenario_file_with_program_error_names_line_and_column(tmp_path: Path) -> None:
    src = tmp_path / "mine.py"
    src.write_text(
        "from stalecheck.scenarios.builder import Builder, Scenario\n"
        "SCENARIO = Scenario('mine', 'a user case')\n"
        "@SCENARIO.variant('v', expect='reachable')\n"
        "def _(b: Builder) -> None:\n"
        "    b.page('P0', 'X')\n"
        "    b.host('cpu', 'STR X 1')\n"
        "    b.bad_when(lambda v: False, 'never')\n"
    )
    res = run("check", str(src))
    assert res.returncode == 2
    assert f"{src}:6:26" in res.stderr  # the file's column of the "1", under a caret
    assert "Traceback" not in res.stderr


def test_user_scenario_file_runs(tmp_path: Path) -> None:
    src = tmp_path / "mine.py"
    src.write_text(
        "from stalecheck.scenarios.builder import Builder, Scenario\n"
        "SCENARIO = Scenario('mine', 'a user case')\n"
        "@SCENARIO.variant('nc-reader', expect='reachable')\n"
        "def _(b: Builder) -> None:\n"
        "    b.system(pes=2)\n"
        "    b.page('P0', 'X')\n"
        "    b.host('writer', 'STR X, 1\\nDSB SY\\nSIGNAL done', pe=0)\n"
        "    b.device('dma', 'WAIT done\\nLDR r1, X')\n"
        "    b.bad_when(lambda v: v.done('dma') and v.reg('dma', 'r1') != 1, 'DMA reads stale X')\n"
    )
    res = run("check", str(src), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["verdict"] == "reachable"


def _user_file(tmp_path: Path, body: str) -> Path:
    src = tmp_path / "case.py"
    src.write_text(
        "from stalecheck.scenarios.builder import Builder, Scenario\n"
        "SCENARIO = Scenario('case', 'a user case')\n"
        "@SCENARIO.variant('v', expect='reachable')\n"
        "def _(b: Builder) -> None:\n" + body
    )
    return src


def test_unknown_location_points_at_the_program_line(tmp_path: Path) -> None:
    src = _user_file(
        tmp_path,
        "    b.page('P0', 'X')\n"
        '    b.host("cpu", """STR X, 1\n'
        'LDR r1, Q""")\n'
        "    b.bad_when(lambda v: False, 'never')\n",
    )
    res = run("check", str(src))
    assert res.returncode == 2
    assert f"{src}:7:1:" in res.stderr and "unknown location 'Q'" in res.stderr
    assert "Traceback" not in res.stderr


def test_exception_in_user_scenario_is_a_user_error(tmp_path: Path) -> None:
    src = _user_file(tmp_path, "    b.page('P0', 'X')\n    b.system(pes=undefined_name)\n")
    res = run("check", str(src))
    assert res.returncode == 2
    assert f"{src}:6" in res.stderr and "NameError" in res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr


def test_explain_dot_has_one_node_per_step() -> None:
    first = json.loads(run("check", "kvm-external-l3", "-v", "clean-to-pou", "--json").stdout)
    res = run("explain", "kvm-external-l3", "clean-to-pou", first["replay"], "--dot")
    assert res.returncode == 0
    assert res.stdout.startswith("digraph witness {") and res.stdout.rstrip().endswith("}")
    for n in range(1, len(first["witness"]) + 1):
        assert f"  s{n} [label=" in res.stdout


def test_stress_sweep_json_is_reproducible() -> None:
    args = ("stress", "fcvm-vsock-nv2", "--sizes", "512K,1M", "--runs", "3", "--seed", "7", "--json")
    first, again = run(*args), run(*args)
    assert first.returncode == 0, first.stderr
    obj = json.loads(first.stdout)
    assert obj["sizes"] == ["512K", "1M"] and all(r["runs"] == 3 for r in obj["results"])
    assert all(
        0 <= r["failures"] <= 3 and r["ci_low"] <= r["pass_rate"] <= r["ci_high"] for r in obj["results"]
    )
    assert json.loads(again.stdout) == obj  # seeded schedules: same answer twice


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("stress", "fcvm-vsock-nv2", "--hypothesis", "nope"), "--hypothesis 'nope'"),
        (("stress", "fcvm-vsock-nv2", "--sizes", "3G"), "--sizes: 3G"),
        (("stress", "kvm-external-l3"), "defines no stress sweep"),
        (("stress", "fcvm-vsock-nv2", "--runs", "0"), "--runs"),
    ],
)
def test_stress_bad_options_are_clean_errors(args: tuple[str, ...], needle: str) -> None:
    res = run(*args)
    assert res.returncode == 2 and needle in res.stderr and "Traceback" not in res.stderr
