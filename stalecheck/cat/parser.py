"""Parse cat files into :mod:`stalecheck.cat.syntax` records.

The grammar (``cat.lark``, package data) is LALR(1), built once per process.
herd's comments nest (``(* a (* b *) c *)``), so they are blanked out before
lexing, character for character, which keeps every error position exact.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import lark
from lark import Token, Transformer, v_args

from stalecheck.cat import syntax as s
from stalecheck.errors import InputError, Position, UnsupportedError


def blank_comments(text: str, path: str) -> str:
    """Replace ``(* ... *)`` (nested), ``//`` and ``#`` comments by spaces, keeping newlines."""
    out: list[str] = []
    depth = 0
    i = 0
    n = len(text)
    start_line = 0
    line = 1
    in_string = False
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        if depth == 0:
            if in_string:
                in_string = c != '"'
                out.append(c)
                i += 1
                continue
            if c == '"':
                in_string = True
            elif text.startswith("(*", i):
                depth = 1
                start_line = line
                out.append("  ")
                i += 2
                continue
            elif text.startswith("//", i) or c == "#":
                j = text.find("\n", i)
                j = n if j < 0 else j
                out.append(" " * (j - i))
                i = j
                continue
            out.append(c)
            i += 1
            continue
        if text.startswith("(*", i):
            depth += 1
            out.append("  ")
            i += 2
        elif text.startswith("*)", i):
            depth -= 1
            out.append("  ")
            i += 2
        else:
            out.append("\n" if c == "\n" else " ")
            i += 1
    if depth:
        raise InputError("unterminated comment", Position(path, start_line, 1))
    return "".join(out)


@cache
def _lark() -> lark.Lark:
    grammar = resources.files("stalecheck.cat").joinpath("cat.lark").read_text()
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _spell(terminal: str) -> str:
    """A terminal as the user would type it: ``';'`` rather than ``SEMICOLON``."""
    try:
        pattern = _lark().get_terminal(terminal).pattern
    except KeyError:
        return terminal
    if isinstance(pattern, lark.lexer.PatternStr):
        return repr(pattern.value)
    return {"VAR": "a name", "TAG": "a tag", "STRING": "a string", "NEG_TEST": "'~empty'"}.get(
        terminal, terminal.lower())


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    return repr(str(token))


def parse_text(text: str, path: str) -> s.Model:
    """Parse one cat file's text; syntax errors carry ``path:line:col`` and the line."""
    lines = text.splitlines()
    clean = blank_comments(text, path)
    try:
        tree = _lark().parse(clean)
    except lark.exceptions.UnexpectedToken as e:
        pos = Position(path, e.line, e.column)
        expected = ", ".join(sorted(_spell(name) for name in e.expected)[:10])
        raise InputError(
            f"syntax error: unexpected {_describe(e.token)} (expected one of {expected})",
            pos,
            lines[e.line - 1] if 0 < e.line <= len(lines) else None,
        ) from None
    except lark.exceptions.UnexpectedCharacters as e:
        pos = Position(path, e.line, e.column)
        raise InputError(
            f"syntax error: unexpected character {e.char!r}",
            pos,
            lines[e.line - 1] if 0 < e.line <= len(lines) else None,
        ) from None
    except lark.exceptions.UnexpectedEOF as e:  # pragma: no cover - LALR reports UnexpectedToken
        raise InputError("syntax error: unexpected end of file", Position(path, len(lines), 1)) from e
    model: s.Model = _ToAst(path).transform(tree)
    return model


def parse_file(path: Path) -> s.Model:
    try:
        text = path.read_text()
    except OSError as e:
        raise InputError(f"cannot read cat file: {e.strerror}", Position(str(path))) from None
    return parse_text(text, str(path))


def _pattern(formals: list[str | None], is_tuple: bool) -> s.Pattern:
    if len(formals) == 1:  # herd: `f(x)` binds x to the whole argument, like `f x`
        return s.Pattern((formals[0],), False)
    return s.Pattern(tuple(formals), True)


def _name(tok: Token | str) -> str:
    return str(tok)


