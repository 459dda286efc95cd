"""herd's mixed-size semantics (``-variant mixed``), one rule per test.

Each verdict below is computed twice: by the built-in model and by herd's own
``aarch64.cat`` interpreted over the same events (``--cat``), so a test pins
the engine's events (granules, groups, rmw pairs) as well as the model's
rules.  The catalogue (``herd-catalogue/aarch64-mixed``, 19 tests, verdicts and
witness counts) is checked by ``test_agreement.py``.
"""

from __future__ import annotations

import pytest

from stalecheck.axiomatic.aarch64_local import local_order
from stalecheck.axiomatic.check import check_test
from stalecheck.axiomatic.events import ThreadTrace
from stalecheck.axiomatic.initial_state import build_initial_state
from stalecheck.axiomatic.mixed_size import granule_layout, granule_size, granules_of
from stalecheck.axiomatic.semantics import thread_traces
from stalecheck.cat.engine_model import model_for_test
from stalecheck.cat.program import vendored_dir
from stalecheck.errors import UnsupportedError
from stalecheck.litmus import parse_litmus
from stalecheck.litmus.ast import LitmusTest

CAT = model_for_test(str(vendored_dir() / "aarch64.cat"))


def _test(init: str, threads: list[list[str]], cond: str) -> LitmusTest:
    heads = " | ".join(f"P{i}" for i in range(len(threads)))
    rows = []
    for k in range(max(len(t) for t in threads)):
        rows.append(" | ".join(t[k] if k < len(t) else "" for t in threads) + " ;")
    text = f"AArch64 T\nVariant=mixed\n{{ {init} }}\n {heads} ;\n" + "\n".join(rows) + f"\n{cond}\n"
    return parse_litmus(text, "t.litmus")


def _verdict(test: LitmusTest) -> str:
    """The built-in verdict, after checking herd's interpreted aarch64.cat agrees."""
    builtin = check_test(test, keep_witness=False)
    interpreted = check_test(test, keep_witness=False, model_for=CAT)
    assert (builtin.verdict, builtin.p_true, builtin.p_false) == (
        interpreted.verdict, interpreted.p_true, interpreted.p_false)
    return builtin.verdict


# ---- the granule: herd's -byte auto (test_herd.ml compute_size) -------------------------


@pytest.mark.parametrize(
    ("init", "code", "granule"),
    [
        ("uint16_t x; 0:X1=x;", ["LDRH W0,[X1]", "STRH W0,[X1]"], 1),  # one size: half of it
        ("uint64_t x; 0:X1=x;", ["LDR X0,[X1]"], 4),
        ("uint64_t x; 0:X1=x;", ["STR W0,[X1]", "LDR X2,[X1]"], 4),  # two sizes: the smaller
        ("0:X1=x;", ["STRB W0,[X1]", "LDR W2,[X1]"], 1),
        ("x=1; 0:X1=x;", ["LDR X2,[X1]"], 4),  # an untyped initialised location is an int
        # mem_access_size: LDAR/LDXR on W/X registers contribute no size
        ("uint64_t x; 0:X1=x;", ["LDAR W0,[X1]", "LDR X2,[X1]"], 4),
        ("0:X1=x;", ["LDXRH W0,[X1]", "LDAR W2,[X1]"], 1),
    ],
)
def test_granule_is_the_smallest_size_or_half_of_the_only_one(
    init: str, code: list[str], granule: int
) -> None:
    assert granule_size(_test(init, [code], "exists (0:X0=0)")) == granule


# ---- events: one per granule, little-endian, one single-copy-atomic group -----------------


def _traces(test: LitmusTest, proc: int = 0) -> list[ThreadTrace]:
    """One thread's paths, every read taking the initial value."""
    layout = build_initial_state(test)
    g = granules_of(test, layout)
    cells = granule_layout(layout, g)
    domain = {c: [v] for c, v in cells.memory.items()}
    return thread_traces(test.threads[proc], cells, domain, test.path, granules=g).traces


def test_a_halfword_store_is_two_byte_writes_little_endian_in_one_group() -> None:
    test = _test("uint16_t x; 0:X1=x; 0:X0=0x0102;", [["STRH W0,[X1]", "LDRB W2,[X1]"]],
                 "exists (0:X2=1)")
    (trace,) = _traces(test)
    writes = [(e.cell, e.value) for e in trace.events if e.kind == "W"]
    assert writes == [(("x", 0), 0x02), (("x", 1), 0x01)]  # byte_eas: little endian
    assert trace.sca_groups == [(0, 1)]


def test_a_wider_read_recomposes_its_granules() -> None:
    """SmallEndian's shape: two halfword stores read back as one word."""
    test = _test("int x; 0:X0=x;", [["MOV W1,#1", "MOV W2,#2", "STRH W1,[X0]",
                                     "STRH W2,[X0,#2]", "LDR W3,[X0]"]],
                 "forall (0:X3=0x00020001 /\\ x=0x00020001)")
    assert _verdict(test) == "Required"


