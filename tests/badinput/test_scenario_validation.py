"""Issue 14, parts 3, 6 and 7 (scenarios): every builder call is checked when it
is made, and every error names the user's file and line (and column where it
has one), including programs given as module constants and calls spread over
several lines.  Nothing a user writes reaches an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from stalecheck.errors import ExitCode
from tests.badinput.cli_harness import in_process, script, user_scenario

OK = (
    "    b.page('P0', 'X')\n"
    "    b.host('cpu', 'STR X, 1')\n"
    "    b.bad_when(lambda v: v.done('cpu'), 'done')\n"
)
FIRST = 6  # the body starts on line FIRST + 1 (with the two-line HEADER)


def _body(*lines: str, bad: bool = True) -> str:
    tail = "    b.bad_when(lambda v: v.done('cpu'), 'done')\n" if bad else ""
    return "".join(f"    {line}\n" for line in lines) + tail


# (builder body, what the message says, line of the mistake relative to FIRST)
REFUSED = [
    (_body("b.system(pes=0)", "b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')"), "pes=0", 0),
    (_body("b.system(pes='2')", "b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')"), "expected a number", 0),
    (_body("b.system(louu=9)", "b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')"), "levels are 0 to 7", 0),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'DC CISW L3, X')"), "no cache level 'L3' in this system", 1),
    (_body("b.page('P0', 'X')", "b.guest('cpu', 'STR X, 1', vm='nope')"), "no VM named 'nope'", 1),
    (_body("b.page('P0', 'X:a,b')", "b.host('cpu', 'STR X, 1')"), "line 'X' has sub-blocks", 1),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'MAP P0')"), "only a guest's", 1),
    (_body("b.page('P0', 'X')", "b.vm('vm')", "b.guest('cpu', 'MAP P9', vm='vm')"), "no page named 'P9'", 2),
    (_body("b.page('P0', 'X')", "b.vm('vm', hcr=5)", "b.guest('cpu', 'STR X, 1', vm='vm')"), "hcr=5", 1),
    (_body("b.page('P0', 'X')", "b.vm('vm', stage1={'X': 'wb'})", "b.guest('cpu', 'STR X, 1', vm='vm')"),
     "stage1['X']='wb'", 1),
    (_body("b.page('P0', 'X')", "b.vm('vm', stage1={'Q': NORMAL_WB})",
           "b.guest('cpu', 'LDR r1, X', vm='vm')"), "not a declared line", 1),
    (_body("b.page('P0', 'X')", "b.vm('vm', mapped=('P7',))", "b.guest('cpu', 'LDR r1, X', vm='vm')"),
     "mapped page 'P7' is not declared", 1),
    (_body("b.page('P0', 'X')", "b.vm('vm', on_stage2_fault='poc')", "b.guest('cpu', 'LDR r1, X', vm='vm')"),
     "expected a policy", 1),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')", "b.init(X=[1])"), "X=[1]", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')", "b.init(X='one')"), "X='one'", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')", "b.init(Xx=1)"),
     "'Xx' is not a declared location", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')", "b.init(X=2**64)"), "0 to 2**64-1", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')", "b.host('cpu', 'LDR r1, X')"),
     "thread 'cpu' is declared twice (first at line 8)", 2),
    (_body("b.page('P0', 'X')", "b.page('P1', 'X')", "b.host('cpu', 'STR X, 1')"),
     "line 'X' is declared twice", 1),
    (_body("b.page('P0', 'X')", "b.vm('vm')", "b.guest('cpu', 'STR X, 1', vm='vm', sctlr=(7, 9, 2))"),
     "sctlr=(7, 9, 2)", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1', pe=3)"),
     "starts on PE3, but the system has PE0 to PE0", 1),
    (_body("b.page('P0', 'X')", "b.vm('vm', on_stage2_fault=map_on_fault(clean='pou2'))",
           "b.guest('cpu', 'LDR r1, X', vm='vm')"), "map_on_fault(clean='pou2')", 1),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')", "b.options(max_migration=2)"),
     "unknown option 'max_migration'", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')", "b.options(nc_reads_may_hit=1)"),
     "nc_reads_may_hit=1: expected True or False", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')", "b.bad_when(3, 'x')", bad=False),
     "expected a function", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'STR X, 1')", "b.host_type('Q', DEVICE)"),
     "host_type('Q', ...): not a declared line", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'LDR r1, X')",
           "b.bad_when(lambda v: v.done('cpu') and 1 / 0, 'boom')", bad=False),
     "ZeroDivisionError", 2),
    (_body("b.page('P0', 'X')", "b.host('cpu', 'LDR r1, X')",
           "b.bad_when(lambda v: v.reg('cpu', 'r9') == 1, 'no such register')", bad=False),
     "never loads into register 'r9'", 2),
]

HEADER = (
    "from stalecheck.machine.memtypes import DEVICE, NORMAL_WB\n"
    "from stalecheck.scenarios.support.policies import map_on_fault\n"
)


@pytest.mark.parametrize(("body", "needle", "offset"), REFUSED, ids=[r[1][:32] for r in REFUSED])
def test_refused_at_the_users_line(tmp_path: Path, body: str, needle: str, offset: int) -> None:
    src = user_scenario(tmp_path, body, header=HEADER)
    res = in_process("check", str(src))
    assert res.code == ExitCode.USER_ERROR, res.stderr
    assert needle in res.stderr, res.stderr
    assert f"{src}:{FIRST + 1 + offset}:" in res.stderr or f"{src}:{FIRST + 1 + offset}\n" in res.stderr, (
        res.stderr
    )
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr


def test_the_control_case_runs(tmp_path: Path) -> None:
    src = user_scenario(tmp_path, OK, header=HEADER)
    res = in_process("check", str(src))
    assert res.code == ExitCode.OK, res.stderr


def test_a_program_given_as_a_module_constant_is_placed_in_the_constant(tmp_path: Path) -> None:
    src = user_scenario(
        tmp_path,
        "    b.page('P0', 'X')\n"
        "    b.host(\n"
        "        'cpu',\n"
        "        PROG,\n"
        "    )\n"
        "    b.bad_when(lambda v: False, 'never')\n",
        header='PROG = """STR X, 1\nLDR r1, Q"""\n',
    )
    res = in_process("check", str(src))
    assert res.code == ExitCode.USER_ERROR
    assert f"{src}:3:1: unknown location 'Q'" in res.stderr, res.stderr  # PROG's second line
    assert "LDR r1, Q" in res.stderr


def test_a_call_spread_over_lines_is_placed_in_its_program(tmp_path: Path) -> None:
    src = user_scenario(
        tmp_path,
        "    b.page('P0', 'X')\n"
        "    b.host('cpu',\n"
        '           """STR X, 1\n'
        "LDR r1, X\n"
        'DC CISW L3, X""")\n'
        "    b.bad_when(lambda v: False, 'never')\n",
    )
    res = in_process("check", str(src))
    assert res.code == ExitCode.USER_ERROR
    assert f"{src}:9:1: DC CISW L3, X: no cache level 'L3'" in res.stderr, res.stderr


