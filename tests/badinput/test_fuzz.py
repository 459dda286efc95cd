"""Issue 14, part 6: fuzzing in the suite.

Three hypothesis strategies (litmus text, scenario files, command lines) each
draw either an input that is valid by construction, which must be accepted
(exit 0: a checker that refuses everything fails here), or a mutant of one,
which may be refused, but only as a user error with a position: never an
internal error, never a traceback.  ``make fuzz`` runs the same tests with
``STALECHECK_FUZZ_EXAMPLES`` raised (the default keeps ``make test`` quick).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalecheck.axiomatic.check import check_test
from stalecheck.errors import ExitCode, InputError, StalecheckError, UnsupportedError
from stalecheck.litmus.parser import parse_litmus
from tests.badinput.cli_harness import in_process

SCALE = int(os.environ.get("STALECHECK_FUZZ_EXAMPLES", "0") or 0)


def _examples(default: int) -> settings:
    return settings(
        max_examples=SCALE or default,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=not SCALE,  # make test: the same inputs every run; make fuzz: new ones
    )


# ------------------------------------------------------------------ litmus text

AND = " /\\ "


@st.composite
def litmus_valid(draw: st.DrawFn) -> str:
    """A small well-formed AArch64 litmus test: 1-2 threads of 1-3 plain accesses."""
    n = draw(st.integers(1, 2))
    locs = ["x", "y"]
    init = []
    columns = []
    for t in range(n):
        init.append(f"{t}:X1=x; {t}:X3=y;")
        code = []
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["mov", "str", "ldr", "dmb"]))
            reg = draw(st.sampled_from(["W0", "W2", "W4"]))
            addr = draw(st.sampled_from(["X1", "X3"]))
            code.append({
                "mov": f"MOV {reg},#{draw(st.integers(0, 3))}",
                "str": f"STR {reg},[{addr}]",
                "ldr": f"LDR {reg},[{addr}]",
                "dmb": "DMB SY",
            }[kind])
        columns.append(code)
    rows = max(len(c) for c in columns)
    table = [" | ".join(f"P{t}" for t in range(n)) + " ;"]
    for r in range(rows):
        table.append(" | ".join(c[r] if r < len(c) else "" for c in columns) + " ;")
    atoms = [
        f"{draw(st.integers(0, n - 1))}:X{draw(st.sampled_from([0, 2, 4]))}={draw(st.integers(0, 3))}"
        for _ in range(draw(st.integers(1, 3)))
    ] + ([f"{draw(st.sampled_from(locs))}={draw(st.integers(0, 3))}"] if draw(st.booleans()) else [])
    quant = draw(st.sampled_from(["exists", "~exists", "forall"]))
    cond = f"{quant} ({AND.join(atoms)})"
    return f"AArch64 F\n{{ {' '.join(init)} }}\n" + "\n".join(f" {row}" for row in table) + f"\n{cond}\n"


NASTY_TOKENS = [
    "Wibble", "X99", "X0x10", "#99999999999999999999999", "#-1", "[", "]", "{", "}", "(", ")", ";", "|",
    "=>", "/\\", "\\/", "~", "label:\"0!L1\"", "9:X0=1", "int x[0];", "int x[99999999];", "P7", "L1:",
    "exists", "filter", "locations [", "\x00", "\ufeff", "[/]", ":warning:", "0x", "LSL #64",
    "MOVK X0,#1,LSL #9",
]


@st.composite
def litmus_mutant(draw: st.DrawFn) -> str:
    text = draw(litmus_valid())
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 8)))
        piece = draw(st.one_of(st.sampled_from(NASTY_TOKENS), st.text(max_size=4)))
        if op == "insert":
            text = text[:i] + piece + text[i:]
        elif op == "delete":
            text = text[:i] + text[j:]
        else:
            text = text[:i] + piece + text[j:]
    return text


@_examples(700)
@given(text=litmus_valid())
def test_valid_litmus_is_accepted(text: str) -> None:
    result = check_test(parse_litmus(text, "fuzz.litmus"), keep_witness=False)
    assert result.verdict in ("Allowed", "Forbidden", "Required")


@_examples(700)
@given(text=litmus_mutant())
def test_mutated_litmus_is_checked_or_refused_with_a_position(text: str) -> None:
    try:
        check_test(parse_litmus(text, "fuzz.litmus"), keep_witness=False)
    except (InputError, UnsupportedError) as exc:
        assert exc.position is not None and exc.position.path == "fuzz.litmus", exc.render()
        exc.render()
    except StalecheckError as exc:  # any other user error must be placed too
        assert exc.position is not None, exc.render()


# ------------------------------------------------------------------ scenario files

HEAD = "from stalecheck.scenarios.builder import Builder, Scenario\nSCENARIO = Scenario('fz', 'fuzz')\n"


@st.composite
def scenario_valid(draw: st.DrawFn) -> list[str]:
    """Builder calls of a small valid system: 1-2 PEs, 1-2 lines, 1-2 host threads."""
    pes = draw(st.integers(1, 2))
    lines = ["X", "Y"][: draw(st.integers(1, 2))]
    calls = [f"b.system(pes={pes})", f"b.page('P0', '{' '.join(lines)}')"]
    threads = []
    for t in range(draw(st.integers(1, 2))):
        prog = []
        for _ in range(draw(st.integers(1, 3))):
            loc = draw(st.sampled_from(lines))
            prog.append(draw(st.sampled_from([f"STR {loc}, {draw(st.integers(0, 3))}", f"LDR r1, {loc}",
                                             "DSB SY", f"DC CIVAC {loc}", "DMB ISH"])))
        threads.append(f"t{t}")
        calls.append(f"b.host('t{t}', {chr(10).join(prog)!r}, pe={draw(st.integers(0, pes - 1))})")
    calls.append(f"b.bad_when(lambda v: v.done('{threads[0]}'), 'first thread done')")
    return calls


BAD_CALLS = [
    "b.system(pes=0)", "b.system(pes='2')", "b.page('P0', 'X')", "b.init(Q=1)", "b.init(X='one')",
    "b.options(bogus=True)", "b.vm('vm', hcr=5)", "b.guest('g', 'LDR r1, X', vm='none')",
    "b.host('t0', 'STR X 1')", "b.host('h', 'MAP P0')", "b.host('h', 'DC CISW L3, X')",
    "b.bad_when(3, 'x')", "b.host('h', 'LDR r1, NOPE')", "b.host_type('Q', None)", "b.system(louu=9)",
    "b.bad_when(lambda v: v.reg('t0', 'r9') == 0, 'x')", "b.page('P9', '')", "raise ValueError('user')",
]


@st.composite
def scenario_mutant(draw: st.DrawFn) -> list[str]:
    calls = draw(scenario_valid())
    for _ in range(draw(st.integers(1, 2))):
        i = draw(st.integers(0, len(calls)))
        bad = draw(st.sampled_from(BAD_CALLS))
        if draw(st.booleans()) and i < len(calls):
            calls[i] = bad
        else:
            calls.insert(i, bad)
    return calls


def _run_scenario(calls: list[str]) -> tuple[int, str, Path]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "fz.py"
        body = "".join(f"    {c}\n" for c in calls)
        src.write_text(HEAD + "@SCENARIO.variant('v')\ndef _(b: Builder) -> None:\n" + body)
        res = in_process("check", str(src), "--max-states", "3000", "--json")
        return res.code, res.stderr, src


@_examples(150)
@given(calls=scenario_valid())
def test_valid_scenarios_are_explored(calls: list[str]) -> None:
    code, err, _ = _run_scenario(calls)
    assert code == ExitCode.OK, err


@_examples(250)
@given(calls=scenario_mutant())
def test_mutated_scenarios_are_explored_or_refused_at_a_line(calls: list[str]) -> None:
    code, err, src = _run_scenario(calls)
    assert code in (ExitCode.OK, ExitCode.USER_ERROR), err
    if code == ExitCode.USER_ERROR:
        assert f"{src}:" in err, err  # the user's file and line
    assert "internal error" not in err and "Traceback" not in err


# ------------------------------------------------------------------ command lines

GOOD_ARGV = st.one_of(
    st.tuples(st.just("check"), st.just("kvm-external-l3"), st.just("-v"), st.just("clean-to-pou"),
              st.sampled_from(
                  ["--json", "--max-states=200", "--timeout=5", "--max-memory=8G", "--store=digest"]
              )),
    st.tuples(st.just("explain"), st.just("kvm-external-l3"), st.just("clean-to-pou"),
              st.sampled_from(["0", "0/0", "0/0/0"])),
    st.tuples(st.just("scenarios")),
)
BAD_VALUES = ["0", "-1", "nan", "inf", "1e-9", "abc", "", "99999999999999999999", "[/]", "--", "4X", "-0"]
OPTIONS = ["--max-states", "--timeout", "--max-memory", "--store", "-v", "--json", "--jobs", "-j", "--bogus"]


@st.composite
def argv_mutant(draw: st.DrawFn) -> list[str]:
    argv = list(draw(GOOD_ARGV))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(1, len(argv)))
        option = draw(st.sampled_from(OPTIONS))
        value = draw(st.sampled_from(BAD_VALUES))
        argv[i:i] = [option, value] if option != "--json" else [option]
    if argv[0] == "check" and "--max-states" not in " ".join(argv):
        argv += ["--max-states", "200"]  # a mutant may drop -v: keep every run short
    return argv


@_examples(150)
@given(argv=GOOD_ARGV)
def test_valid_command_lines_succeed(argv: tuple[str, ...]) -> None:
    res = in_process(*argv)
    assert res.code == ExitCode.OK, res.stderr


@_examples(300)
@given(argv=argv_mutant())
def test_mutated_command_lines_fail_cleanly(argv: list[str]) -> None:
    res = in_process(*argv)
    assert res.code in (ExitCode.OK, ExitCode.BATCH_FAILED, ExitCode.USER_ERROR), (argv, res.stderr)
    if res.code == ExitCode.USER_ERROR:  # names the option, the argument or the input at fault
        assert "Error:" in res.stderr or "error:" in res.stderr, res.stderr
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr
