"""herd variants and header keys: which ones the engine models, and refusing the rest.

herd reads a test's ``Variant=`` header line (key matched case-insensitively,
tags split on spaces and commas, each lowercased: ``lib/testVariant.ml``,
``herd/variant.ml``) and adds the command line's ``-variant`` tags.  A variant
changes event generation or the model (``if "vmsa"`` in ``aarch64.cat``), so a
test run under one we do not model would get a verdict for a different
question: such a test is refused as *unsupported*, never guessed.  A tag herd
does not know is a user error in herd, and an input error here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stalecheck.axiomatic.vmsa_scope import (
    TRANSLATION_VARIANTS,
    translation_free,
    walk_refusal,
)
from stalecheck.errors import InputError, Position, UnsupportedError
from stalecheck.litmus import ast

# Tag spellings herd's ``Variant.parse`` accepts (after lowercasing), with
# ``Fault.Handling`` and ``Precision`` tags (lib/fault.ml, lib/precision.ml).
HERD_VARIANTS = frozenset({
    "success", "instr", "specialx0", "amox0", "x0", "normw", "acqrelasfence", "backcompat",
    "back", "fullscdepend", "scdepend", "splittedrmw", "switchdepscwrite",
    "switchdepscresult", "lrscdiffok", "mixed", "unaligned", "dontcheckmixed",
    "notweakpredicated", "notweakpred", "lkmmv1", "lkmmv2", "tagmem", "memtag", "mte",
    "store-only", "cutoff", "morello", "neon", "sve", "sme", "deps", "instances", "instance",
    "kvm", "vmsa", "ets", "ets2", "ets3", "exs", "eis", "eos", "noptebranch", "nobranch",
    "pte2", "pte-squared", "optrfrmw", "constrainedunpredictable", "cu", "exp", "ifetch",
    "self", "dic", "idc", "shadowstack", "cos-opt", "test", "asl", "asl_aarch64",
    "aslaarch64", "asl+aarch64", "aslv0", "asl0", "asl_0", "aslv1", "asl1", "asl_1",
    "asltype+warn", "asltype+silence", "asltype+check", "asl+aarch64+udf", "s128", "strict",
    "warn", "telechat", "nv2", "oldsolver", "oota", "pauth1", "pauth2", "no-key-da",
    "no-key-db", "no-key-ia", "no-key-ib", "const-pac-field", "fpac", "d128",
    "imprecise", "handled", "precise", "fatal", "faulttonext", "skip",
    "synchronous", "sync", "asynchronous", "async", "asymmetric", "asym",
})
_HERD_PATTERNS = re.compile(r"^(t\d\d|sve:\d+|sme:\d+)$")

# What we model.  ``fatal``/``precise`` is herd's default fault handling (a fault
# with no handler ends its thread), which is how UDF and SVC behave here.
# ``mixed`` is herd's mixed-size semantics (mixed_size.py: events per granule);
# what it does not reproduce is refused there.
# ``ifetch``/``self`` is instruction fetch (code_data.py, ifetch_model.py), with the
# CTR_EL0 configurations ``dic``/``idc`` (also given by the ``CacheType`` key).
# ``exs``/``eis``/``eos`` are FEAT_ExS: whether an SVC entry and an exception return are
# context-synchronizing (machine.py ``exception_boundary``).
SUPPORTED = frozenset({
    "nv2", "mixed", "fatal", "precise", "telechat", "dontcheckmixed", "ifetch", "self", "dic",
    "idc", "exs", "eis", "eos",
})

# Fault handling tags; walk_refusal refuses the ones other than herd's default.
_HANDLING_TAGS = frozenset({"imprecise", "handled", "faulttonext", "skip"})

# Header keys that change the semantics of a test (lib/miscParser.ml keys): we
# model none of them yet but ``CacheType`` (read in code_data.py).  Other keys
# (Hash, Stable, Orig, Com, Cycle, ...) are documentation to herd's model.
_SEMANTIC_KEYS = ("TTHM", "MemoryType", "MT", "Unroll", "user", "el0", "Align")


def _tags(text: str) -> list[str]:
    return [t.lower() for t in re.split(r"[\s,]+", text.strip()) if t]


def test_variants(test: ast.LitmusTest, extra: Iterable[str] = ()) -> frozenset[str]:
    """The variants a test runs under (header plus ``extra``), or why we cannot run it."""
    found = test.info_value("Variant")
    line = found[1] if found else 0
    tags = _tags(found[0]) if found else []
    pos = Position(test.path, line)
    for tag in tags:
        if tag not in HERD_VARIANTS and not _HERD_PATTERNS.match(tag):
            raise InputError(f"unknown variant {tag!r}", pos)
    extras = [t.lower() for e in extra for t in _tags(e)]
    for tag in extras:
        if tag not in HERD_VARIANTS and not _HERD_PATTERNS.match(tag):
            raise InputError(f"unknown variant {tag!r} (given with --variant)", Position(test.path))
    translation_ok = _translation_decidable(test, [*tags, *extras])
    walks_refused = ""
    if not translation_ok and {"vmsa", "kvm"} & {*tags, *extras}:
        walks_refused = walk_refusal(test, frozenset([*tags, *extras]))
        translation_ok = not walks_refused and all(
            t in SUPPORTED or t in TRANSLATION_VARIANTS or t in _HANDLING_TAGS
            for t in [*tags, *extras])
    for tag in tags:
        if tag not in SUPPORTED and not (translation_ok and tag in TRANSLATION_VARIANTS | _HANDLING_TAGS):
            raise UnsupportedError(_refusal(tag, test, walks_refused), pos)
    for tag in extras:
        if tag not in SUPPORTED and not (translation_ok and tag in TRANSLATION_VARIANTS | _HANDLING_TAGS):
            raise UnsupportedError(
                f"{_refusal(tag, test, walks_refused)} (given with --variant)",
                Position(test.path),
            )
    for key in _SEMANTIC_KEYS:
        hit = test.info_value(key)
        if hit is not None and key.lower() in ("el0", "tthm") and translation_ok:
            continue  # EL0=P0, TTHM=HA: read by check.py and vmsa_scope.tthm (translation.py)
        if hit is not None:
            raise UnsupportedError(
                f"header key {key} (it changes herd's semantics) is not supported",
                Position(test.path, hit[1]),
            )
    return frozenset(tags) | frozenset(extras)


def _translation_decidable(test: ast.LitmusTest, tags: list[str]) -> bool:
    """A VMSA test the base model decides exactly (vmsa_scope.py): no translation
    state named, and no other unmodelled variant (herd refuses vmsa with ifetch)."""
    others = [t for t in tags if t not in TRANSLATION_VARIANTS]
    return (
        all(t in SUPPORTED and t not in ("ifetch", "self") for t in others)
        and translation_free(test)
    )


def _refusal(tag: str, test: ast.LitmusTest, why: str = "") -> str:
    if why:  # a VMSA test the walk model cannot decide: say what it needs
        return f"herd variant {tag!r} is not supported for this test: {why}"
    if tag in TRANSLATION_VARIANTS:
        return f"herd variant {tag!r} is not supported for this test: " + (
            why or "only translation-table walks, page-table stores and MMU faults that end "
            "their thread are modelled")
    return f"herd variant {tag!r} is not supported"
