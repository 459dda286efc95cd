"""``stalecheck litmus --cat FILE``: same herd text as the built-in model, bad models refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from stalecheck.cat.program import vendored_dir
from stalecheck.report.herd import normalise
from tests.litmus.conftest import HERD
from tests.litmus.test_cli_litmus import _app

CATALOGUE = HERD / "herd-catalogue" / "aarch64" / "tests"
AARCH64 = str(vendored_dir() / "aarch64.cat")


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app(), ["litmus", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cat_gives_the_builtin_models_output() -> None:
    files = [str(CATALOGUE / n) for n in ("MP+dmb.sys.litmus", "SB.litmus", "LB+CAS-rfi-ctrl+DMBSY.litmus")]
    code_b, builtin, _ = _run(*files)
    code_c, cat, err = _run("--cat", AARCH64, *files)
    assert code_b == code_c == 0, err
    assert normalise(cat) == normalise(builtin)
    assert "Observation MP+dmb.sys Never 0 3" in cat


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from stalecheck.cli import main; main()", *args],
        capture_output=True, text=True, check=False,
    )


def test_a_bad_model_is_refused_with_its_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cat"
    bad.write_text('include "cos.cat"\nlet ob = po |\n  | rf\n')
    proc = _cli("litmus", "--cat", str(bad), str(CATALOGUE / "SB.litmus"))
    assert proc.returncode == 2
    assert f"{bad}:3:3: syntax error: unexpected '|'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_an_unsupported_construct_is_refused_never_judged(tmp_path: Path) -> None:
    model = tmp_path / "forall.cat"
    model.write_text('include "cos.cat"\nforall r in {po, rf} do acyclic r end\n')
    code, out, err = _run("--cat", str(model), str(CATALOGUE / "SB.litmus"), str(CATALOGUE / "MP.litmus"))
    assert code == 0  # a batch: both tests counted as unsupported, no verdict printed
    assert out == ""
    assert err.count(f"{model}:2:1: unsupported cat construct: 'forall'") == 2
    assert "2 unsupported" in err


def test_dot_explains_a_forbidden_outcome_with_the_models_ob_cycle() -> None:
    code, out, err = _run("--dot", "--cat", AARCH64, str(CATALOGUE / "MP+dmb.sys.litmus"))
    assert code == 0, err
    assert "it breaks external" in out  # the cat file's own name for the failed check
    cycle = out.split("ordered-before cycle:\n", 1)[1].split("digraph", 1)[0]
    assert "-rfe->" in cycle and "-fre->" in cycle
    assert len(cycle.strip().splitlines()) == 4  # W x; dmb; W y -rfe-> R y; dmb; R x -fre-> W x