def test_an_exclusive_pair_relates_every_read_granule_to_every_write_granule() -> None:
    """stdlib.cat: ``lxsx = [R & EX]; po \\ (po; [M & EX]; po); [W & EX]`` -- po does not
    relate one instruction's events, so a split LDXRH/STXRH pair gives 2 x 2 rmw pairs;
    an atomic's ``amo = [R & X]; (same-instance \\ id) & loc; [W & X]`` gives one per cell."""
    lx = _test("0:X0=x; 0:X2=3;", [["LDXRH W1,[X0]", "STXRH W4,W2,[X0]"]], "exists (0:X4=0)")
    success = [t for t in _traces(lx) if any(e.kind == "W" for e in t.events)]
    assert sorted(success[0].rmw) == [(0, 2), (0, 3), (1, 2), (1, 3)]
    amo = _test("0:X0=x; 0:X2=3;", [["SWPH W2,W1,[X0]"]], "exists (0:X1=0)")
    assert sorted(_traces(amo)[0].rmw) == [(0, 2), (1, 3)]


def test_a_split_exclusive_pair_can_succeed() -> None:
    """atomic: ``empty (rmw & (fr; co))`` -- fr; co stays in one cell, so the cross-granule
    lxsx pairs never violate it (here x+0 has one more write than x+1)."""
    test = _test("0:X0=x; 0:X2=3;",
                 [["MOV W5,#1", "STRB W5,[X0]", "LDXRH W1,[X0]", "STXRH W4,W2,[X0]"]],
                 "exists (0:X1=1 /\\ 0:X4=0 /\\ x=3)")
    assert _verdict(test) == "Allowed"


# ---- the model's single-copy-atomic rules --------------------------------------------


LB_SCA = (
    "uint16_t x; uint16_t y; 0:X1=x; 0:X3=y; 1:X1=y; 1:X3=x;",
    [["LDRB W0,[X1]", "DMB SY", "MOV W2,#1", "STRH W2,[X3]"],
     ["LDRB W0,[X1]", "STRB W0,[X3,#1]", "MOV W4,#2", "STRH W4,[X3]"]],
    "exists (0:X0=2 /\\ 1:X0=1)",
)


def test_lmws_reaches_the_other_granules_of_the_write() -> None:
    """aarch64hwreqs.cat, lob: ``| lmws; sca-class`` (``lmws = [Exp & M]; po-loc; [Exp & W]``).

    P1's byte store to x+1 is po-loc before the halfword store, so it is locally ordered
    before both of that store's granules, including x+0, which P0 reads: with P0's DMB
    and the data dependency the outcome is a cycle, Forbidden."""
    test = _test(*LB_SCA)
    assert _verdict(test) == "Forbidden"
    p1 = _traces(test, proc=1)[0]
    names = {(i, j): n for i, j, n in local_order(p1).named}
    assert names[(1, 2)] == "po-loc;sca"  # STRB x+1 -> STRH's granule x+0


def test_without_the_sibling_granule_the_same_shape_is_allowed() -> None:
    """The control: P0 reads x+1 instead, which P1's byte store also writes; the halfword
    store then orders nothing that P0 observes, and the outcome is Allowed."""
    init, (p0, p1), _ = LB_SCA
    test = _test(init, [["LDRB W0,[X1,#1]", *p0[1:]], p1], "exists (0:X0=0 /\\ 1:X0=1)")
    assert _verdict(test) == "Allowed"


def test_hazard_order_goes_through_the_other_granules_of_the_read() -> None:
    """aarch64.cat: ``Exp-haz-ob = [Exp & R]; (po & same-loc); [Exp & R]; sca-class?;
    [Exp & R]; (ca & ext); [Exp & W]; sca-class?`` (CoRR+rmwh0h0-posh0a.w0+w0's shape).

    The word read takes x+0 from P0's own store and x+2 from the initial write, so
    its x+2 granule is fr-before P1's word store, which the earlier halfword read
    observed: Forbidden."""
    test = _test("0:X0=x; uint32_t 1:X1=0xccddeeff; 1:X0=x;",
                 [["LDRH W1,[X0]", "MOV W2,#42", "STRH W2,[X0]", "LDR W3,[X0]"],
                  ["STR W1,[X0]"]],
                 "exists (0:X1=0xeeff /\\ 0:X3=42)")
    assert _verdict(test) == "Forbidden"


def test_tearing_between_two_word_stores_is_forbidden() -> None:
    """aarch64.cat: ``obs = Exp-obs; sca-class? | ...`` -- coherence per granule may not
    disagree between two single-copy-atomic stores (Arm ARM B2.2.1)."""
    test = _test("uint32_t x; 0:X1=x; 1:X1=x; 0:X0=0x01010101; 1:X0=0x02020202;",
                 [["STR W0,[X1]"], ["STR W0,[X1]"]],
                 "exists (x=0x01010202 \\/ x=0x02020101)")
    assert _verdict(test) == "Forbidden"


# ---- what is refused ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("init", "code", "reason"),
    [
        ("uint16_t x; 0:X1=x;", ["STRB W0,[X1]", "LDRH W2,[X1,#1]"], "not aligned"),
        ("uint16_t x; 0:X1=x;", ["LDR W2,[X1]"], "leaves the 2-byte location"),
        ("0:X1=x;", ["CASH W0,W2,[X1]"], "CASH"),
        ("0:X1=x;", ["LDP W0,W2,[X1]"], "LDP"),
        ("int *p = &x; 0:X1=p;", ["LDR X0,[X1]"], "addresses"),
    ],
)
def test_what_is_not_reproduced_is_refused_with_its_line(
    init: str, code: list[str], reason: str
) -> None:
    with pytest.raises(UnsupportedError, match="not supported") as info:
        check_test(_test(init, [code], "exists (0:X0=0)"))
    assert reason in info.value.message
    assert info.value.position is not None and info.value.position.path == "t.litmus"
