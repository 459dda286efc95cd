"""What a user installs: the wheel, its console script, its data files and its version.

The wheel is built from a copy of exactly the files ``pyproject.toml`` packages, installed
into a fresh virtual environment, and run from outside the source tree, so a module or a
grammar missing from the package data fails here rather than on a user's machine.  It
takes about 25 s (pip's cache keeps it there); ``-m "not wheel"`` leaves it out while
developing, ``make test`` runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from stalecheck import __version__
from tests.data import HERDTOOLS7

ROOT = Path(__file__).resolve().parents[1]
SB = HERDTOOLS7 / "herd-catalogue" / "aarch64" / "tests" / "SB.litmus"


def test_version_flag_prints_the_package_version() -> None:
    res = subprocess.run(
        [sys.executable, "-c", "from stalecheck.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    # and which build ran: pure, or the hot modules of `make compiled` (stalecheck/compiled.py)
    build = r"\((pure Python|mypyc: \d+ of \d+ hot modules compiled)\)"
    assert re.fullmatch(rf"stalecheck {re.escape(__version__)} {build}", res.stdout.strip())


def _pip(python: Path | str, *args: str, cwd: Path) -> None:
    res = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the built wheel, the ``bin`` folder of a fresh venv it is installed in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "stalecheck", src / "stalecheck", ignore=shutil.ignore_patterns("__pycache__"))
    _pip(sys.executable, "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src), cwd=tmp)
    (wheel,) = (tmp / "dist").glob("stalecheck-*.whl")
    venv.create(tmp / "venv", with_pip=True)
    bin_dir = tmp / "venv" / ("Scripts" if os.name == "nt" else "bin")
    _pip(bin_dir / "python", "install", "-q", str(wheel), cwd=tmp)
    return wheel, bin_dir


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(bin_dir / "stalecheck"), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.mark.wheel
@pytest.mark.xdist_group("wheel")  # one worker builds and installs the wheel once
def test_wheel_carries_every_file_of_the_package_and_the_licence(wheel_install: tuple[Path, Path]) -> None:
    """Every module and data file under ``stalecheck/`` (grammars, cat models) ships."""
    wheel, _ = wheel_install
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "stalecheck"
    files = [
        p.relative_to(ROOT).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]
    assert "stalecheck/machine/program.lark" in files and "stalecheck/litmus/litmus.lark" in files
    missing = sorted(set(files) - names)
    assert not missing, f"not in the wheel: {missing[:10]}"
    assert f"stalecheck-{__version__}.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if n.startswith("tests/")]


@pytest.mark.wheel
@pytest.mark.xdist_group("wheel")  # one worker builds and installs the wheel once
def test_installed_script_checks_a_bundled_variant(wheel_install: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_dir = wheel_install
    res = _run(bin_dir, "check", "kvm-external-l3", "-v", "hcr-dc-dma", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    obj = json.loads(res.stdout)
    assert (obj["variant"], obj["verdict"]) == ("hcr-dc-dma", "reachable")
    assert obj["witness"]
    version = _run(bin_dir, "--version", cwd=tmp_path)
    # a wheel ships no compiled build
    assert version.stdout.strip() == f"stalecheck {__version__} (pure Python)"


@pytest.mark.wheel
@pytest.mark.xdist_group("wheel")  # one worker builds and installs the wheel once
def test_installed_script_checks_a_litmus_file(wheel_install: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_dir = wheel_install
    shutil.copy2(SB, tmp_path / "SB.litmus")
    res = _run(bin_dir, "litmus", "SB.litmus", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Test SB Allowed" in res.stdout
    assert "Observation SB Sometimes" in res.stdout