def test_a_syntax_error_on_the_calls_line_is_placed_at_its_column(tmp_path: Path) -> None:
    src = user_scenario(tmp_path, "    b.page('P0', 'X')\n    b.host('cpu', 'STR X 1')\n")
    res = script("check", str(src))
    assert res.code == ExitCode.USER_ERROR
    assert f"{src}:6:26:" in res.stderr  # the '1' in the file, not column 7 of the program
    assert "    b.host('cpu', 'STR X 1')\n" in res.stderr and "^" in res.stderr


def test_a_file_with_no_variants_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "empty.py"
    src.write_text(
        "from stalecheck.scenarios.builder import Scenario\nSCENARIO = Scenario('empty', 'nothing')\n"
    )
    res = script("check", str(src))
    assert res.code == ExitCode.USER_ERROR and "declares no variants" in res.stderr


def test_a_bad_variant_declaration_is_placed(tmp_path: Path) -> None:
    src = tmp_path / "bad.py"
    src.write_text(
        "from stalecheck.scenarios.builder import Builder, Scenario\n"
        "SCENARIO = Scenario('bad', 'bad expect')\n"
        "@SCENARIO.variant('v', expect='maybe')\n"
        "def _(b: Builder) -> None:\n"
        "    pass\n"
    )
    res = in_process("check", str(src))
    assert res.code == ExitCode.USER_ERROR and f"{src}:3" in res.stderr


def test_a_fifo_named_py_is_refused(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "case.py")
    res = script("check", str(tmp_path / "case.py"), timeout=60)
    assert res.code == ExitCode.USER_ERROR and "not a regular file" in res.stderr


def test_litmus_locations_errors_point_at_the_locations_line(tmp_path: Path) -> None:
    src = tmp_path / "t.litmus"
    src.write_text("AArch64 T\n{ 0:X1=x; }\n P0 ;\n MOV W0,#1 ;\nlocations [zz;]\n\nexists (0:X0=1)\n")
    res = in_process("litmus", str(src))
    assert res.code == ExitCode.USER_ERROR
    assert f"{src}:5:" in res.stderr and "zz" in res.stderr, res.stderr
