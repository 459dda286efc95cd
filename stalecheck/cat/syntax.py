"""The abstract syntax of cat models: plain frozen records, one per construct.

Every node carries the position of its first character, so that the
interpreter can say *where* a model asks for something it cannot do
(an unsupported construct, an unbound name, a type mismatch).  The names
follow herd's own AST (``lib/AST.mli``) so that a reader who knows herd
finds the same constructs here.
"""

from __future__ import annotations

from dataclasses import dataclass

from stalecheck.errors import Position


@dataclass(frozen=True, slots=True)
class Pattern:
    """Formal parameters: one name (``f x``) or a tuple (``f(x, y)``); ``None`` is ``_``."""

    names: tuple[str | None, ...]
    is_tuple: bool


# ------------------------------------------------------------------ expressions


@dataclass(frozen=True, slots=True)
class Var:
    pos: Position
    name: str


@dataclass(frozen=True, slots=True)
class Konst:
    """``0`` (the empty relation or set) or ``_`` (the universe)."""

    pos: Position
    kind: str  # "empty" | "universe"


@dataclass(frozen=True, slots=True)
class Tag:
    pos: Position
    name: str


@dataclass(frozen=True, slots=True)
class ExplicitSet:
    """``{e1, e2}``; ``{}`` is the empty set of any kind."""

    pos: Position
    items: tuple[Exp, ...]


@dataclass(frozen=True, slots=True)
class Op1:
    pos: Position
    op: str  # "star" | "plus" | "opt" | "inv" | "comp" | "toid"
    arg: Exp


@dataclass(frozen=True, slots=True)
class Op:
    pos: Position
    op: str  # "union" | "seq" | "inter" | "diff" | "cartesian" | "add" | "tuple"
    args: tuple[Exp, ...]


@dataclass(frozen=True, slots=True)
class App:
    pos: Position
    fun: Exp
    arg: Exp


@dataclass(frozen=True, slots=True)
class Fun:
    pos: Position
    params: Pattern
    body: Exp
    name: str


@dataclass(frozen=True, slots=True)
class Binding:
    pos: Position
    pattern: Pattern
    exp: Exp


@dataclass(frozen=True, slots=True)
class Bind:
    """``let [rec] b1 and b2 in body``."""

    pos: Position
    bindings: tuple[Binding, ...]
    body: Exp
    recursive: bool


@dataclass(frozen=True, slots=True)
class Try:
    pos: Position
    exp: Exp
    default: Exp


@dataclass(frozen=True, slots=True)
class VariantName:
    pos: Position
    name: str


@dataclass(frozen=True, slots=True)
class VariantNot:
    arg: VariantExp


@dataclass(frozen=True, slots=True)
class VariantBin:
    op: str  # "and" | "or"
    left: VariantExp
    right: VariantExp


VariantExp = VariantName | VariantNot | VariantBin


@dataclass(frozen=True, slots=True)
class Cond:
    """The condition of an expression-level ``if``: a variant test or a comparison."""

    pos: Position
    kind: str  # "variant" | "eq" | "subset" | "in"
    variant: VariantExp | None = None
    left: Exp | None = None
    right: Exp | None = None


@dataclass(frozen=True, slots=True)
class If:
    pos: Position
    cond: Cond
    then: Exp
    orelse: Exp


@dataclass(frozen=True, slots=True)
class Match:
    """``match e with 'tag -> e || ... || _ -> e end``."""

    pos: Position
    exp: Exp
    clauses: tuple[tuple[str, Exp], ...]
    default: Exp | None


@dataclass(frozen=True, slots=True)
class MatchSet:
    """``match s with {} -> e1 || x ++ rest -> e2 end``: split a set into one element and the rest."""

    pos: Position
    exp: Exp
    if_empty: Exp
    elt: str | None
    rest: str | None
    if_elt: Exp


Exp = (
    Var | Konst | Tag | ExplicitSet | Op1 | Op | App | Fun | Bind | Try | If | Match | MatchSet
)


# ------------------------------------------------------------------ instructions


@dataclass(frozen=True, slots=True)
class Let:
    pos: Position
    bindings: tuple[Binding, ...]
    recursive: bool


@dataclass(frozen=True, slots=True)
class Check:
    """``[flag|assert] [~]acyclic|irreflexive|empty e [as name]``."""

    pos: Position
    kind: str  # "check" | "flag" | "assert"
    test: str  # "acyclic" | "irreflexive" | "empty"
    negated: bool
    exp: Exp
    name: str | None


@dataclass(frozen=True, slots=True)
class Include:
    pos: Position
    path: str


@dataclass(frozen=True, slots=True)
class Procedure:
    pos: Position
    name: str
    params: Pattern
    body: tuple[Ins, ...]


@dataclass(frozen=True, slots=True)
class Call:
    pos: Position
    name: str
    arg: Exp
    as_name: str | None


@dataclass(frozen=True, slots=True)
class WithFrom:
    """``with x from S``: one candidate execution per member of S, with x bound to it."""

    pos: Position
    name: str
    exp: Exp


@dataclass(frozen=True, slots=True)
class IfVariant:
    pos: Position
    cond: VariantExp
    then: tuple[Ins, ...]
    orelse: tuple[Ins, ...]


@dataclass(frozen=True, slots=True)
class Show:
    """``show``/``unshow``: drawing directives, no effect on verdicts."""

    pos: Position


@dataclass(frozen=True, slots=True)
class Unsupported:
    """Valid cat that this interpreter does not evaluate (refused when reached)."""

    pos: Position
    what: str


Ins = Let | Check | Include | Procedure | Call | WithFrom | IfVariant | Show | Unsupported


@dataclass(frozen=True, slots=True)
class Model:
    """One parsed cat file: its name (if any), the catdep option, and its instructions."""

    path: str
    name: str
    catdep: bool
    body: tuple[Ins, ...]
