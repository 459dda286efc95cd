"""Evaluate cat expressions: environments, closures, application, ``match``, ``let rec``.

Semantics follow herd's interpreter (``lib/interpreter.ml``, read as the
specification of the language): closures capture their environment when
they are created; ``let rec`` over relations or sets is a least fixpoint
reached by iteration from the empty value, over functions a recursive
closure; ``try e with d`` gives ``d`` when ``e`` fails (an unbound name, a
type error); ``match`` on a set splits off one element.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stalecheck.cat import syntax as s
from stalecheck.cat.freevars import free_exp
from stalecheck.cat.values import (
    EMPTY,
    UNIVERSE,
    Algebra,
    CatTypeError,
    CatUnsupported,
    Primitive,
    Rel,
    TagV,
    Value,
    VSet,
    describe,
)
from stalecheck.errors import InputError, Position, UnsupportedError


class CatFailure(Exception):
    """A recoverable evaluation failure (``try ... with`` catches it)."""

    def __init__(self, message: str, pos: Position) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos

    def as_error(self) -> InputError:
        return InputError(f"cat model error: {self.message}", self.pos)


class Scope:
    """A chain of frames; the root frame of the model's top level is ``live`` (still growing)."""

    __slots__ = ("live", "parent", "vars")

    def __init__(self, vars: dict[str, Value], parent: Scope | None = None, live: bool = False) -> None:
        self.vars = vars
        self.parent = parent
        self.live = live

    def lookup(self, name: str) -> Value:
        scope: Scope | None = self
        while scope is not None:
            v = scope.vars.get(name, _MISSING)
            if v is not _MISSING:
                return v
            scope = scope.parent
        raise KeyError(name)

    def child(self, vars: dict[str, Value]) -> Scope:
        return Scope(vars, self)

    def captured(self) -> Scope:
        """This chain with a live root replaced by a snapshot (closures see the past, not the future)."""
        if self.parent is None:
            return Scope(dict(self.vars)) if self.live else self
        parent = self.parent.captured()
        return self if parent is self.parent else Scope(self.vars, parent)


_MISSING = object()
#: Suffix of the hidden name that keeps a closed ``let rec``'s edges before closure
#: (``ob`` -> ``ob#base``); ``#`` cannot occur in a cat name.
BASE = "#base"


@dataclass(eq=False, slots=True)
class Closure:
    params: s.Pattern
    body: s.Exp
    env: Scope
    name: str
    memo: dict[Any, Value] | None = None  # for closures created before any rf/co choice


@dataclass(eq=False, slots=True)
class Proc:
    params: s.Pattern
    body: tuple[s.Ins, ...]
    env: Scope
    name: str


