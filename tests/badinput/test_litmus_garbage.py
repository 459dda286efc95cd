"""Issue 14, parts 3 and 7 (litmus): what herd7 refuses is refused, with its
position, and nothing reaches an internal error (exit 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stalecheck.errors import ExitCode, InputError
from stalecheck.litmus.parser import parse_litmus
from tests.badinput.cli_harness import SB, in_process, script

HEAD = "AArch64 T\n{ 0:X1=x; }\n P0 ;\n MOV W0,#1 ;\n"


def _with(old: str, new: str) -> str:
    assert old in HEAD
    return HEAD.replace(old, new)


# (test text, what the message says, line, column (0: the message names the line only))
REFUSED = [
    (_with("W0,#1", "Wibble,#1") + "exists (0:X0=1)\n", "Wibble is not an AArch64 register", 4, 2),
    (_with("W0,#1", "X0x10,#1") + "exists (0:X0=1)\n", "X0x10 is not an AArch64 register", 4, 2),
    (_with("MOV W0,#1", "LDR X99,[X1]") + "exists (0:X0=1)\n", "X99 is not an AArch64 register", 4, 2),
    (HEAD + "exists (9:X0=1)\n", "thread 9 does not exist", 5, 0),
    (HEAD + "locations [9:X0;]\nexists (0:X0=1)\n", "thread 9 does not exist", 5, 0),
    (HEAD + "exists (0:X0=1)\nexists (0:X0=2)\n", "a second final condition", 6, 0),
    ("AArch64 T\n{ 0:X1=x; }\n P0 ;\n L1: MOV W0,#1 ;\n L1: MOV W0,#2 ;\nexists (0:X0=1)\n",
     "label L1 is defined twice", 5, 0),
    (HEAD + "exists (0:X0=18446744073709551617)\n", "does not fit in 64 bits", 5, 0),
    (HEAD + "exists (0:X0=-9223372036854775809)\n", "does not fit in 64 bits", 5, 0),
    (_with("#1", "#123456789012345678901") + "exists (0:X0=1)\n", "does not fit in 64 bits", 4, 2),
    (_with("W0,#1", "W0,#9999999999") + "exists (0:X0=1)\n", "a W register holds 32 bits", 4, 2),
    (_with("MOV W0,#1", "MOVK X0,#1,LSL #9999999999") + "exists (0:X0=1)\n", "shift amount", 4, 2),
    (_with("MOV W0,#1", "MOVK X0,#1,LSL #8") + "exists (0:X0=1)\n", "LSL #0, #16, #32 or #48", 4, 2),
    (_with("MOV W0,#1", "LSL X0,X0,#64") + "exists (0:X0=1)\n", "out of range (0 to 63)", 4, 2),
    ("AArch64 T\n{ x=1; int x[0]; }\n P0 ;\n MOV W0,#1 ;\nexists (0:X0=1)\n", "array x has 0 elements", 2, 8),
    ("AArch64 T\n{ int x[99999999]; }\n P0 ;\n MOV W0,#1 ;\nexists (0:X0=1)\n", "99999999 elements", 2, 3),
    ("AArch64 T\n{ x=1; int x[2]; }\n P0 ;\n MOV W0,#1 ;\nexists (0:X0=1)\n", "already declared", 2, 8),
    ("AArch64 T\n{ x[5000]=1; }\n P0 ;\n MOV W0,#1 ;\nexists (0:X0=1)\n", "index 5000 of x", 2, 3),
    ("AArch64 T\n{ 0:X1=x; }\n P0 ;\n L1: MOV W0,#1 ;\nexists (0:X0=label:\"0!L1\")\n",
     'label:"0!L1" must name a thread and a label', 5, 0),
    (HEAD + "exists " + "(0:X0=1 => " * 1000 + "0:X0=1" + ")" * 1000 + "\n", "nested more than", 5, 0),
    (HEAD + "exists " + "~" * 1000 + "0:X0=1\n", "nested more than", 5, 0),
    ("AArch64 T\n{ 0:X1=x; }\n P0 ;\n MOV W0,#1 | MOV W1,#1 ;\nexists (0:X0=1)\n",
     "code row has 2 columns", 4, 0),
]


@pytest.mark.parametrize(("text", "needle", "line", "column"), REFUSED, ids=[r[1][:30] for r in REFUSED])
def test_refused_with_its_position(tmp_path: Path, text: str, needle: str, line: int, column: int) -> None:
    src = tmp_path / "t.litmus"
    src.write_text(text)
    res = in_process("litmus", str(src))
    assert res.code == ExitCode.USER_ERROR, res.stderr
    where = f"{src}:{line}:{column}:" if column else f"{src}:{line}:"
    assert where in res.stderr and needle in res.stderr, res.stderr


def test_a_filter_that_removes_every_execution_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "t.litmus"
    src.write_text(HEAD + "filter (0:X0=2)\nexists (0:X0=1)\n")
    res = in_process("litmus", str(src))
    assert res.code == ExitCode.USER_ERROR
    assert f"{src}:5:" in res.stderr and "the filter removes all 1 executions" in res.stderr


def test_a_filter_that_keeps_some_executions_is_fine(tmp_path: Path) -> None:
    src = tmp_path / "t.litmus"
    src.write_text(SB.replace("exists", "filter (0:X2=0)\nexists"))
    res = in_process("litmus", str(src))
    assert res.code == ExitCode.OK, res.stderr
    assert "Test SB Allowed" in res.stdout


def test_values_at_the_64_bit_limits_are_accepted() -> None:
    for value in ("18446744073709551615", "-9223372036854775808", "0xffffffffffffffff"):
        parse_litmus(HEAD + f"exists (0:X0={value})\n")
    parse_litmus(_with("MOV W0,#1", "MOVK X0,#1,LSL #48") + "exists (0:X0=1)\n")
    parse_litmus("AArch64 T\n{ int x[4096]; 0:X1=x; }\n P0 ;\n MOV W0,#1 ;\nexists (0:X0=1)\n")


def test_symbolic_and_label_operands_are_not_registers() -> None:
    """Operands that look like names (labels, locations, system registers) are left alone."""
    parse_litmus("AArch64 T\n{ 0:X1=x; }\n P0 ;\n B Wfoo ;\n Wfoo: MOV W0,#1 ;\nexists (0:X0=1)\n")
    parse_litmus(_with("MOV W0,#1", "MRS X0,TPIDR_EL0") + "exists (0:X0=1)\n")


def test_a_long_conjunction_is_linear(tmp_path: Path) -> None:
    """16,000 atoms took 27 s (a membership test per atom over the atom list)."""
    import time

    src = tmp_path / "t.litmus"
    src.write_text(HEAD + "exists (" + " /\\ ".join(["0:X0=1"] * 16000) + ")\n")
    start = time.process_time()
    res = in_process("litmus", str(src))
    assert res.code == ExitCode.OK, res.stderr
    assert time.process_time() - start < 15  # was 27 s quadratic; about 2 s now


@pytest.mark.parametrize("bad", ["0!L1", "P0", "P0:", ":L1", "x:L1"])
def test_malformed_label_values_are_input_errors(bad: str) -> None:
    with pytest.raises(InputError):
        parse_litmus(HEAD.replace("MOV", "L1: MOV") + f'exists (0:X0=label:"{bad}")\n')


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = script("litmus", str(tmp_path / "empty"))
    assert res.code == ExitCode.USER_ERROR and "no .litmus files" in res.stderr


def test_empty_index_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "@none").write_text("# nothing here\n")
    res = in_process("litmus", str(tmp_path / "@none"))
    assert res.code == ExitCode.USER_ERROR and "name no litmus tests" in res.stderr
