"""The cat interpreter on small hand-built executions, and herd's AArch64 model on classic shapes."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalecheck.cat import syntax as s
from stalecheck.cat.build import StructureBuilder
from stalecheck.cat.program import Instance, load_model, load_text, vendored_dir
from stalecheck.cat.structure import Choice, EventStructure, total_order_rows
from stalecheck.cat.values import EMPTY, Algebra, EvSet, Rel, VSet
from stalecheck.errors import InputError, UnsupportedError

N = 5
pairs = st.frozensets(st.tuples(st.integers(0, N - 1), st.integers(0, N - 1)), max_size=12)


def _rel(ps: frozenset[tuple[int, int]]) -> Rel:
    rows = [0] * N
    for a, b in ps:
        rows[a] |= 1 << b
    return Rel(tuple(rows))


def _pairs(r: Rel) -> set[tuple[int, int]]:
    return {(a, b) for a in range(N) for b in range(N) if r.rows[a] >> b & 1}


def _closure(ps: set[tuple[int, int]]) -> set[tuple[int, int]]:
    out = set(ps)
    while True:
        more = {(a, d) for a, b in out for c, d in out if b == c} - out
        if not more:
            return out
        out |= more


@settings(max_examples=60, deadline=None)
@given(pairs, pairs)
def test_relation_algebra_matches_sets_of_pairs(p: frozenset, q: frozenset) -> None:
    alg = Algebra(N)
    r, s = _rel(p), _rel(q)
    assert _pairs(alg.union([r, s])) == p | q
    assert _pairs(alg.inter(r, s)) == p & q
    assert _pairs(alg.diff(r, s)) == p - q
    assert _pairs(alg.seq([r, s])) == {(a, d) for a, b in p for c, d in q if b == c}
    assert _pairs(alg.inverse(r)) == {(b, a) for a, b in p}
    assert _pairs(alg.plus(r)) == _closure(set(p))
    assert _pairs(alg.star(r)) == _closure(set(p)) | {(i, i) for i in range(N)}
    assert alg.is_acyclic(r) == all(a != b for a, b in _closure(set(p)))
    assert alg.is_irreflexive(r) == all(a != b for a, b in p)


def _structure(n: int = 4, **rels: set[tuple[int, int]]) -> EventStructure:
    b = StructureBuilder()
    for i in range(n):
        b.event(0, i, {"R"} if i % 2 else {"W"}, "x")
    for name, ps in rels.items():
        for a, c in ps:
            b.edge(name, a, c)
    return b.build()


def _run(
    text: str, structure: EventStructure, variants: frozenset[str] = frozenset(), prune: bool = False
) -> tuple:
    inst = Instance(load_text(text, "m.cat"), structure, variants, prune=prune)
    return inst, inst.static


def test_let_rec_is_a_least_fixpoint() -> None:
    st_ = _structure(r={(0, 1), (1, 2), (2, 3)})
    inst, out = _run("let rec t = r | t; t\nlet u = r+", st_)
    assert inst.value(out, "t") == inst.value(out, "u")
    assert inst.alg.same(inst.value(out, "t"), Rel((0b1110, 0b1100, 0b1000, 0)))


def test_functions_match_and_stdlib() -> None:
    # stdlib's `map` is a recursive function over a set (match ... with {} -> || e ++ S ->)
    st_ = _structure(r={(0, 1)})
    inst, out = _run(
        "let double = map (fun x -> x | x^-1)\n"
        "let s = double {r, po}\n"
        "let udr_r = udr r\n"
        "let g = fun (a, b) -> a \\ b\n"
        "let c = g(po, r)\n",
        st_,
    )
    s_ = inst.value(out, "s")
    assert isinstance(s_, VSet) and len(s_.items) == 2
    assert inst.value(out, "udr_r") == EvSet(0b11)
    assert inst.alg.same(inst.value(out, "c"), inst.alg.diff(inst.value(out, "po"), inst.value(out, "r")))


def test_try_variants_and_procedures() -> None:
    st_ = _structure(r={(0, 0)})
    text = (
        "let a = try no-such-thing with r\n"
        'let b = if "foo" then r else 0\n'
        'if "foo" let c = po else let c = 0 end\n'
        "procedure irr(x) = irreflexive x end\n"
        "call irr(r) as self-loop\n"
    )
    inst, out = _run(text, st_)
    assert inst.value(out, "a") == inst.value(out, "r")
    assert inst.value(out, "b") is EMPTY
    assert inst.value(out, "c") is EMPTY
    assert out.violation == "self-loop"
    inst2, out2 = _run(text, st_, frozenset({"FOO"}))  # variant names are case-insensitive
    assert inst2.value(out2, "b") == inst2.value(out2, "r")
    assert inst2.value(out2, "c") == inst2.value(out2, "po")


def test_flags_do_not_reject_and_are_not_evaluated() -> None:
    """A flag never changes a verdict and stalecheck prints none: it is not evaluated,
    nor what only it reads (herd's lazy bindings skip the same work)."""
    inst, out = _run(
        "let only-flagged = nope | po\nflag ~empty only-flagged as has-po\nacyclic po as order",
        _structure(), prune=True,
    )
    assert out.violation == ""
    assert out.flags == ()
    assert all(not isinstance(ins, s.Check) or ins.kind != "flag" for ins in inst.steps)


def test_let_rec_closure_shortcut_equals_iteration() -> None:
    """`let rec x = a | x; x` is computed as a+; mutual recursion still iterates."""
    st_ = _structure(r={(0, 1), (1, 2)}, q={(2, 3)})
    inst, out = _run("let rec x = r | q | x; x\nlet rec y = r | z and z = q | y; y", st_)
    assert inst.value(out, "x") == inst.alg.plus(inst.alg.union([inst.value(out, "r"), inst.value(out, "q")]))
    assert inst.alg.same(inst.value(out, "z"), Rel((0b1100, 0b1000, 0b1000, 0)))  # z = q | y; y


def test_unbound_name_is_an_error_with_position() -> None:
    with pytest.raises(InputError) as err:
        _run("let a = po\nlet b = a | nope\nacyclic b", _structure(), prune=True)
    assert str(err.value.position) == "m.cat:2:13"
    assert "unbound name nope" in err.value.message


def test_unsupported_construct_is_refused_with_position() -> None:
    with pytest.raises(UnsupportedError) as err:
        _run("let a = po\nforall x in {po} do acyclic x end", _structure())
    assert str(err.value.position) == "m.cat:2:1"
    assert "forall" in err.value.message
    with pytest.raises(UnsupportedError) as err:
        _run("let a = fromto(W)\nempty a", _structure())
    assert str(err.value.position) == "m.cat:1:9"


def test_with_from_checks_the_candidates_choice() -> None:
    st_ = _structure()
    text = "with k from {po, 0}\nempty k as k-empty"
    inst = Instance(load_text(text, "m.cat"), st_, frozenset(), provided=frozenset({"k"}))
    po = inst.value(inst.static, "po")
    assert inst.run(2, Choice(provided={"k": po}), inst.static).violation == "k-empty"
    other = Rel((0b10, 0, 0, 0))
    assert inst.run(2, Choice(provided={"k": other}), inst.static).violation == "with k from"
    assert inst.run(2, Choice(provided={"k": Rel((0,) * 4)}), inst.static).violation == ""
    with pytest.raises(UnsupportedError):
        Instance(load_text("with k from {po, 0}", "m.cat"), st_, frozenset())


# ---------------------------------------------------------------- herd's aarch64.cat

AARCH64 = vendored_dir() / "aarch64.cat"


def _litmus_shape(threads: list[list[tuple[str, str | None, set[str]]]]) -> tuple[EventStructure, dict]:
    """Events for a two-location test: init writes, then each thread's (kind, loc, labels)."""
    b = StructureBuilder()
    idx: dict = {}
    for loc in ("x", "y"):
        idx[("init", loc)] = b.event(None, 0, {"W", "IW", "Exp"}, loc)
    for p, thread in enumerate(threads):
        for i, (kind, loc, labels) in enumerate(thread):
            idx[(p, i)] = b.event(p, i, ({kind, "Exp"} if loc else {kind}) | labels, loc)
    return b.build(), idx


def _verdicts(structure: EventStructure, idx: dict, reads: list, writes_by_loc: dict) -> dict:
    """Violation (or '') for every rf choice, with co in program order (one writer per location)."""
    inst = Instance(load_model(AARCH64), structure, frozenset())
    out = {}
    for srcs in itertools.product(*[[idx[("init", loc)], *writes_by_loc[loc]] for _, loc in reads]):
        rf = [0] * structure.n
        for (r, _), w in zip(reads, srcs, strict=True):
            rf[w] |= 1 << idx[r]
        s1 = inst.run(1, Choice({"rf": Rel(tuple(rf))}), inst.static)
        orders = [[idx[("init", loc)], *ws] for loc, ws in writes_by_loc.items()]
        fw = sum(1 << o[-1] for o in orders)
        co = Rel(total_order_rows(structure.n, orders))
        s2 = inst.run(2, Choice({"FW": EvSet(fw)}, {"co": co}), s1)
        out[srcs] = s2.violation
    return out


@pytest.mark.parametrize(("fence", "forbidden"), [(None, False), ("DMB.SY", True), ("DMB.ST", False)])
def test_message_passing_through_herds_model(fence: str | None, forbidden: bool) -> None:
    """MP: W x; [fence]; W y || R y; [fence]; R x. Arm ARM B2.3: with DMB SY on both sides
    the outcome y=1, x=0 is forbidden (ob cycle); DMB ST does not order the reads."""
    f = [("F", None, {"F", fence})] if fence else []
    t0 = [("W", "x", set()), *f, ("W", "y", set())]
    t1 = [("R", "y", set()), *f, ("R", "x", set())]
    structure, idx = _litmus_shape([t0, t1])
    wx, wy = idx[(0, 0)], idx[(0, len(t0) - 1)]
    reads = [((1, 0), "y"), ((1, len(t1) - 1), "x")]
    verdicts = _verdicts(structure, idx, reads, {"x": [wx], "y": [wy]})
    assert verdicts[(wy, idx[("init", "x")])] == ("external" if forbidden else "")
    assert verdicts[(wy, wx)] == ""
    assert verdicts[(idx[("init", "y")], wx)] == ""


def test_coherence_read_read_is_forbidden_without_fences() -> None:
    """CoRR: W x || R x; R x. Reading the new value then the initial one breaks
    internal visibility (ob contains fre; rfe ... here: Exp-haz-ob / external)."""
    structure, idx = _litmus_shape([[("W", "x", set())], [("R", "x", set()), ("R", "x", set())]])
    w, i = idx[(0, 0)], idx[("init", "x")]
    reads = [((1, 0), "x"), ((1, 1), "x")]
    verdicts = _verdicts(structure, idx, reads, {"x": [w], "y": []})
    assert verdicts[(w, i)] != ""
    assert verdicts[(i, w)] == ""
    assert verdicts[(w, w)] == ""


def test_release_acquire_message_passing() -> None:
    """MP with STLR / LDAR: forbidden by bob ([L]-po and [A]-po clauses)."""
    t0 = [("W", "x", set()), ("W", "y", {"L"})]
    t1 = [("R", "y", {"A"}), ("R", "x", set())]
    structure, idx = _litmus_shape([t0, t1])
    wx, wy = idx[(0, 0)], idx[(0, 1)]
    verdicts = _verdicts(structure, idx, [((1, 0), "y"), ((1, 1), "x")], {"x": [wx], "y": [wy]})
    assert verdicts[(wy, idx[("init", "x")])] == "external"


def test_model_file_not_found_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "m.cat"
    bad.write_text('include "nowhere.cat"\n')
    with pytest.raises(InputError) as err:
        load_model(bad)
    assert "nowhere.cat" in err.value.message
    assert str(err.value.position) == f"{bad}:1:1"
