"""The scenario protocol: a user's file, a bundled scenario and a third-party
package's scenario are declared the same way and run by the same commands.

Before, the CLI found a scenario's stress sweep and cost tables by looking for
module globals in ``sys.modules`` under the bundled module names, so a user's
file could not be stress-tested; the bundled list was a dict in the source.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stalecheck.errors import ScenarioError, UsageError
from stalecheck.runner import SweepModel, load_scenario
from stalecheck.scenarios import registry
from stalecheck.scenarios.builder import Builder, Scenario

EXE = [sys.executable, "-c", "from stalecheck.cli import main; main()"]

USER_FILE = '''
from stalecheck.scenarios.builder import Builder, Scenario

SCENARIO = Scenario("user-dma", "A non-coherent device reads what a CPU wrote")


def _system(b: Builder, stores: int, clean: bool, stall: bool = False) -> None:
    b.system(pes=1)
    b.page("P0", "X")
    writes = "\\n".join(f"STR X, {v}" for v in range(1, stores + 1))
    b.host("cpu", writes + ("\\nDC CVAC X" if clean else "") + "\\nDSB SY\\nSIGNAL go")
    b.device("dma", ("WAIT never\\n" if stall else "") + "WAIT go\\nLDR r1, X")
    b.bad_when(lambda v: v.done("dma") and v.reg("dma", "r1") != stores, "the device reads stale X")


@SCENARIO.variant("no-clean", expect="reachable")
def _no_clean(b: Builder) -> None:
    """The CPU's store may still be dirty in its L1 when the device reads the PoC."""
    _system(b, 1, clean=False)


@SCENARIO.variant("clean", expect="unreachable")
def _clean(b: Builder) -> None:
    """DC CVAC and a DSB before the signal."""
    _system(b, 1, clean=True)


@SCENARIO.stress_sweep(sizes=(1, 2, 3), hypotheses=("no-clean", "clean"), flags=("stall",), label="stores")
def sweep(b: Builder, size: int, hypothesis: str = "no-clean", stall: bool = False) -> None:
    _system(b, size, clean=hypothesis == "clean", stall=stall)


@SCENARIO.table("user-dma: a table of its own")
def rows() -> list[dict[str, int]]:
    return [{"stores": n, "lines": 1} for n in (1, 2, 3)]
