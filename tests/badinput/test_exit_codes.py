"""Issue 14, part 1: one entry point, one meaning per exit code, checked on the
installed console script (``CliRunner`` bypasses ``main`` and hid exit 0 after a
failed batch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stalecheck import litmus_batch as batch
from stalecheck.errors import ExitCode
from tests.badinput.cli_harness import SB, in_process, script

BROKEN = "AArch64 broken\n{ 0:X1=x; }\n P0 ;\n LDR W0,[X1 ;\n"


def _big_litmus(threads: int = 5, stores: int = 1) -> str:
    """Enough candidate executions that checking takes seconds (5 threads: about 4 s)."""
    init = " ".join(f"{t}:X0={t + 1}; {t}:X1=x;" for t in range(threads))
    head = " | ".join(f"P{t}" for t in range(threads))
    rows = [
        " | ".join("STR W0,[X1]" if r % 2 == 0 else f"LDR W{2 + r},[X1]" for _ in range(threads))
        for r in range(stores * 2)
    ]
    body = "".join(f" {row} ;\n" for row in rows)
    return f"AArch64 big\n{{ {init} }}\n {head} ;\n{body}exists (0:X3=0)\n"


def test_help_documents_every_exit_code() -> None:
    res = script("--help")
    assert res.code == 0
    text = " ".join(res.stdout.split())
    for needle in ("0 success", "1 a batch had errors or timeouts", "2 user error",
                   "3 internal error", "130 interrupted"):
        assert needle in text


def test_readme_documents_every_exit_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for code in ("`0`", "`1`", "`2`", "`3`", "`130`"):
        assert code in readme


def test_python_dash_m_is_the_same_entry_point(tmp_path: Path) -> None:
    (tmp_path / "broken.litmus").write_text(BROKEN)
    res = subprocess.run([sys.executable, "-m", "stalecheck", "litmus", str(tmp_path / "broken.litmus")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == ExitCode.USER_ERROR and "broken.litmus:4:" in res.stderr


def test_success_is_zero_whatever_the_verdict(tmp_path: Path) -> None:
    (tmp_path / "sb.litmus").write_text(SB)
    res = script("litmus", str(tmp_path / "sb.litmus"))
    assert res.code == ExitCode.OK and "Test SB Allowed" in res.stdout


def test_batch_with_an_error_exits_1_through_the_real_script(tmp_path: Path) -> None:
    (tmp_path / "good.litmus").write_text(SB)
    (tmp_path / "broken.litmus").write_text(BROKEN)
    res = script("litmus", str(tmp_path))
    assert res.code == ExitCode.BATCH_FAILED, res.stderr
    assert "Test SB Allowed" in res.stdout and "1 errors" in res.stderr


def test_batch_with_a_timeout_exits_1(tmp_path: Path) -> None:
    (tmp_path / "good.litmus").write_text(SB)
    (tmp_path / "big.litmus").write_text(_big_litmus())
    res = script("litmus", str(tmp_path), "--timeout", "0.001")
    assert res.code == ExitCode.BATCH_FAILED, res.stderr
    assert "timed out" in res.stderr


def test_single_file_timeout_is_a_timeout_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "big.litmus").write_text(_big_litmus())
    res = script("litmus", str(tmp_path / "big.litmus"), "--timeout", "0.001")
    assert res.code == ExitCode.BATCH_FAILED, res.stderr
    assert "timed out after 0.001 s" in res.stderr and "internal error" not in res.stderr


def test_internal_error_in_a_batch_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_a: object, **_k: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(batch, "check_test", crash)
    (tmp_path / "a.litmus").write_text(SB)
    (tmp_path / "b.litmus").write_text(SB.replace("AArch64 SB", "AArch64 SB2"))
    res = in_process("litmus", str(tmp_path))
    assert res.code == ExitCode.INTERNAL
    assert "internal error" in res.stderr and "simulated bug" in res.stderr


def test_internal_error_outside_a_batch_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    import stalecheck.cli as cli

    def crash(*_a: object, **_k: object) -> None:
        raise RuntimeError("simulated bug [/]")

    monkeypatch.setattr(cli, "load_scenario", crash)
    res = in_process("check", "kvm-external-l3")
    assert res.code == ExitCode.INTERNAL and "simulated bug [/]" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("litmus", "{tmp}/sb.litmus", "--timeout", "1e-5"),
        ("litmus", "{tmp}/sb.litmus", "--timeout", "inf"),
        ("litmus", "{tmp}/sb.litmus", "--timeout", "nan"),
        ("check", "kvm-external-l3", "--timeout", "inf"),
        ("explain", "kvm-external-l3", "clean-to-pou", "--", "-99"),
        ("explain", "kvm-external-l3", "clean-to-pou", "--", "-1/-1/-1"),
        ("check", "kvm-external-l3", "--no-such-option"),
        ("litmus", "{tmp}/missing.litmus"),
    ],
)
def test_user_errors_exit_2_without_traceback(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "sb.litmus").write_text(SB)
    res = script(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert res.code == ExitCode.USER_ERROR, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert res.stdout == ""
