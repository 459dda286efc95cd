"""Parse herd7 ``.litmus`` text into :mod:`stalecheck.litmus.ast` nodes.

The grammar lives in ``litmus.lark`` (package data) and is compiled once per
process with LALR and a contextual lexer, which is what makes parsing a
whole catalogue take milliseconds.  Syntax errors become ``InputError`` with
the file, line and column and the offending source line, so the CLI can draw
a caret under the spot.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from stalecheck.errors import InputError, Position, StalecheckError, UnsupportedError
from stalecheck.litmus import ast
from stalecheck.litmus.validate import validate


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("stalecheck.litmus").joinpath("litmus.lark").read_text()
    return Lark(
        grammar, parser="lalr", lexer="contextual", propagate_positions=True, cache=True
    )


def warm_up() -> None:
    """Build the parser now (e.g. before forking workers, so they inherit it)."""
    _parser()


def _int(text: str) -> int:
    return int(text, 0) if text.lower().startswith("0x") else int(text)


def _proc_number(token: Token) -> int:
    text = str(token)
    if text.endswith(".F"):
        raise UnsupportedError(
            f"fault handler {text} is not supported", Position("", token.line or 0, token.column or 0)
        )
    return int(text[1:])


def _span(meta: Any) -> tuple[int, int]:
    return (getattr(meta, "line", 0), getattr(meta, "column", 0))


class _ToAst(Transformer[Token, Any]):
    """Bottom-up rewrite of the lark tree into frozen dataclasses."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self._source = source

    # ---- shared atoms
    @v_args(inline=True)
    def signed_int(self, *parts: Token) -> int:
        sign = -1 if len(parts) == 2 and parts[0] == "-" else 1
        return sign * _int(str(parts[-1]))

    @v_args(inline=True)
    def loc_reg(self, proc: Token, reg: Token) -> ast.Location:
        return ast.RegLoc(_int(str(proc)), str(reg).upper())

    @v_args(inline=True)
    def loc_symreg(self, name: Token) -> ast.Location:
        return ast.SymRegLoc(str(name))

    @v_args(inline=True)
    def loc_global(self, name: Token) -> ast.Location:
        return ast.GlobalLoc(str(name))

    @v_args(inline=True)
    def loc_bracket(self, inner: ast.Location) -> ast.Location:
        return inner

    @v_args(inline=True)
    def loc_index(self, name: Token, index: Token) -> ast.Location:
        return ast.GlobalLoc(str(name), _int(str(index)))

    @v_args(inline=True)
    def loc_call(self, func: Token, arg: Token) -> ast.Location:
        return ast.CallLoc(str(func), str(arg))

    @v_args(inline=True)
    def loc_label(self, proc: Token, label: Token) -> ast.Location:
        return ast.LabelLoc(_proc_number(proc), str(label))

    @v_args(inline=True)
    def v_int(self, value: int) -> ast.Value:
        return ast.IntValue(value)

    @v_args(inline=True)
    def v_name(self, name: Token) -> ast.Value:
        return ast.NameValue(str(name))

    @v_args(inline=True)
    def v_addr(self, name: Token) -> ast.Value:
        return ast.NameValue(str(name))

    @v_args(inline=True)
    def v_tagged(self, name: Token, tag: Token) -> ast.Value:
        return ast.NameValue(str(name), str(tag))

    @v_args(inline=True)
    def v_label(self, proc: Token, label: Token) -> ast.Value:
        return ast.LabelValue(_proc_number(proc), str(label))

    @v_args(inline=True)
    def v_typed_string(self, kind: Token, text: Token) -> ast.Value:
        return ast.OtherValue(f"{kind}:{text}")

    @v_args(inline=True)
    def v_tag(self, tag: Token) -> ast.Value:
        return ast.OtherValue(f":{tag}")

    def v_array(self, items: list[int]) -> ast.Value:
        return ast.ArrayValue(tuple(items))

    @v_args(inline=True)
    def v_index(self, name: Token, index: Token) -> ast.Value:
        return ast.IndexValue(str(name), _int(str(index)))

    @v_args(inline=True)
    def v_proc(self, proc: Token) -> ast.Value:
        return ast.OtherValue(str(proc))

    def v_call(self, children: list[Any]) -> ast.Value:
        return ast.CallValue(str(children[0]), tuple(children[1:]))

    def v_record(self, children: list[Any]) -> ast.Value:
        return ast.RecordValue(tuple((str(name), value) for name, value in children))

    def v_typed_record(self, children: list[Any]) -> ast.Value:
        return ast.OtherValue(f"{children[0]}:(record)")

    def field(self, children: list[Any]) -> Any:
        return children

    # ---- init
    @v_args(inline=True)
    def type_plain(self, name: Token) -> tuple[str, bool]:
        return (str(name), False)

    @v_args(inline=True)
    def type_pointer(self, name: Token) -> tuple[str, bool]:
        return (str(name), True)

    @v_args(inline=True)
    def init_lhs(self, loc: ast.Location) -> ast.Location:
        return loc

    @v_args(inline=True)
    def tagged_lhs(self, name: Token, tag: Token) -> ast.Location:
        return ast.CallLoc("tag", f"{name}:{tag}")

    @v_args(inline=True)
    def init_value(self, value: ast.Value) -> ast.Value:
        return value

    @v_args(meta=True)
    def init_item(self, meta: Any, children: list[Any]) -> ast.InitItem:
        type_name: str | None = None
        pointer = False
        rest = list(children)
        if isinstance(rest[0], tuple):
            type_name, pointer = rest.pop(0)
        loc = rest[0]
        value = rest[1] if len(rest) > 1 else None
        line, col = _span(meta)
        return ast.InitItem(loc, type_name, pointer, value, line, col)

    def init(self, items: list[ast.InitItem]) -> tuple[ast.InitItem, ...]:
        return tuple(items)

    # ---- code
    @v_args(inline=True)
    def op_name(self, name: Token) -> ast.Operand:
        return ast.Reg(str(name))

    @v_args(inline=True)
    def op_symreg(self, name: Token) -> ast.Operand:
        return ast.Reg(str(name))

    @v_args(inline=True)
    def op_imm(self, value: int) -> ast.Operand:
        return ast.Imm(value)

    @v_args(inline=True)
    def op_shift(self, kind: Token, amount: int) -> ast.Operand:
        return ast.Shift(str(kind).upper(), amount)

    def op_mem(self, children: list[Any]) -> ast.Operand:
        bang = bool(children) and isinstance(children[-1], Token) and children[-1] == "!"
        parts = tuple(c for c in children if not isinstance(c, Token))
        return ast.Mem(parts, bang)

    @v_args(inline=True)
    def op_rel(self, sign: Token, value: Token) -> ast.Operand:
        return ast.RelLabel((-1 if sign == "-" else 1) * _int(str(value)))

    def op_list(self, children: list[Any]) -> ast.Operand:
        return ast.OperandList(tuple(children))

    @v_args(meta=True)
    def instruction(self, meta: Any, children: list[Any]) -> ast.Instruction:
        mnemonic = str(children[0]).upper()
        line, col = _span(meta)
        start = getattr(meta, "start_pos", 0)
        end = getattr(meta, "end_pos", start)
        text = " ".join(self._source[start:end].split())
        return ast.Instruction(mnemonic, tuple(children[1:]), text, line, col)

    @v_args(inline=True)
    def label_def(self, name: Token) -> str:
        return str(name)

    @v_args(meta=True)
    def cell(self, meta: Any, children: list[Any]) -> ast.CodeLine:
        labels = tuple(c for c in children if isinstance(c, str))
        instrs = [c for c in children if isinstance(c, ast.Instruction)]
        line = instrs[0].line if instrs else getattr(meta, "line", 0)
        return ast.CodeLine(labels, instrs[0] if instrs else None, line)

    @v_args(meta=True)
    def code_row(self, meta: Any, cells: list[ast.CodeLine]) -> tuple[int, list[ast.CodeLine]]:
        return (getattr(meta, "line", 0), cells)

    def proc_row(self, procs: list[Token]) -> list[tuple[int, Token]]:
        return [(int(str(p)[1:].removesuffix(".F")), p) for p in procs]

    def program(self, children: list[Any]) -> tuple[ast.Thread, ...]:
        columns = children[0]
        rows: list[tuple[int, list[ast.CodeLine]]] = children[1:]
        procs = [(proc, token) for proc, token in columns if not str(token).endswith(".F")]
        for index, (proc, token) in enumerate(procs):
            if proc != index:
                raise InputError(
                    f"threads must be numbered P0, P1, ... in order; found P{proc}",
                    Position("", token.line or 0, token.column or 0),
                )
        handlers: dict[int, int] = {}  # thread -> its handler's column
        for index, (proc, token) in enumerate(columns):
            if str(token).endswith(".F"):
                if proc >= len(procs) or proc in handlers:
                    raise InputError(f"fault handler column {token} names no thread, or twice",
                                     Position("", token.line or 0, token.column or 0))
                handlers[proc] = index
        code: list[list[ast.CodeLine]] = [[] for _ in columns]
        for row_line, row in rows:
            if len(row) > len(columns):
                raise InputError(
                    f"code row has {len(row)} columns but there are {len(columns)} threads",
                    Position("", row_line or row[-1].line, 0),
                )
            for index, cell in enumerate(row):
                if cell.labels or cell.instruction is not None:
                    code[index].append(cell)
        main = [k for k, (_, token) in enumerate(columns) if not str(token).endswith(".F")]
        return tuple(
            ast.Thread(proc, tuple(code[k]),
                       tuple(code[handlers[proc]]) if proc in handlers else ())
            for (proc, _), k in zip(procs, main, strict=True)
        )

    # ---- condition
    @v_args(inline=True)
    def p_eq(self, loc: ast.Location, value: ast.Value) -> ast.Prop:
        return ast.Eq(loc, value)

    @v_args(inline=True)
    def p_ne(self, loc: ast.Location, value: ast.Value) -> ast.Prop:
        return ast.Not(ast.Eq(loc, value))

    @v_args(inline=True)
    def p_not(self, prop: ast.Prop) -> ast.Prop:
        return ast.Not(prop)

    def p_true(self, _: list[Any]) -> ast.Prop:
        return ast.Const(True)

    def p_false(self, _: list[Any]) -> ast.Prop:
        return ast.Const(False)

    def p_call(self, children: list[Any]) -> ast.Prop:
        return ast.Call(str(children[0]), tuple(children[1:]))

    def conjunction(self, props: list[ast.Prop]) -> ast.Prop:
        return ast.And(tuple(props))

    def disjunction(self, props: list[ast.Prop]) -> ast.Prop:
        return ast.Or(tuple(props))

    @v_args(inline=True)
    def implication(self, left: ast.Prop, right: ast.Prop) -> ast.Prop:
        return ast.Implies(left, right)

    def q_exists(self, _: list[Any]) -> str:
        return "exists"

    def q_not_exists(self, _: list[Any]) -> str:
        return "~exists"

    def q_forall(self, _: list[Any]) -> str:
        return "forall"

    @v_args(meta=True)
    def condition(self, meta: Any, children: list[Any]) -> ast.Condition:
        return ast.Condition(children[0], children[1], getattr(meta, "line", 0))

    def location_entry(self, children: list[Any]) -> ast.Location:
        location: ast.Location = children[0]
        return location

    @v_args(meta=True)
    def locations(self, meta: Any, children: list[ast.Location]) -> tuple[str, tuple[ast.Location, ...], int]:
        return ("locations", tuple(children), getattr(meta, "line", 0))

    @v_args(meta=True)
    def filter(self, meta: Any, children: list[ast.Prop]) -> tuple[str, ast.Prop, int]:
        return ("filter", children[0], getattr(meta, "line", 0))

    # ---- whole file
    @v_args(inline=True)
    def header(self, arch: Token, name: Token) -> tuple[str, str]:
        # herd7 drops a ``.litmus`` suffix from the name (``Test X``, ``Observation X``).
        return (str(arch), str(name).removesuffix(".litmus"))

    @v_args(inline=True)
    def info(self, token: Token) -> tuple[str, str, str, int]:
        text = str(token)
        key, eq, value = text.partition("=")
        line = token.line or 0
        if eq and not text.startswith('"') and key.strip().isidentifier():
            return ("info", key.strip(), value.strip(), line)
        return ("info", "doc", text.strip('"'), line)

    def start(self, children: list[Any]) -> dict[str, Any]:
        header, *rest = children
        info_rows = [c for c in rest if isinstance(c, tuple) and c and c[0] == "info"]
        infos = [(c[1], c[2]) for c in info_rows]
        tuples = [c for c in rest if isinstance(c, tuple)]
        init = next(c for c in tuples if not c or isinstance(c[0], ast.InitItem))
        threads = next(c for c in tuples if c and isinstance(c[0], ast.Thread))
        locations: tuple[ast.Location, ...] = ()
        filt: ast.Prop | None = None
        cond: ast.Condition | None = None
        locations_line = filter_line = 0
        for c in rest:
            if isinstance(c, ast.Condition):
                if cond is not None:  # herd keeps one; silently taking the last hid a typo
                    raise InputError(
                        f"a second final condition (the first is on line {cond.line})",
                        Position("", c.line, 0),
                    )
                cond = c
            elif isinstance(c, tuple) and c and c[0] == "locations":
                locations = locations + c[1]
                locations_line = locations_line or c[2]
            elif isinstance(c, tuple) and c and c[0] == "filter":
                if filt is not None:
                    raise InputError(
                        f"a second filter (the first is on line {filter_line})", Position("", c[2], 0)
                    )
                filt, filter_line = c[1], c[2]
        return {
            "arch": header[0], "name": header[1], "info": tuple(infos),
            "info_lines": tuple(c[3] for c in info_rows), "init": init,
            "threads": threads, "locations": locations, "filter": filt, "condition": cond,
            "locations_line": locations_line, "filter_line": filter_line,
        }


