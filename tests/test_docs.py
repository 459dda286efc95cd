"""The reference docs cannot drift from the grammar and the code.

``docs/notation.md`` must name every keyword and operand spelling of
``program.lark``; ``docs/scenarios.md`` every public ``Builder`` and ``Scenario``
method with its parameters in order, every ``Options`` field with its default, every ``HCR_EL2``
bit, the descriptor encoding and the I-cache kinds; ``docs/api.md`` may only
name objects that exist, and ``mkdocs.yml`` only pages that exist.  Building the
site itself (``make docs``) is not part of ``make test``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

from stalecheck.machine import ifetch, translation
from stalecheck.machine.program import _parser
from stalecheck.machine.spec import HCR, Options
from stalecheck.machine.state import SCTLR_FIELDS
from stalecheck.scenarios.builder import Builder, Scenario

DOCS = Path(__file__).resolve().parents[1] / "docs"
NOTATION = (DOCS / "notation.md").read_text()
SCENARIOS = (DOCS / "scenarios.md").read_text()


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_.]+", text))


def _grammar_spellings() -> list[str]:
    """Every keyword, and every alternative of the enumerated terminals (DC ops, TLBI
    ops, barrier options, levels), as the grammar spells them."""
    out: list[str] = []
    for term in _parser().terminals:
        pattern = term.pattern.value
        if term.pattern.type == "str" and pattern.isalpha():
            out.append(pattern)
        elif alternatives := re.fullmatch(r"\(([A-Z0-9_|]+)\)\\b", pattern):
            out.extend(alternatives.group(1).split("|"))
        elif char_class := re.fullmatch(r"([A-Z])\[(\d)-(\d)\]\\b", pattern):
            letter, low, high = char_class.groups()
            out.extend(f"{letter}{n}" for n in range(int(low), int(high) + 1))
    return out


def test_the_grammar_has_what_the_checks_look_for() -> None:
    spellings = _grammar_spellings()
    assert {"STR", "AWAIT", "CIVAC", "ISHST", "VMALLS12E1IS", "L2"} <= set(spellings)


@pytest.mark.parametrize("spelling", _grammar_spellings())
def test_notation_names_every_spelling_of_the_grammar(spelling: str) -> None:
    assert spelling in _words(NOTATION), f"docs/notation.md never mentions {spelling!r}"


def test_notation_names_every_sctlr_field() -> None:
    for name in SCTLR_FIELDS:
        assert f"`{name}`" in NOTATION, f"SCTLR_EL1.{name} is not in docs/notation.md"


def _documented_signature(name: str) -> list[str]:
    """Parameter names of the first ``name(...)`` signature in docs/scenarios.md."""
    match = re.search(rf"^`{name}\(([^)]*(?:\([^)]*\)[^)]*)*)\)`", SCENARIOS, re.MULTILINE)
    assert match, f"docs/scenarios.md has no entry `{name}(...)` for Builder.{name}"
    params = [p.strip() for p in re.split(r",(?![^(]*\))", match.group(1)) if p.strip()]
    return [p.split("=")[0].strip().lstrip("*") for p in params]


PUBLIC_METHODS: list[tuple[type, str]] = [
    (cls, name)
    for cls in (Builder, Scenario)
    for name, _ in inspect.getmembers(cls, inspect.isfunction)
    if not name.startswith("_")
]


@pytest.mark.parametrize(
    ("cls", "name"), PUBLIC_METHODS, ids=[f"{c.__name__}.{m}" for c, m in PUBLIC_METHODS]
)
def test_every_builder_and_scenario_method_is_documented_with_its_parameters(cls: type, name: str) -> None:
    params = [p for p in inspect.signature(getattr(cls, name)).parameters if p != "self"]
    assert _documented_signature(name) == params


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Options)])
def test_every_option_is_documented_with_its_default(field: str) -> None:
    default = getattr(Options(), field)
    row = re.search(rf"^\| `{field}` \| `([^`]*)` \|", SCENARIOS, re.MULTILINE)
    assert row, f"Options.{field} has no row in docs/scenarios.md"
    assert row.group(1) == repr(default), f"Options.{field} defaults to {default!r}, docs say {row.group(1)}"


def test_every_hcr_bit_is_documented() -> None:
    for name in HCR.BITS:
        assert re.search(rf"^\| `{name}` \|", SCENARIOS, re.MULTILINE), f"HCR.{name} has no row"
    assert set(HCR.BITS) == {f.name for f in dataclasses.fields(HCR)}


def test_descriptor_encoding_matches_the_code() -> None:
    for name in ("VALID", "TABLE", "AF", "RO", "XN", "ATTR_SHIFT", "OA_SHIFT"):
        value = getattr(translation, name)
        assert f"`{name}` = {value}" in SCENARIOS, f"{name} = {value} is not in the descriptor table"
    for attr in translation.ATTRS:
        assert f'`"{attr}"`' in SCENARIOS
    for kind in ifetch.KINDS:
        assert f'`"{kind}"`' in SCENARIOS, f"icache kind {kind!r} is not documented"


def test_api_page_names_only_objects_that_exist() -> None:
    """Each ``::: dotted.path`` and each ``members:`` entry under it must import."""
    api = (DOCS / "api.md").read_text()
    blocks = re.findall(r"^::: ([\w.]+)\n((?:    .*\n)*)", api, re.MULTILINE)
    assert blocks
    for path, options in blocks:
        module_path, obj = path, None
        try:
            target = importlib.import_module(path)
        except ModuleNotFoundError:
            module_path, _, obj = path.rpartition(".")
            target = getattr(importlib.import_module(module_path), obj)
        members = re.search(r"members: \[([^\]]*)\]", options)
        for member in members.group(1).split(",") if members else []:
            assert hasattr(target, member.strip()), f"{path} has no {member.strip()}"


def test_mkdocs_nav_lists_existing_pages() -> None:
    config = (DOCS.parent / "mkdocs.yml").read_text()
    pages = re.findall(r"^  - [^:]+: (\S+\.md)$", config, re.MULTILINE)
    assert "notation.md" in pages and "scenarios.md" in pages
    for page in pages:
        assert (DOCS / page).is_file(), page


REFERENCE_PAGES = ("index.md", "notation.md", "scenarios.md", "api.md")
_SOURCE_PATH = re.compile(
    r"(?<![\w/])((?:stalecheck/)?(?:machine|scenarios|explore|report|litmus)/\w+\.(?:py|lark))"
)


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or a module followed by attributes that exist."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(target, attr):
                return False
            target = getattr(target, attr)
        return True
    return False


@pytest.mark.parametrize("page", REFERENCE_PAGES)
def test_reference_pages_name_only_modules_that_exist(page: str) -> None:
    """Source paths (``machine/buffer.py``) and dotted names (``stalecheck.machine.isa``) in
    the reference pages must still exist after code moves."""
    text = (DOCS / page).read_text()
    for path in _SOURCE_PATH.findall(text):
        where = DOCS.parent / "stalecheck" / path.removeprefix("stalecheck/")
        assert where.is_file(), f"docs/{page} names {path}, which does not exist"
    for dotted in re.findall(r"\bstalecheck(?:\.\w+)+", text):
        assert _resolves(dotted), f"docs/{page} names {dotted}, which does not import"