'''


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_dma.py"
    path.write_text(USER_FILE)
    return path


def test_a_users_file_is_stress_tested_like_a_bundled_scenario(user_file: Path, tmp_path: Path) -> None:
    args = ("stress", str(user_file), "--runs", "8", "--seed", "5", "--json")
    one = run(*args)
    assert one.returncode == 0, one.stderr
    obj = json.loads(one.stdout)
    assert obj["scenario"] == "user-dma" and obj["hypothesis"] == "no-clean" and obj["flags"] == []
    assert obj["sizes"] == [1, 2, 3] and all(r["runs"] == 8 for r in obj["results"])
    # Worker processes started elsewhere find the file by its absolute path.
    two = run(*args, "--jobs", "2", cwd=tmp_path.parent)
    assert two.returncode == 0, two.stderr
    assert json.loads(two.stdout) == obj
    clean = json.loads(run(*args, "--hypothesis", "clean").stdout)
    assert all(r["failures"] == 0 and r["clean"] == 8 for r in clean["results"])


def test_a_users_flag_reaches_the_sweep_and_incomplete_runs_are_reported(user_file: Path) -> None:
    # The device waits for an event nobody signals, while the caches may keep filling
    # and dropping the line: every run is still going at the step limit.
    args = ("stress", str(user_file), "--runs", "4", "--sizes", "2", "--flag", "stall", "--max-steps", "300")
    res = run(*args, "--json")
    assert res.returncode == 0, res.stderr
    (row,) = json.loads(res.stdout)["results"]
    assert row["step_limits"] == row["incomplete"] == 4 and row["pass_rate"] == 0.0
    assert "4 run(s) incomplete (0 deadlocked, 4 hit the limit of 300 steps)" in run(*args).stdout


def test_run_all_and_scenarios_take_a_users_file(user_file: Path) -> None:
    res = run("run-all", str(user_file))
    assert res.returncode == 0, res.stderr
    assert "user-dma" in res.stdout and "no-clean" in res.stdout and "reachable" in res.stdout
    assert "user-dma: a table of its own" in res.stdout
    listed = run("scenarios", str(user_file))
    assert listed.returncode == 0, listed.stderr
    assert "user-dma" in listed.stdout and "stress sweep over stores: 1, 2, 3" in listed.stdout


def test_a_mistake_in_a_users_sweep_is_placed_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text(USER_FILE.replace("    _system(b, size,", "    1 / 0\n    _system(b, size,"))
    res = run("stress", str(path), "--runs", "2", "-j", "2")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    line = path.read_text().splitlines().index("    1 / 0") + 1
    assert f"{path}:{line}" in res.stderr and "ZeroDivisionError" in res.stderr


# ---- entry points ------------------------------------------------------------------


def _fake_distribution(root: Path, name: str, entries: dict[str, str], modules: dict[str, str]) -> None:
    """An installed distribution as importlib.metadata finds it on sys.path: a
    ``.dist-info`` directory with METADATA and entry_points.txt, beside its modules."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\n{lines}")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


def _env(root: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def test_a_scenario_registered_by_another_package_is_listed_checked_and_stressed(tmp_path: Path) -> None:
    _fake_distribution(
        tmp_path,
        "fakecase",
        {"third-party-dma": "fakecase_scenarios:SCENARIO"},
        {"fakecase_scenarios": USER_FILE.replace('"user-dma"', '"third-party-dma"')},
    )
    env = _env(tmp_path)
    listed = run("scenarios", env=env)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "third-party-dma" in line)
    assert "fakecase" in row
    assert "kvm-external-l3" in listed.stdout, "the bundled ones are still there"
    checked = run("check", "third-party-dma", "-v", "no-clean", "--json", env=env)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["verdict"] == "reachable"
    stressed = run("stress", "third-party-dma", "--runs", "3", "-j", "2", "--json", env=env)
    assert stressed.returncode == 0, stressed.stderr
    assert json.loads(stressed.stdout)["scenario"] == "third-party-dma"


def test_a_broken_third_party_scenario_does_not_hide_the_others(tmp_path: Path) -> None:
    _fake_distribution(
        tmp_path,
        "brokencase",
        {"broken-case": "brokencase_mod:SCENARIO", "not-a-scenario": "brokencase_mod:OTHER"},
        {"brokencase_mod": "OTHER = 42\nraise_later = True\n"},
    )
    env = _env(tmp_path)
    listed = run("scenarios", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "cannot be loaded" in listed.stdout and "kvm-external-l3" in listed.stdout
    res = run("check", "not-a-scenario", env=env)
    assert res.returncode == 2 and "is a int, not a Scenario" in res.stderr and "Traceback" not in res.stderr
    res = run("check", "broken-case", env=env)
    assert res.returncode == 2 and "brokencase" in res.stderr and "Traceback" not in res.stderr


def test_a_name_registered_twice_is_refused_with_both_packages(tmp_path: Path) -> None:
    _fake_distribution(
        tmp_path, "clash", {"kvm-external-l3": "clash_mod:SCENARIO"}, {"clash_mod": USER_FILE}
    )
    res = run("check", "kvm-external-l3", env=_env(tmp_path))
    assert res.returncode == 2 and "more than one package" in res.stderr
    assert "clash" in res.stderr and "stalecheck" in res.stderr


def test_every_bundled_module_is_registered_under_its_scenarios_name() -> None:
    package = Path(__file__).resolve().parents[2] / "stalecheck" / "scenarios"
    modules = {
        f"stalecheck.scenarios.{path.stem}"
        for path in package.glob("*.py")
        if any(
            isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "SCENARIO" for t in node.targets)
            for node in ast.parse(path.read_text()).body
        )
    }
    bundled = registry.bundled()
    assert {value.partition(":")[0] for value in bundled.values()} == modules
    for name in bundled:
        assert load_scenario(name).name == name


# ---- the declarations themselves ----------------------------------------------------


def _noop(b: Builder, size: int) -> None:
    pass


def test_declaration_mistakes_are_scenario_errors() -> None:
    sc = Scenario("s", "t")
    with pytest.raises(ScenarioError, match="at least one size"):
        sc.stress_sweep(sizes=())
    sc.stress_sweep(sizes=(1, 2))(_noop)
    with pytest.raises(ScenarioError, match="two stress sweeps"):
        sc.stress_sweep(sizes=(1,))(_noop)
    with pytest.raises(ScenarioError, match="print differently"):
        Scenario("s", "t").stress_sweep(sizes=(1, "1"))
    with pytest.raises(ScenarioError, match="positive weight"):
        Scenario("s", "t").stress_sweep(sizes=(1,), hardware=0)


def test_sweep_options_are_checked_against_the_declaration() -> None:
    sc = Scenario("s", "t")
    sc.stress_sweep(sizes=("a", "b"), hypotheses=("h1", "h2"), flags=("f",))(_noop)
    sweep = sc.stress
    assert sweep is not None
    assert sweep.check(None, (), ["a"]) == "h1"
    with pytest.raises(UsageError, match="choose one of h1, h2"):
        sweep.check("h3", (), ["a"])
    with pytest.raises(UsageError, match="not a flag of this sweep"):
        sweep.check(None, ("g",), ["a"])
    with pytest.raises(UsageError, match="not in the sweep"):
        sweep.check(None, (), ["c"])
    bare = Scenario("s", "t")
    bare.stress_sweep(sizes=(1,))(_noop)
    assert bare.stress is not None
    with pytest.raises(UsageError, match="declares no hypotheses"):
        bare.stress.check("h1", (), [1])


def test_the_sweep_model_is_built_from_the_declaration(user_file: Path) -> None:
    model = SweepModel(str(user_file), "clean", ("stall",))(2)
    threads = {t.name: t for t in model.spec.threads}
    assert threads["dma"].program[0].text == "WAIT never"
    assert any(i.text == "DC CVAC X" for i in threads["cpu"].program)
    assert model.hardware == 0.05  # spontaneous cache steps made rare, as declared (the default)