# Known mistakes, recognised by the parser state they leave lark in (lark's
# ``match_examples``), so the message says what is wrong rather than which
# tokens were expected.  Each example is a minimal file showing the mistake.
_HEAD = "AArch64 T\n{ 0:X1=x; }\n P0 ;\n"
_MISTAKES: dict[str, list[str]] = {
    "a code row must end with ';'": [
        _HEAD + " MOV W0,#1\n MOV W1,#2 ;\nexists (0:X0=1)\n",
        "AArch64 T\n{ }\n P0 | P1 ;\n MOV W0,#1 | MOV W1,#1\n MOV W0,#1 | MOV W1,#1 ;\n",
        _HEAD + " LDR W0,[X1]\n MOV W1,#2 ;\nexists (0:X0=1)\n",
        _HEAD + " MOV W0,W1\n MOV W1,#2 ;\nexists (0:X0=1)\n",
        _HEAD + " ADD W0,W0,W1\n MOV W1,#2 ;\nexists (0:X0=1)\n",
        _HEAD + " NOP\n MOV W1,#2 ;\nexists (0:X0=1)\n",
        _HEAD + " DMB SY\n MOV W1,#2 ;\nexists (0:X0=1)\n",
    ],
    "unclosed '[' in a memory operand": [
        _HEAD + " LDR W0,[X1 ;\nexists (0:X0=1)\n",
        _HEAD + " LDR W0,[X1,#4 ;\nexists (0:X0=1)\n",
    ],
    "the initial state must be closed with '}' before the code": [
        "AArch64 T\n{ 0:X1=x;\n P0 ;\n MOV W0,#1 ;\n",
    ],
    "a register or location in the condition needs '=' and a value": [
        _HEAD + " MOV W0,#1 ;\nexists (0:X0)\n",
        _HEAD + " MOV W0,#1 ;\nexists (0:X0=)\n",
    ],
}