class _ToAst(Transformer):  # type: ignore[type-arg]
    """Tree -> syntax records; ``meta`` gives each node its first line and column."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def _pos(self, meta: object) -> Position:
        return Position(self.path, getattr(meta, "line", 0), getattr(meta, "column", 0))

    def _tpos(self, tok: Token) -> Position:
        return Position(self.path, tok.line or 0, tok.column or 0)

    # ----- file

    @v_args(meta=True)
    def start(self, meta: object, children: list[Any]) -> s.Model:
        name, catdep = children[0]
        return s.Model(self.path, name, catdep, tuple(children[1:]))

    def header_names(self, children: list[Any]) -> tuple[str, bool]:
        catdep = any(isinstance(c, lark.Tree) and c.data == "catdep" for c in children)
        names = [str(c).strip('"') for c in children if isinstance(c, Token)]
        return (names[-1] if names else ""), catdep

    # ----- instructions

    @v_args(meta=True)
    def let(self, meta: object, children: list[Any]) -> s.Let:
        return s.Let(self._pos(meta), children[0], False)

    @v_args(meta=True)
    def let_rec(self, meta: object, children: list[Any]) -> s.Ins:
        pos = self._pos(meta)
        if len(children) > 2 or (len(children) == 2 and children[1] is not None):
            return s.Unsupported(pos, "'let rec ... when' (a recursion with a test)")
        return s.Let(pos, children[1] if isinstance(children[0], Token) else children[0], True)

    def binds(self, children: list[Any]) -> tuple[s.Binding, ...]:
        return tuple(children)

    def when(self, children: list[Any]) -> str:
        return "when"

    @v_args(meta=True)
    def bind_tuple(self, meta: object, children: list[Any]) -> s.Binding:
        return s.Binding(self._pos(meta), _pattern(children[0], True), children[1])

    @v_args(meta=True)
    def bind_names(self, meta: object, children: list[Any]) -> s.Binding:
        return s.Binding(self._pos(meta), _pattern(children[0], False), children[1])

    @v_args(meta=True)
    def bind_fun1(self, meta: object, children: list[Any]) -> s.Binding:
        pos = self._pos(meta)
        name = _name(children[0])
        fun = s.Fun(pos, s.Pattern((children[1],), False), children[2], name)
        return s.Binding(pos, s.Pattern((name,), False), fun)

    @v_args(meta=True)
    def bind_fun(self, meta: object, children: list[Any]) -> s.Binding:
        pos = self._pos(meta)
        name = _name(children[0])
        fun = s.Fun(pos, _pattern(children[1], True), children[2], name)
        return s.Binding(pos, s.Pattern((name,), False), fun)

    def formals(self, children: list[Any]) -> list[str | None]:
        return children[0] if children else []

    def formals_n(self, children: list[Any]) -> list[str | None]:
        return list(children)

    def pat0(self, children: list[Any]) -> str | None:
        tok = children[0]
        return None if tok.type == "UNDERSCORE" else str(tok)

    @v_args(meta=True)
    def check(self, meta: object, children: list[Any]) -> s.Ins:
        pos = self._pos(meta)
        kind = "check"
        i = 0
        if isinstance(children[0], lark.Tree) and children[0].data == "test_type":
            kind = str(children[0].children[0])
            i = 1
        test_tok = children[i].children[0]
        exp = children[i + 1]
        name = str(children[i + 2]) if len(children) > i + 2 else None
        if kind == "undefined_unless":
            return s.Unsupported(pos, "'undefined_unless'")
        text = str(test_tok)
        negated = text.startswith("~")
        test = text.lstrip("~").strip()
        return s.Check(pos, kind, test, negated, exp, name)

    @v_args(meta=True)
    def show_as(self, meta: object, children: list[Any]) -> s.Show:
        return s.Show(self._pos(meta))

    @v_args(meta=True)
    def show(self, meta: object, children: list[Any]) -> s.Show:
        return s.Show(self._pos(meta))

    unshow = show

    def var_list(self, children: list[Any]) -> list[str]:
        return [str(c) for c in children]

    @v_args(meta=True)
    def include(self, meta: object, children: list[Any]) -> s.Include:
        return s.Include(self._pos(meta), str(children[0]).strip('"'))

    @v_args(meta=True)
    def procedure(self, meta: object, children: list[Any]) -> s.Procedure:
        if isinstance(children[0], Token) and children[0].type == "REC":
            children = children[1:]
        name, formals, *body = children
        return s.Procedure(self._pos(meta), str(name), _pattern(formals, True), tuple(body))

    @v_args(meta=True)
    def procedure1(self, meta: object, children: list[Any]) -> s.Procedure:
        if isinstance(children[0], Token) and children[0].type == "REC":
            children = children[1:]
        name, param, *body = children
        return s.Procedure(self._pos(meta), str(name), s.Pattern((param,), False), tuple(body))

    @v_args(meta=True)
    def call(self, meta: object, children: list[Any]) -> s.Call:
        as_name = str(children[2]) if len(children) > 2 else None
        return s.Call(self._pos(meta), str(children[0]), children[1], as_name)

    @v_args(meta=True)
    def with_from(self, meta: object, children: list[Any]) -> s.WithFrom:
        return s.WithFrom(self._pos(meta), str(children[0]), children[1])

    @v_args(meta=True)
    def if_variant(self, meta: object, children: list[Any]) -> s.IfVariant:
        cond, *rest = children
        orelse: tuple[s.Ins, ...] = ()
        if rest and isinstance(rest[-1], tuple):
            orelse = rest.pop()
        return s.IfVariant(self._pos(meta), cond, tuple(rest), orelse)

    def else_body(self, children: list[Any]) -> tuple[s.Ins, ...]:
        return tuple(children)

    def _unsupported(self, meta: object, what: str) -> s.Unsupported:
        return s.Unsupported(self._pos(meta), what)

    @v_args(meta=True)
    def forall(self, meta: object, children: list[Any]) -> s.Unsupported:
        return self._unsupported(meta, "'forall'")

    @v_args(meta=True)
    def debug(self, meta: object, children: list[Any]) -> s.Unsupported:
        return self._unsupported(meta, "'debug'")

    @v_args(meta=True)
    def enum(self, meta: object, children: list[Any]) -> s.Unsupported:
        return self._unsupported(meta, "'enum' declarations")

    @v_args(meta=True)
    def ins_match(self, meta: object, children: list[Any]) -> s.Unsupported:
        return self._unsupported(meta, "instruction-level 'match'")

    @v_args(meta=True)
    def bell_events(self, meta: object, children: list[Any]) -> s.Unsupported:
        return self._unsupported(meta, "bell declarations ('instructions'/'default')")

    def ins_clause(self, children: list[Any]) -> None:
        return None

    # ----- variants and conditions

    @v_args(meta=True)
    def v_name(self, meta: object, children: list[Any]) -> s.VariantName:
        return s.VariantName(self._pos(meta), str(children[0]).strip('"'))

    def v_not(self, children: list[Any]) -> s.VariantNot:
        return s.VariantNot(children[0])

    def v_and(self, children: list[Any]) -> s.VariantBin:
        return s.VariantBin("and", children[0], children[1])

    def v_or(self, children: list[Any]) -> s.VariantBin:
        return s.VariantBin("or", children[0], children[1])

    @v_args(meta=True)
    def cond_variant(self, meta: object, children: list[Any]) -> s.Cond:
        return s.Cond(self._pos(meta), "variant", variant=children[0])

    @v_args(meta=True)
    def cond_eq(self, meta: object, children: list[Any]) -> s.Cond:
        return s.Cond(self._pos(meta), "eq", left=children[0], right=children[1])

    @v_args(meta=True)
    def cond_subset(self, meta: object, children: list[Any]) -> s.Cond:
        return s.Cond(self._pos(meta), "subset", left=children[0], right=children[1])

    @v_args(meta=True)
    def cond_in(self, meta: object, children: list[Any]) -> s.Cond:
        return s.Cond(self._pos(meta), "in", left=children[0], right=children[1])

    # ----- expressions

    @v_args(meta=True)
    def let_in(self, meta: object, children: list[Any]) -> s.Bind:
        return s.Bind(self._pos(meta), children[0], children[1], False)

    @v_args(meta=True)
    def let_rec_in(self, meta: object, children: list[Any]) -> s.Bind:
        return s.Bind(self._pos(meta), children[0], children[1], True)

    @v_args(meta=True)
    def fun1(self, meta: object, children: list[Any]) -> s.Fun:
        return s.Fun(self._pos(meta), s.Pattern((children[0],), False), children[1], "*fun*")

    @v_args(meta=True)
    def fun(self, meta: object, children: list[Any]) -> s.Fun:
        return s.Fun(self._pos(meta), _pattern(children[0], True), children[1], "*fun*")

    @v_args(meta=True)
    def try_(self, meta: object, children: list[Any]) -> s.Try:
        return s.Try(self._pos(meta), children[0], children[1])

    @v_args(meta=True)
    def if_(self, meta: object, children: list[Any]) -> s.If:
        return s.If(self._pos(meta), children[0], children[1], children[2])

    @v_args(meta=True)
    def match_tag(self, meta: object, children: list[Any]) -> s.Match:
        clauses, default = children[1]
        return s.Match(self._pos(meta), children[0], clauses, default)

    def tag_clauses(self, children: list[Any]) -> tuple[tuple[tuple[str, s.Exp], ...], s.Exp | None]:
        default = None
        if children and isinstance(children[-1], tuple) and children[-1][0] is None:
            default = children.pop()[1]
        return tuple(children), default

    def tag_clause(self, children: list[Any]) -> tuple[str, s.Exp]:
        return str(children[0]).lstrip("'"), children[1]

    def default_clause(self, children: list[Any]) -> tuple[None, s.Exp]:
        return None, children[0]

    @v_args(meta=True)
    def match_set(self, meta: object, children: list[Any]) -> s.Exp:
        pos = self._pos(meta)
        (empty,), elt = children[1]
        if elt[0] == "pre_post":
            raise UnsupportedError("unsupported cat construct: 'match' clause 'x | y ++ z'", pos)
        _, x, rest, body = elt
        return s.MatchSet(pos, children[0], empty, x, rest, body)

    def set_clauses(self, children: list[Any]) -> tuple[Any, ...]:
        a, b = children
        return (a, b) if isinstance(a, list) else (b, a)

    def empty_clause(self, children: list[Any]) -> list[Any]:
        return [children[0]]

    def elt_rem(self, children: list[Any]) -> tuple[Any, ...]:
        return ("rem", children[0], children[1], children[2])

    def elt_pre_post(self, children: list[Any]) -> tuple[Any, ...]:
        return ("pre_post", *children)

    @v_args(meta=True)
    def tuple(self, meta: object, children: list[Any]) -> s.Op:
        return s.Op(self._pos(meta), "tuple", tuple(children))

    def _op(self, meta: object, op: str, children: list[Any]) -> s.Op:
        args: list[s.Exp] = []
        for c in children:  # flatten associative chains as herd does
            if op in ("union", "seq") and isinstance(c, s.Op) and c.op == op:
                args.extend(c.args)
            else:
                args.append(c)
        return s.Op(self._pos(meta), op, tuple(args))

    @v_args(meta=True)
    def union(self, meta: object, children: list[Any]) -> s.Op:
        return self._op(meta, "union", children)

    @v_args(meta=True)
    def seq(self, meta: object, children: list[Any]) -> s.Op:
        return self._op(meta, "seq", children)

    @v_args(meta=True)
    def add(self, meta: object, children: list[Any]) -> s.Op:
        return self._op(meta, "add", children)

    @v_args(meta=True)
    def diff(self, meta: object, children: list[Any]) -> s.Op:
        return self._op(meta, "diff", children)

    @v_args(meta=True)
    def inter(self, meta: object, children: list[Any]) -> s.Op:
        return self._op(meta, "inter", children)

    @v_args(meta=True)
    def cartesian(self, meta: object, children: list[Any]) -> s.Op:
        return self._op(meta, "cartesian", children)

    def _op1(self, meta: object, op: str, children: list[Any]) -> s.Op1:
        return s.Op1(self._pos(meta), op, children[0])

    @v_args(meta=True)
    def comp(self, meta: object, children: list[Any]) -> s.Op1:
        return self._op1(meta, "comp", children)

    @v_args(meta=True)
    def star(self, meta: object, children: list[Any]) -> s.Op1:
        return self._op1(meta, "star", children)

    @v_args(meta=True)
    def plus(self, meta: object, children: list[Any]) -> s.Op1:
        return self._op1(meta, "plus", children)

    @v_args(meta=True)
    def opt(self, meta: object, children: list[Any]) -> s.Op1:
        return self._op1(meta, "opt", children)

    @v_args(meta=True)
    def inv(self, meta: object, children: list[Any]) -> s.Op1:
        return self._op1(meta, "inv", children)

    @v_args(meta=True)
    def toid(self, meta: object, children: list[Any]) -> s.Op1:
        return self._op1(meta, "toid", children)

    @v_args(meta=True)
    def apply(self, meta: object, children: list[Any]) -> s.App:
        return s.App(self._pos(meta), children[0], children[1])

    def var(self, children: list[Any]) -> s.Var:
        tok = children[0]
        return s.Var(self._tpos(tok), str(tok))

    @v_args(meta=True)
    def empty(self, meta: object, children: list[Any]) -> s.Konst:
        return s.Konst(self._pos(meta), "empty")

    @v_args(meta=True)
    def universe(self, meta: object, children: list[Any]) -> s.Konst:
        return s.Konst(self._pos(meta), "universe")

    def tag(self, children: list[Any]) -> s.Tag:
        tok = children[0]
        return s.Tag(self._tpos(tok), str(tok).lstrip("'"))

    @v_args(meta=True)
    def explicit_set(self, meta: object, children: list[Any]) -> s.ExplicitSet:
        return s.ExplicitSet(self._pos(meta), tuple(children[0]))

    def args(self, children: list[Any]) -> list[Any]:
        return list(children)

    @v_args(meta=True)
    def unit(self, meta: object, children: list[Any]) -> s.Op:
        return s.Op(self._pos(meta), "tuple", ())
