"""Free names of cat expressions and instructions.

The interpreter evaluates a model in stages (what depends only on the thread
paths once, what depends on rf once per rf choice, the rest per candidate);
a binding's stage is the latest stage of the names it mentions.
"""

from __future__ import annotations

from stalecheck.cat import syntax as s


def _pattern_names(p: s.Pattern) -> set[str]:
    return {n for n in p.names if n is not None}


def free_exp(e: s.Exp) -> set[str]:
    """Names an expression reads from its environment."""
    if isinstance(e, s.Var):
        return {e.name}
    if isinstance(e, (s.Konst, s.Tag)):
        return set()
    if isinstance(e, s.ExplicitSet):
        return set().union(*(free_exp(x) for x in e.items)) if e.items else set()
    if isinstance(e, s.Op1):
        return free_exp(e.arg)
    if isinstance(e, s.Op):
        return set().union(*(free_exp(x) for x in e.args)) if e.args else set()
    if isinstance(e, s.App):
        return free_exp(e.fun) | free_exp(e.arg)
    if isinstance(e, s.Fun):
        return free_exp(e.body) - _pattern_names(e.params)
    if isinstance(e, s.Bind):
        bound = set().union(*(_pattern_names(b.pattern) for b in e.bindings))
        inner = set().union(*(free_exp(b.exp) for b in e.bindings))
        if e.recursive:
            inner -= bound
        return inner | (free_exp(e.body) - bound)
    if isinstance(e, s.Try):
        return free_exp(e.exp) | free_exp(e.default)
    if isinstance(e, s.If):
        c = e.cond
        names = set()
        if c.left is not None:
            names |= free_exp(c.left)
        if c.right is not None:
            names |= free_exp(c.right)
        return names | free_exp(e.then) | free_exp(e.orelse)
    if isinstance(e, s.Match):
        names = free_exp(e.exp)
        for _, x in e.clauses:
            names |= free_exp(x)
        if e.default is not None:
            names |= free_exp(e.default)
        return names
    if isinstance(e, s.MatchSet):
        bound = {n for n in (e.elt, e.rest) if n is not None}
        return free_exp(e.exp) | free_exp(e.if_empty) | (free_exp(e.if_elt) - bound)
    raise AssertionError(f"unknown expression {e!r}")


def free_body(body: tuple[s.Ins, ...], bound: set[str]) -> set[str]:
    """Free names of a procedure body, given its parameters."""
    names: set[str] = set()
    local = set(bound)
    for ins in body:
        if isinstance(ins, s.Let):
            fv = set().union(*(free_exp(b.exp) for b in ins.bindings))
            new = set().union(*(_pattern_names(b.pattern) for b in ins.bindings))
            if ins.recursive:
                fv -= new
            names |= fv - local
            local |= new
        elif isinstance(ins, s.Check):
            names |= free_exp(ins.exp) - local
        elif isinstance(ins, s.Call):
            names |= ({ins.name} | free_exp(ins.arg)) - local
        elif isinstance(ins, s.WithFrom):
            names |= free_exp(ins.exp) - local
            local.add(ins.name)
        elif isinstance(ins, s.Procedure):
            local.add(ins.name)
            names |= free_body(ins.body, _pattern_names(ins.params)) - local
    return names