def _known_mistake(exc: UnexpectedInput) -> str | None:
    try:
        label = exc.match_examples(_parser().parse, _MISTAKES, use_accepts=True)
    except Exception:  # a table entry that parses or breaks: never hide the real error
        return None
    return label if isinstance(label, str) else None


def _expected_text(exc: UnexpectedInput) -> str:
    expected = sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or [])
    names = [e.strip('"') if e.startswith('"') else e.lower() for e in expected][:8]
    return f"; expected one of: {', '.join(names)}" if names else ""


def parse_litmus(text: str, path: str = "<string>") -> ast.LitmusTest:
    """Parse one litmus file's text; raise ``InputError`` with a position on bad syntax."""
    lines = text.splitlines()

    def line_of(n: int) -> str | None:
        return lines[n - 1] if 0 < n <= len(lines) else None

    try:
        tree: Tree[Token] = _parser().parse(text)
    except UnexpectedEOF as exc:
        last = len(lines)
        raise InputError(
            f"unexpected end of file{_expected_text(exc)}", Position(path, last, 0)
        ) from None
    except UnexpectedCharacters as exc:
        raise InputError(
            f"unexpected character {exc.char!r}{_expected_text(exc)}",
            Position(path, exc.line, exc.column),
            line_of(exc.line),
        ) from None
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        shown = repr(str(token)) if token is not None and str(token) else "end of input"
        mistake = _known_mistake(exc)
        raise InputError(
            f"{mistake} (unexpected {shown})" if mistake else
            f"unexpected {shown}{_expected_text(exc)}",
            Position(path, exc.line, exc.column),
            line_of(exc.line),
        ) from None
    _check_nesting(tree, path, line_of)
    try:
        parts = _ToAst(text).transform(tree)
    except VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, StalecheckError):
            pos = inner.position
            line = pos.line if pos else 0
            raise type(inner)(
                inner.message,
                Position(path, line, pos.column if pos else 0),
                line_of(line),
            ) from None
        if isinstance(inner, ValueError | OverflowError):
            meta = getattr(exc.obj, "meta", None)
            line = getattr(meta, "line", 0)
            raise InputError(
                f"malformed {exc.rule}: {inner}",
                Position(path, line, getattr(meta, "column", 0)),
                line_of(line),
            ) from None
        raise
    if parts["arch"] != "AArch64":
        raise UnsupportedError(
            f"architecture {parts['arch']} is not supported (only AArch64)", Position(path, 1, 1)
        )
    test = ast.LitmusTest(path=path, source=text, **parts)
    validate(test)
    return test


