"""Issue 14, part 2: user text comes back exactly as typed.

Rich reads ``[x]`` as markup and ``:warning:`` as an emoji; a ``[/]`` in a
bad-state description or a litmus line used to raise a MarkupError (traceback,
no JSON) and ``[x: L1.PE0=1* mem=0]`` vanished from witnesses.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalecheck.errors import ExitCode
from tests.badinput.cli_harness import SB, in_process, script, user_scenario

# Any printable text on one line: no control characters, no line or paragraph
# separators (they would start a new line of a file), no surrogates.
LINE = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40
)
NASTY = ["[/]", "[i]x[/i]", ":warning:", "[x: L1.PE0=1* mem=0]", "[bold red]", "\\[", "[link=x]y"]
TEXT = st.one_of(st.sampled_from(NASTY), LINE, st.lists(st.sampled_from(NASTY), min_size=2).map("".join))
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(text=TEXT)
def test_bad_state_text_is_byte_identical_in_json(tmp_path: Path, text: str) -> None:
    src = user_scenario(
        tmp_path,
        "    b.page('P0', 'X')\n"
        "    b.host('cpu', 'STR X, 1')\n"
        f"    b.bad_when(lambda v: v.done('cpu'), {text!r})\n",
    )
    res = in_process("check", str(src), "--json")
    assert res.code == ExitCode.OK, res.stderr
    doc = json.loads(res.stdout)
    assert doc["bad_state"] == text
    assert doc["verdict"] == "reachable"


@SETTINGS
@given(text=TEXT)
def test_bad_state_text_is_verbatim_in_the_witness_text(tmp_path: Path, text: str) -> None:
    src = user_scenario(
        tmp_path,
        "    b.page('P0', 'X')\n"
        "    b.host('cpu', 'STR X, 1')\n"
        f"    b.bad_when(lambda v: v.done('cpu'), {text!r})\n",
    )
    res = in_process("check", str(src))
    assert res.code == ExitCode.OK, res.stderr
    assert f"bad state: {text}" in res.stdout


@SETTINGS
@given(name=TEXT.map(lambda s: "".join(s.split())).filter(bool))
def test_litmus_name_is_byte_identical_in_json(tmp_path: Path, name: str) -> None:
    (tmp_path / "t.litmus").write_text(SB.replace("AArch64 SB", f"AArch64 {name}"), encoding="utf-8")
    res = in_process("litmus", str(tmp_path / "t.litmus"), "--json")
    assert res.code == ExitCode.OK, res.stderr
    (test,) = json.loads(res.stdout)["tests"]
    assert test["name"] == name


@SETTINGS
@given(text=TEXT)
def test_a_bad_litmus_line_is_quoted_verbatim(tmp_path: Path, text: str) -> None:
    """The line with the error comes back as typed, on stderr for one file and in
    the JSON ``message`` for a batch."""
    bad = SB.replace(" LDR W2,[X3] | LDR W2,[X3] ;", f" LDR W2,[X3] | LDR W2,[X3] ;\n [ {text}")
    line = f" [ {text}"
    (tmp_path / "a.litmus").write_text(bad, encoding="utf-8")
    one = in_process("litmus", str(tmp_path / "a.litmus"))
    assert one.code == ExitCode.USER_ERROR, one.stderr
    assert line.rstrip() in one.stderr
    (tmp_path / "b.litmus").write_text(SB, encoding="utf-8")
    both = in_process("litmus", str(tmp_path), "--json")
    assert both.code == ExitCode.BATCH_FAILED, both.stderr
    (failed,) = [t for t in json.loads(both.stdout)["tests"] if t["status"] == "error"]
    assert line.rstrip() in failed["message"]


def test_witness_copies_survive_in_explain_and_json() -> None:
    """``[X: L1.PE0=1* mem=0]`` used to be eaten as a markup tag."""
    first = script("check", "kvm-external-l3", "-v", "clean-to-pou", "--json")
    doc = json.loads(first.stdout)
    assert any("[X: L1.PE0=1* mem=0]" in step["text"] for step in doc["witness"])
    res = script("explain", "kvm-external-l3", "clean-to-pou", doc["replay"])
    assert res.code == ExitCode.OK
    assert "[X: L1.PE0=1* mem=0]" in res.stdout


def test_markup_in_names_and_errors_through_the_real_script(tmp_path: Path) -> None:
    src = user_scenario(
        tmp_path,
        "    b.page('P0', 'X')\n"
        "    b.host('cpu', 'STR X, 1')\n"
        "    b.bad_when(lambda v: v.done('cpu'), '[/] :warning: [i]x[/i]')\n",
    )
    res = script("check", str(src), "--json")
    assert res.code == ExitCode.OK, res.stderr
    assert json.loads(res.stdout)["bad_state"] == "[/] :warning: [i]x[/i]"
    res = script("check", str(src), "-v", "[/]:warning:")
    assert res.code == ExitCode.USER_ERROR and "'[/]:warning:'" in res.stderr
