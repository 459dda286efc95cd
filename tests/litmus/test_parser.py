"""The litmus front end: positions, error messages, and robustness (hypothesis fuzzing)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalecheck.axiomatic.check import check_test
from stalecheck.errors import InputError, StalecheckError, UnsupportedError
from stalecheck.litmus import ast, parse_litmus
from tests.grammar_sentences import compile_grammar, sentences
from tests.litmus.conftest import SHARED
from tests.tally import Tally

MP = """AArch64 MP
"message passing"
{ 0:X1=x; 0:X3=y; 1:X1=y; 1:X3=x; int z=2; }
 P0          | P1          ;
 MOV W0,#1   | LDR W0,[X1] ;
 STR W0,[X1] | LDR W2,[X3] ;
 STR W0,[X3] |             ;
exists (1:X0=1 /\\ 1:X2=0)
"""

ALL_TESTS = sorted((SHARED / "herd-catalogue" / "aarch64" / "tests").glob("*.litmus")) + sorted(
    (SHARED / "herd-instructions" / "AArch64").glob("*.litmus")
)


def test_structure_and_positions() -> None:
    t = parse_litmus(MP, "mp.litmus")
    assert (t.arch, t.name) == ("AArch64", "MP")
    assert [th.proc for th in t.threads] == [0, 1]
    ins = t.threads[1].code[1].instruction
    assert ins is not None
    assert (ins.mnemonic, ins.line, ins.column) == ("LDR", 6, 16)
    assert ins.operands[1] == ast.Mem((ast.Reg("X3"),), False)
    assert t.condition is not None and t.condition.quantifier == "exists"
    z = next(i for i in t.init if i.location == ast.GlobalLoc("z"))
    assert (z.type_name, z.value, z.line) == ("int", ast.IntValue(2), 3)


def test_syntax_error_has_position_and_caret() -> None:
    bad = MP.replace("LDR W2,[X3]", "LDR W2,[X3")
    with pytest.raises(InputError) as info:
        parse_litmus(bad, "bad.litmus")
    err = info.value
    assert err.position is not None and err.position.line == 6
    assert err.source_line is not None and "LDR W2,[X3" in err.source_line
    assert "^" in err.render()


def test_unknown_instruction_is_unsupported_with_line() -> None:
    text = MP.replace("MOV W0,#1", "FROB W0,#1")
    with pytest.raises(UnsupportedError) as info:
        check_test(parse_litmus(text, "u.litmus"))
    assert "FROB" in info.value.message
    assert info.value.position is not None and info.value.position.line == 5


def test_other_architecture_is_unsupported() -> None:
    with pytest.raises(UnsupportedError):
        parse_litmus(MP.replace("AArch64 MP", "X86 MP"))


def test_every_shipped_test_parses_or_is_refused_cleanly() -> None:
    """Every test parses, except inputs herd itself refuses (``.expected-failure``),
    which may be refused as early as parsing (L005's condition names a thread it lacks)."""
    parsed = 0
    for path in ALL_TESTS:
        try:
            parse_litmus(path.read_text(), str(path))
            parsed += 1
        except (InputError, UnsupportedError):
            assert path.with_name(path.name + ".expected-failure").exists(), path
    assert parsed >= len(ALL_TESTS) - 1


def _rejects_cleanly(text: str) -> bool:
    """Parse and check; only our typed errors may escape (and they must render).
    True if the text parsed."""
    parsed = False
    try:
        test = parse_litmus(text, "fuzz.litmus")
        parsed = True
        size = sum(len(t.code) for t in test.threads)
        if len(test.threads) <= 4 and size <= 24:  # keep random programs cheap to check
            check_test(test)
    except StalecheckError as err:
        err.render()
    return parsed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(text: str) -> None:
    _rejects_cleanly(text)


_SEEDS = [p.read_text() for p in ALL_TESTS[:: max(1, len(ALL_TESTS) // 40)]]
_ALPHABET = st.sampled_from([*list('PXW0123456789[]{}();,|:#=/\\~ \n-+xyz.!&*%"'), "exists"])


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(_ALPHABET)
        if op == "insert":
            text = text[:pos] + piece + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 8)):]
        else:
            text = text[:pos] + piece + text[pos + 1:]
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_fuzz_mutated_real_tests(text: str) -> None:
    _rejects_cleanly(text)


def _grammar_sentences() -> list[str]:
    """Sentences of our own grammar from a seeded walk (``tests/grammar_sentences.py``: the
    same ones in every process; hypothesis' ``from_lark`` changed with the hash seed and
    import order), lightly constrained.  Terminals that would swallow their neighbours get
    fixed spellings, so that a good share of the files get past the header; every thread
    is ``P0``, so one-column programs are well formed; half the rules take a shortest
    alternative, so that repeats (which break one-column tables) stay rare."""
    from importlib import resources

    from lark import Lark

    text = resources.files("stalecheck.litmus").joinpath("litmus.lark").read_text()
    grammar = compile_grammar(Lark(text, parser="lalr", lexer="contextual"), "start")
    fixed = {"ARCH": ("AArch64",), "TEST_NAME": ("T\n",), "INFO_LINE": ("Variant=x\n",), "PROC": ("P0",)}
    return list(sentences(grammar, "start", count=60, seed=0, short=0.5, explicit=fixed))


def test_fuzz_sentences_of_the_grammar() -> None:
    """Sentences of the grammar reach the checker: a fixed share must parse (44 of the 60 do;
    the rest break rules the grammar cannot state, such as threads numbered in order)."""
    tally = Tally()
    for text in _grammar_sentences():
        tally.saw(_rejects_cleanly(text))
    tally.require(0.5, "parsed")


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (" LDR W0,[X1] \n MOV W0,#1 ;\nexists (0:X0=1)\n", "a code row must end with ';'"),
        (" ADD W0,W0,W1\n MOV W0,#1 ;\nexists (0:X0=1)\n", "a code row must end with ';'"),
        (" LDR W0,[X1 ;\nexists (0:X0=1)\n", "unclosed '['"),
        (" MOV W0,#1 ;\nexists (0:X0)\n", "needs '=' and a value"),
    ],
)
def test_common_mistakes_get_plain_messages(snippet: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_litmus("AArch64 T\n{ 0:X1=x; }\n P0 ;\n" + snippet, "m.litmus")
    assert message in info.value.message
    assert info.value.position is not None and info.value.position.line >= 4


def test_empty_array_initialiser_is_refused_with_position() -> None:
    # Found by test_fuzz_sentences_of_the_grammar: `{A={};}` used to crash with a KeyError.
    test = parse_litmus("AArch64 T\n{A={};}\nP0;\n", "e.litmus")
    with pytest.raises(InputError) as info:
        check_test(test)
    assert "array A" in info.value.message
    assert info.value.position is not None and info.value.position.line == 2
