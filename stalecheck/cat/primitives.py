"""herd's built-in cat functions (``domain``, ``linearisations``, ``classes-loc``, ...).

Each is defined by what herd's interpreter computes (``lib/interpreter.ml``,
``add_primitives``).  Functions that look at event values (``different-values``,
``same-oa``, ``at-least-one-writable``) restrict their argument to the
relation the event structure gives under that name; without one, an empty
argument stays empty and anything else is refused as unsupported, never
guessed.
"""

from __future__ import annotations

from collections.abc import Callable

from stalecheck.cat.structure import EventStructure
from stalecheck.cat.values import (
    EMPTY,
    Algebra,
    CatTypeError,
    CatUnsupported,
    EvSet,
    Primitive,
    Rel,
    Value,
    VSet,
    bits_of,
)


def linearisations(alg: Algebra, nodes: int, rows: tuple[int, ...]) -> VSet:
    """Every total order of ``nodes`` that extends ``rows`` (as transitive relations)."""
    nodes_list = list(bits_of(nodes))
    preds = {e: 0 for e in nodes_list}
    for e in nodes_list:
        for f in bits_of(rows[e] & nodes):
            if f != e:
                preds[f] |= 1 << e
    out: set[Rel] = set()
    order: list[int] = []

    def go(placed: int) -> None:
        if placed == nodes:
            rel = [0] * alg.n
            later = 0
            for e in reversed(order):
                rel[e] |= later
                later |= 1 << e
            out.add(Rel(tuple(rel)))
            return
        for e in nodes_list:
            if not placed >> e & 1 and preds[e] & ~placed == 0:
                order.append(e)
                go(placed | 1 << e)
                order.pop()

    for e in nodes_list:
        if rows[e] >> e & 1:
            return VSet(frozenset())  # cyclic: no linearisation
    go(0)
    return VSet(frozenset(out))


def primitives(alg: Algebra, structure: EventStructure) -> dict[str, Value]:
    loc = structure.relations.get("loc", alg.empty_rel.rows)

    def prim_linearisations(arg: Value) -> Value:
        if not isinstance(arg, tuple) or len(arg) != 2:
            raise CatTypeError("linearisations expects (set, relation)")
        return linearisations(alg, alg.as_set(arg[0]), alg.as_rel(arg[1]))

    def classes_loc(arg: Value) -> Value:
        evts = alg.as_set(arg)
        classes: set[EvSet] = set()
        for e in bits_of(evts):
            classes.add(EvSet((loc[e] & evts) | 1 << e))
        return VSet(frozenset(classes))

    def restrict(name: str) -> Callable[[Value], Value]:
        def fn(arg: Value) -> Value:
            rows = alg.as_rel(arg)
            if name in structure.value_relations:
                keep = structure.value_relations[name]
                return Rel(tuple(r & k for r, k in zip(rows, keep, strict=True)))
            if not any(rows):
                return Rel(rows)
            raise CatUnsupported(f"{name} needs event values this event structure does not give")
        return fn

    def unsupported(name: str) -> Callable[[Value], Value]:
        def fn(arg: Value) -> Value:
            raise CatUnsupported(f"the primitive {name}")
        return fn

    prims: dict[str, Callable[[Value], Value]] = {
        "domain": alg.domain,
        "range": alg.range,
        "linearisations": prim_linearisations,
        "classes-loc": classes_loc,
        "different-values": restrict("different-values"),
        "same-oa": restrict("same-oa"),
        "at-least-one-writable": restrict("at-least-one-writable"),
    }
    for name in ("fromto", "classes", "lift", "delift", "deliftinter", "bisimulation", "tag2scope",
                 "tag2level", "tag2events", "tag2fenced", "loc2events", "fail", "as_transitive"):
        prims[name] = unsupported(name)
    env: dict[str, Value] = {name: Primitive(name, fn) for name, fn in prims.items()}
    env["emptyset"] = EMPTY  # overridden by stdlib's `let emptyset = domain 0`
    return env
