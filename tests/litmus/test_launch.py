"""The console script's fast start: same output as the full CLI, or no fast path at all."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stalecheck import launch
from stalecheck.cli import run
from stalecheck.report.herd import normalise
from tests.litmus.conftest import HERD

CATALOGUE = HERD / "herd-catalogue" / "aarch64" / "tests"


def test_fast_path_prints_what_the_full_cli_prints(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(CATALOGUE / "MP+dmb.sys.litmus")
    assert launch._one_litmus_file(["litmus", path]) == 0
    fast = capsys.readouterr().out
    assert run(["litmus", path]) == 0
    full = capsys.readouterr().out
    assert normalise(fast) == normalise(full) and fast.endswith("\n\n") == full.endswith("\n\n")


@pytest.mark.parametrize("argv", [
    ["litmus", "--json", "x.litmus"],                  # any option: full CLI
    ["litmus", str(CATALOGUE)],                         # a folder
    ["litmus", str(CATALOGUE / "@all")],                # an index file
    ["litmus", "a.litmus", "b.litmus"],                 # several files
    ["litmus", "missing.litmus"],                       # no such file: the full CLI says so
    ["check", "x"],
    [],
])
def test_anything_else_goes_to_the_full_cli(argv: list[str]) -> None:
    assert launch._one_litmus_file(argv) is None


def test_an_unsupported_test_is_reported_by_the_full_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "v.litmus"
    f.write_text("AArch64 V\nVariant=vmsa,ets2\n{ 0:X1=x; 0:X2=PTE(x); }\n"
                 " P0 ;\n LDR W0,[X1] ;\nexists (0:X0=0)\n")
    assert launch._one_litmus_file(["litmus", str(f)]) is None
    done = subprocess.run([sys.executable, "-m", "stalecheck", "litmus", str(f)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "variant 'vmsa' is not supported" in done.stderr