@dataclass
class Evaluator:
    """Expression evaluation for one universe of events and one set of variants."""

    alg: Algebra
    variants: frozenset[str]
    memoise: bool = False  # set while evaluating what depends on no rf/co choice
    fixpoint_limit: int = field(default=10_000)

    # ----- variants

    def variant(self, v: s.VariantExp) -> bool:
        if isinstance(v, s.VariantName):
            return v.name.lower() in self.variants
        if isinstance(v, s.VariantNot):
            return not self.variant(v.arg)
        if v.op == "and":
            return self.variant(v.left) and self.variant(v.right)
        return self.variant(v.left) or self.variant(v.right)

    # ----- expressions

    def eval(self, e: s.Exp, scope: Scope) -> Value:
        alg = self.alg
        try:
            if isinstance(e, s.Var):
                try:
                    return scope.lookup(e.name)
                except KeyError:
                    raise CatFailure(f"unbound name {e.name}", e.pos) from None
            if isinstance(e, s.Op):
                op = e.op
                if op == "seq":
                    return self.seq(e.args, scope)
                args = [self.eval(a, scope) for a in e.args]
                if op == "union":
                    return alg.union(args)
                if op == "inter":
                    return alg.inter(args[0], args[1])
                if op == "diff":
                    return alg.diff(args[0], args[1])
                if op == "cartesian":
                    return alg.cartesian(args[0], args[1])
                if op == "add":
                    return alg.add(args[0], args[1])
                return tuple(args)  # "tuple"
            if isinstance(e, s.Op1):
                v = self.eval(e.arg, scope)
                return _OP1[e.op](alg, v)
            if isinstance(e, s.App):
                f = self.eval(e.fun, scope)
                arg = self.eval(e.arg, scope)
                return self.apply(f, arg, e.pos)
            if isinstance(e, s.Konst):
                return EMPTY if e.kind == "empty" else UNIVERSE
            if isinstance(e, s.Tag):
                return TagV(e.name)
            if isinstance(e, s.ExplicitSet):
                items = [self.eval(x, scope) for x in e.items]
                if not items:
                    return EMPTY
                acc: Value = EMPTY
                for item in items:
                    if _is_element(item):
                        acc = alg.add(item, acc)
                    else:
                        acc = alg.union([acc, VSet(frozenset([item]))])
                return acc
            if isinstance(e, s.Fun):
                return Closure(e.params, e.body, scope.captured(), e.name, {} if self.memoise else None)
            if isinstance(e, s.Bind):
                return self.eval(e.body, self.bind(e.bindings, e.recursive, scope, e.pos))
            if isinstance(e, s.Try):
                try:
                    return self.eval(e.exp, scope)
                except CatFailure:
                    return self.eval(e.default, scope)
            if isinstance(e, s.If):
                branch = e.then if self.cond(e.cond, scope) else e.orelse
                return self.eval(branch, scope)
            if isinstance(e, s.MatchSet):
                coll = self.eval(e.exp, scope)
                split = alg.split(coll)
                if split is None:
                    return self.eval(e.if_empty, scope)
                frame: dict[str, Value] = {}
                if e.elt is not None:
                    frame[e.elt] = split[0]
                if e.rest is not None:
                    frame[e.rest] = split[1]
                return self.eval(e.if_elt, scope.child(frame))
            if isinstance(e, s.Match):
                v = self.eval(e.exp, scope)
                if not isinstance(v, TagV):
                    raise CatFailure(f"match on {describe(v)}, expected a tag", e.pos)
                for tag, body in e.clauses:
                    if tag == v.name:
                        return self.eval(body, scope)
                if e.default is None:
                    raise CatFailure(f"no clause for tag '{v.name}", e.pos)
                return self.eval(e.default, scope)
        except CatTypeError as err:
            raise CatFailure(str(err), e.pos) from None
        raise AssertionError(f"unknown expression {e!r}")

    def seq(self, args: tuple[s.Exp, ...], scope: Scope) -> Value:
        """``r1; r2; ...`` from the left, stopping at the first empty prefix as herd does
        (so ``[TTD]; PTEtoPA`` needs no ``PTEtoPA`` when there are no TTD events)."""
        alg = self.alg
        acc = self.eval(args[0], scope)
        if alg.is_empty(acc):
            return EMPTY
        rows = alg.as_rel(acc)
        for a in args[1:]:
            rows = alg.compose(rows, alg.as_rel(self.eval(a, scope)))
            if not any(rows):
                return EMPTY
        return Rel(rows)

    def cond(self, c: s.Cond, scope: Scope) -> bool:
        if c.kind == "variant":
            assert c.variant is not None
            return self.variant(c.variant)
        assert c.left is not None and c.right is not None
        left = self.eval(c.left, scope)
        right = self.eval(c.right, scope)
        if c.kind == "eq":
            return self.alg.same(left, right)
        if c.kind == "subset":
            return self.alg.is_empty(self.alg.diff(left, right))
        return any(self.alg.same(left, m) for m in self.alg.members(right))  # "in"

    # ----- functions

    def apply(self, f: Value, arg: Value, pos: Position) -> Value:
        if isinstance(f, Primitive):
            try:
                return f.fn(arg)
            except CatTypeError as err:
                raise CatFailure(f"{f.name}: {err}", pos) from None
            except CatUnsupported as err:
                raise UnsupportedError(f"unsupported cat construct: {err}", pos) from None
        if not isinstance(f, Closure):
            raise CatFailure(f"cannot apply {describe(f)}", pos)
        memo = f.memo
        if memo is not None:
            try:
                return memo[arg]
            except KeyError:
                pass
            except TypeError:  # unhashable argument (a closure): no memo
                memo = None
        frame = self.match_pattern(f.params, arg, pos)
        result = self.eval(f.body, f.env.child(frame))
        if memo is not None:
            memo[arg] = result
        return result

    def match_pattern(self, p: s.Pattern, arg: Value, pos: Position) -> dict[str, Value]:
        if not p.is_tuple:
            return {} if p.names[0] is None else {p.names[0]: arg}
        if not isinstance(arg, tuple) or len(arg) != len(p.names):
            raise CatFailure(f"expected a tuple of {len(p.names)}, found {describe(arg)}", pos)
        return {n: v for n, v in zip(p.names, arg, strict=True) if n is not None}

    # ----- let / let rec

    def bind(
        self, bindings: tuple[s.Binding, ...], recursive: bool, scope: Scope, pos: Position
    ) -> Scope:
        """A new scope with the bindings (evaluated in ``scope``, or in themselves if recursive)."""
        frame: dict[str, Value] = {}
        inner = scope.child(frame)
        if not recursive:
            for b in bindings:
                frame.update(self.match_pattern(b.pattern, self.eval(b.exp, scope), b.pos))
            return inner
        self.bind_rec(bindings, inner, frame, pos)
        return inner

    def closure_shortcut(self, b: s.Binding, scope: Scope) -> Value | None:
        """``let rec x = a | b | x; x`` (x not in a, b) is the least fixpoint ``(a | b)+``:
        computed by one transitive closure instead of iterating (same value).  Returns
        ``a | b``, or None when the binding has another shape."""
        name = b.pattern.names[0]
        e = b.exp
        if name is None or not isinstance(e, s.Op) or e.op != "union":
            return None
        rest = [a for a in e.args if not _self_seq(a, name)]
        if len(rest) != len(e.args) - 1 or any(name in free_exp(a) for a in rest):
            return None
        return self.alg.union([self.eval(a, scope) for a in rest])

    def bind_rec(
        self, bindings: tuple[s.Binding, ...], scope: Scope, frame: dict[str, Value], pos: Position
    ) -> None:
        """Recursive bindings, written into ``frame`` (which ``scope`` must see)."""
        for b in bindings:
            if b.pattern.is_tuple:
                raise UnsupportedError("unsupported cat construct: 'let rec' of a tuple", b.pos)
        if all(isinstance(b.exp, s.Fun) for b in bindings):
            for b in bindings:
                fun = b.exp
                assert isinstance(fun, s.Fun)
                name = b.pattern.names[0]
                if name is not None:
                    frame[name] = Closure(fun.params, fun.body, scope, fun.name,
                                          {} if self.memoise else None)
            return
        if len(bindings) == 1:
            shortcut = self.closure_shortcut(bindings[0], scope)
            if shortcut is not None:
                name = bindings[0].pattern.names[0]
                if name is not None:
                    frame[name] = self.alg.plus(shortcut)
                    frame[name + BASE] = shortcut  # for explanations: the edges before closure
                return
        names = [b.pattern.names[0] for b in bindings]
        for n in names:
            if n is not None:
                frame[n] = EMPTY
        for _ in range(self.fixpoint_limit):
            changed = False
            for name, b in zip(names, bindings, strict=True):
                v = self.eval(b.exp, scope)
                if name is None:
                    continue
                if not self.alg.same(v, frame[name]):
                    changed = True
                frame[name] = v
            if not changed:
                return
        raise CatFailure("let rec: no fixpoint reached", pos)


def _self_seq(e: s.Exp, name: str) -> bool:
    return (isinstance(e, s.Op) and e.op == "seq" and len(e.args) == 2
            and all(isinstance(a, s.Var) and a.name == name for a in e.args))


def _is_element(v: Value) -> bool:
    from stalecheck.cat.values import Event, Pair

    return isinstance(v, (Event, Pair))


_OP1: dict[str, Callable[[Algebra, Value], Value]] = {
    "star": Algebra.star,
    "plus": Algebra.plus,
    "opt": Algebra.opt,
    "inv": Algebra.inverse,
    "comp": Algebra.comp,
    "toid": Algebra.toid,
}
