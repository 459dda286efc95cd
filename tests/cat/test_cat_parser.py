"""The cat parser: herd's vendored models parse, precedences are herd's, errors carry positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from stalecheck.cat import syntax as s
from stalecheck.cat.parser import blank_comments, parse_text
from stalecheck.cat.program import vendored_dir
from stalecheck.errors import InputError

MODELS = sorted(vendored_dir().glob("*.cat"))


def test_vendored_models_are_present_with_their_licence() -> None:
    names = {p.name for p in MODELS}
    assert {"aarch64.cat", "stdlib.cat", "cos.cat", "cross.cat", "enumerations.cat"} <= names
    assert (vendored_dir() / "LICENSE-herdtools7.txt").is_file()
    assert "5feffe4e8f98d93b60144a3cda322eba92dd9723" in (vendored_dir() / "README.md").read_text()


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_every_vendored_model_parses(path: Path) -> None:
    model = parse_text(path.read_text(), str(path))
    assert model.body


def _exp(text: str) -> s.Exp:
    model = parse_text(f"let x = {text}", "t.cat")
    ins = model.body[0]
    assert isinstance(ins, s.Let)
    return ins.bindings[0].exp


def _shape(e: s.Exp) -> object:
    if isinstance(e, s.Var):
        return e.name
    if isinstance(e, s.Op):
        return (e.op, *(_shape(a) for a in e.args))
    if isinstance(e, s.Op1):
        return (e.op, _shape(e.arg))
    if isinstance(e, s.App):
        return ("app", _shape(e.fun), _shape(e.arg))
    return type(e).__name__


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        # herd: `|` < `++` < `;` < `\` (left) < `&` (right) < postfix/`*` < `^-1`
        ("a | b ; c", ("union", "a", ("seq", "b", "c"))),
        ("a ; b | c ; d", ("union", ("seq", "a", "b"), ("seq", "c", "d"))),
        ("a \\ b \\ c", ("diff", ("diff", "a", "b"), "c")),
        ("a \\ b & c", ("diff", "a", ("inter", "b", "c"))),
        ("a & b * c", ("inter", "a", ("cartesian", "b", "c"))),
        ("a * b \\ loc", ("diff", ("cartesian", "a", "b"), "loc")),
        ("r^-1 ; s+", ("seq", ("inv", "r"), ("plus", "s"))),
        ("tr-ib^-1", ("inv", "tr-ib")),
        ("~a & b", ("inter", ("comp", "a"), "b")),
        ("[R & EX]; po", ("seq", ("toid", ("inter", "R", "EX")), "po")),
        ("domain(po; [F])", ("app", "domain", ("seq", "po", ("toid", "F")))),
        ("f x y", ("app", ("app", "f", "x"), "y")),
        ("iico_data*", ("star", "iico_data")),
        ("sca-class?", ("opt", "sca-class")),
    ],
)
def test_precedence_follows_herd(text: str, shape: object) -> None:
    assert _shape(_exp(text)) == shape


def test_nested_comments_are_blanked_keeping_positions() -> None:
    text = "(* a (* b *) c *)let\n(* x *) y = z"
    clean = blank_comments(text, "t.cat")
    assert len(clean) == len(text)
    assert clean.splitlines()[0].endswith("let")
    assert clean.splitlines()[1].strip() == "y = z"


def test_syntax_error_has_file_line_and_column() -> None:
    with pytest.raises(InputError) as err:
        parse_text("let a = po\nlet b = (a |\n", "bad.cat")
    assert str(err.value.position) == "bad.cat:2:12"  # after the last token
    assert "end of file" in err.value.message
    with pytest.raises(InputError) as err:
        parse_text("let a = po ;; rf", "bad.cat")
    assert str(err.value.position) == "bad.cat:1:13"
    assert "unexpected ';'" in err.value.message


def test_unterminated_comment_is_reported_where_it_starts() -> None:
    with pytest.raises(InputError) as err:
        parse_text("let a = po\n(* never closed", "bad.cat")
    assert str(err.value.position) == "bad.cat:2:1"


def test_checks_names_and_negation() -> None:
    model = parse_text("flag ~empty a as warn\nacyclic po | rf as ext\nirreflexive b", "t.cat")
    flag, acyc, irr = model.body
    assert isinstance(flag, s.Check) and flag.kind == "flag" and flag.negated and flag.name == "warn"
    assert isinstance(acyc, s.Check) and acyc.test == "acyclic" and acyc.name == "ext"
    assert isinstance(irr, s.Check) and irr.name is None and not irr.negated


def test_header_name_and_catdep() -> None:
    assert parse_text('"My model"\ncatdep\nlet a = po', "t.cat").catdep
    assert parse_text("AArch64Fences\nlet a = po", "t.cat").name == "AArch64Fences"