# Deeper than this is no hand-written test; the tree is transformed recursively,
# so a limit here keeps a 1,000-deep ``((((`` an input error, not a RecursionError.
MAX_NESTING = 100


def _check_nesting(tree: Tree[Token], path: str, line_of: Any) -> None:
    """Refuse a parse tree deeper than ``MAX_NESTING``, at the first node too deep
    (walked with an explicit stack: recursion is what the limit guards against)."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            line, column = _span(node.meta) if not node.meta.empty else (0, 0)
            raise InputError(
                f"nested more than {MAX_NESTING} levels deep", Position(path, line, column), line_of(line)
            )
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


# herd's largest tests are a few kilobytes; a megabyte is a generated file at most.
MAX_FILE_BYTES = 1 << 20


def read_text_file(p: Path, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """A small regular UTF-8 file's text.  A FIFO would block and ``/dev/zero``
    never ends, so anything but a regular file is refused before it is opened,
    and at most ``limit`` bytes are read."""
    try:
        if not p.is_file():
            raise InputError(f"not a regular file, so not a {what}", Position(str(p)))
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", Position(str(p))) from None
    if len(data) > limit:
        raise InputError(f"larger than {limit:,} bytes, too large for a {what}", Position(str(p)))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", Position(str(p))) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads it


def parse_file(path: Path | str) -> ast.LitmusTest:
    """Read and parse a ``.litmus`` file (UTF-8, undecodable bytes are an input error)."""
    p = Path(path)
    return parse_litmus(read_text_file(p, "litmus file"), str(p))
