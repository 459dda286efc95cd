"""Sentences of a lark grammar from a seeded walk: the same sentences in every process.

Hypothesis' ``from_lark`` picks among a rule's alternatives by their position in lark's
compiled grammar, and that order (and what hypothesis draws) shifted with the hash seed
and with which modules had been imported before, so a "fixed" share of parsed sentences
was not a fixed fact.  This walk depends only on the grammar text and an integer seed:
rules are sorted by name and expansion, terminals are drawn from their own regular
expressions, and ``random.Random(seed)`` makes every choice.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from re import _parser as sre_parse  # the regex parser (private; Python 3.11+)
from typing import Any

from lark import Lark

_PRINTABLE = string.ascii_letters + string.digits + "_.,-"
_MAX_REPEAT_EXTRA = 3


@dataclass(frozen=True)
class Grammar:
    """A compiled lark grammar as plain sorted data (rules: origin -> its expansions)."""

    rules: dict[str, tuple[tuple[str, ...], ...]]
    terminals: dict[str, str]  # name -> regular expression
    height: dict[str, int]  # the shortest derivation's depth, to end a walk that runs long
    spellings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # fixed terminal texts


def compile_grammar(parser: Lark, start: str) -> Grammar:
    terminals, rules, _ignore = parser.grammar.compile([start], ())
    by_origin: dict[str, list[tuple[str, ...]]] = {}
    for rule in rules:
        by_origin.setdefault(rule.origin.name, []).append(tuple(s.name for s in rule.expansion))
    ordered = {name: tuple(sorted(set(alts))) for name, alts in sorted(by_origin.items())}
    regexps = {t.name: t.pattern.to_regexp() for t in sorted(terminals, key=lambda t: t.name)}
    return Grammar(ordered, regexps, _heights(ordered, regexps))


def _heights(rules: dict[str, tuple[tuple[str, ...], ...]], terminals: dict[str, str]) -> dict[str, int]:
    height = dict.fromkeys(terminals, 0)
    changed = True
    while changed:
        changed = False
        for name, alts in rules.items():
            for alt in alts:
                if all(s in height for s in alt):
                    h = 1 + max((height[s] for s in alt), default=0)
                    if h < height.get(name, h + 1):
                        height[name] = h
                        changed = True
    return height


def sentences(
    grammar: Grammar,
    start: str,
    count: int,
    seed: int,
    max_depth: int = 12,
    short: float = 0.0,
    explicit: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[str]:
    """``count`` sentences derived from ``start``, tokens separated by one space (which the
    grammars ignore), the same ones for the same grammar and seed.  ``explicit`` gives some
    terminals fixed spellings to choose from instead of their regular expression; with
    probability ``short`` a rule takes one of its shortest alternatives (fewer repeats)."""
    if explicit:
        fixed = {name: tuple(texts) for name, texts in explicit.items()}
        grammar = replace(grammar, spellings={**grammar.spellings, **fixed})
    rnd = random.Random(seed)
    for _ in range(count):
        tokens: list[str] = []
        _derive(grammar, start, rnd, tokens, 0, max_depth, short)
        yield " ".join(tokens)


def _derive(
    grammar: Grammar,
    symbol: str,
    rnd: random.Random,
    out: list[str],
    depth: int,
    max_depth: int,
    short: float,
) -> None:
    if symbol in grammar.spellings:
        out.append(rnd.choice(grammar.spellings[symbol]))
        return
    if symbol in grammar.terminals:
        out.append(terminal_text(grammar.terminals[symbol], rnd))
        return
    alts: Sequence[tuple[str, ...]] = grammar.rules[symbol]
    # past max_depth (to end the walk), or by the ``short`` draw: a least-height alternative
    if depth >= max_depth or (short and rnd.random() < short):
        least = min(_alt_height(grammar, alt) for alt in alts)
        alts = [alt for alt in alts if _alt_height(grammar, alt) == least]
    for sym in rnd.choice(alts):
        _derive(grammar, sym, rnd, out, depth + 1, max_depth, short)


def _alt_height(grammar: Grammar, alt: tuple[str, ...]) -> int:
    return max((grammar.height[s] for s in alt), default=0)


def terminal_text(regexp: str, rnd: random.Random) -> str:
    """A string the whole of which ``regexp`` matches (retrying the rare draw that a
    lookaround such as ``\\b`` rejects)."""
    tree = sre_parse.parse(regexp)
    for _ in range(100):
        text = "".join(_draw(tree, rnd, ignore_case=False))
        if re.fullmatch(regexp, text):
            return text
    raise AssertionError(f"no string drawn for {regexp!r}")


def _draw(items: object, rnd: random.Random, ignore_case: bool) -> Iterator[str]:
    for op, arg in items:  # type: ignore[attr-defined]
        name = str(op)
        if name == "LITERAL":
            yield _case(chr(arg), rnd, ignore_case)
        elif name == "NOT_LITERAL":
            yield rnd.choice([c for c in _PRINTABLE if c != chr(arg)])
        elif name == "ANY":
            yield rnd.choice(_PRINTABLE)
        elif name == "IN":
            yield _case(_from_set(arg, rnd), rnd, ignore_case)
        elif name == "BRANCH":
            yield from _draw(rnd.choice(arg[1]), rnd, ignore_case)
        elif name == "SUBPATTERN":
            _group, add_flags, _del_flags, sub = arg
            yield from _draw(sub, rnd, ignore_case or bool(add_flags & re.IGNORECASE))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            top = (
                low + _MAX_REPEAT_EXTRA if high == sre_parse.MAXREPEAT else min(high, low + _MAX_REPEAT_EXTRA)
            )
            for _ in range(rnd.randint(low, top)):
                yield from _draw(sub, rnd, ignore_case)
        elif name == "AT":
            continue  # \b and anchors: checked by the fullmatch of the whole token
        else:
            raise AssertionError(f"regular-expression construct {name} not drawn by this walk")


def _from_set(items: list[tuple[object, Any]], rnd: random.Random) -> str:
    chars: set[str] = set()
    negate = False
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            chars.add(chr(arg))
        elif name == "RANGE":
            low, high = arg
            chars.update(chr(c) for c in range(low, high + 1))
        elif name == "CATEGORY":
            chars.update(c for c in _PRINTABLE + " \t\n" if re.fullmatch(f"[{_CATEGORY[str(arg)]}]", c))
        else:
            raise AssertionError(f"character-set construct {name} not drawn by this walk")
    pool = sorted(set(_PRINTABLE) - chars) if negate else sorted(chars)
    return rnd.choice(pool)


_CATEGORY = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


def _case(char: str, rnd: random.Random, ignore_case: bool) -> str:
    return (char.upper() if rnd.random() < 0.5 else char.lower()) if ignore_case else char
