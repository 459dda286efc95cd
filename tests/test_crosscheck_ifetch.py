"""Issue 13 part 7: the machine engine against the axiomatic engine on herd's ifetch tests.

Every final state the machine reaches must be one the axiomatic engine allows
(herd's ``aarch64.cat`` under ``-variant ifetch``); a state on the machine's
side only is a bug in one of the two engines.  The whole catalogue runs in
``benchmarks/crosscheck_ifetch.py`` (machine searches take seconds each); here a
sample of each shape, the translation of every test, and the discrepancies
known today, each pinned to its exact machine-only state so that a change on
either side shows up.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from stalecheck.axiomatic.check import check_test
from stalecheck.crosscheck_ifetch import compare, translate_ifetch
from stalecheck.errors import UnsupportedError
from stalecheck.litmus.parser import parse_file
from tests.data import HERDTOOLS7

CATALOGUE = HERDTOOLS7 / "herd-catalogue" / "aarch64-ifetch" / "tests"
ALL = sorted(CATALOGUE.rglob("*.litmus"))

# One test of each shape the translation covers, with each CTR_EL0 configuration.
SAMPLE = [
    "DIC0-IDC0/SM.B+dc.cvau-dsb.ish-ic.vau-dsb.ish.litmus",  # self-modifying, full sequence
    "DIC0-IDC0/SM.B+badcachesync-isb.litmus",
    "DIC0-IDC0/coFW-1.litmus",
    "DIC0-IDC0/MP.FR+dmb.st+po.litmus",  # fetch, then a data read
    "DIC0-IDC0/MP.RF+dmb.st+dsb.ish-ic.ivau-dsb.ish-isb.litmus",  # data read, then a fetch
    "DIC0-IDC0/LB.RF+dmb.sy+po.litmus",
    "DIC0-IDC1/IDC1.MP.FW+dmb.st+po.litmus",
    "DIC0-IDC1/IDC1.MP.RF+dmb.st+ctrlisb.litmus",  # CBNZ to the next instruction, then ISB
    "DIC0-IDC1/IDC1.MP.RF+dc-dsb-ic-dsb+dsb.ld-isb.litmus",
    "DIC1-IDC1/DIC1.MP.FR+dmb.st+po.litmus",
]

# Tests where the machine reaches a state herd's model forbids, with that state (two of
# the 11 the benchmark lists: one of each cause; docs/litmus.md has them all).
KNOWN = {
    # The machine fetches a later EXEC ahead of an earlier one (machine/mmu.py ``_window``:
    # any EXEC up to the next ISB, in any order), so P1 may run the old code at L1 after
    # the new code at L0.  herd's aarch64.cat forbids it by IC-ob,
    # ``[Imp & Instr & R]; po; [Imp & Instr & R]; Instr-read-ordered-before``, which with
    # DIC includes ``ca``: fetches in program order may not see writes out of order.
    "DIC1-IDC1/DIC1.MP.FF+dmb.st+po.litmus": {("1:X10=1", "1:X11=0")},
    # IC IALLU invalidates "all instruction caches of the PE executing the instruction"
    # (Arm ARM, IC IALLU; ICIALLU G8.2.80), so P0's I-cache may keep the old M1; herd's
    # model has no per-PE caches and orders P0's fetch after P1's IALLU (Forbidden there).
    "DIC0-IDC0/SB-bnop-cachesyncs3.litmus": {("0:X9=0", "1:X9=0")},
}


PREFIX = "not expressible in the machine engine: "


@cache
def _translation(path: Path) -> str | None:
    """"" if the machine engine can express the test, else why not (None: the axiomatic
    engine itself refuses the test)."""
    try:
        test = parse_file(path)
        result = check_test(test, keep_witness=False, variants=("ifetch",))
    except UnsupportedError:
        return None
    try:
        translate_ifetch(test, tuple(result.columns))
    except UnsupportedError as exc:
        return exc.message
    return ""


def test_enough_ifetch_tests_are_expressible() -> None:
    """A floor (190 of the 313 tests the axiomatic engine decides, today), so that a
    translator regression cannot empty the check; every refusal says what the machine
    engine cannot express."""
    reasons = [r for r in (_translation(p) for p in ALL) if r is not None]
    assert sum(1 for r in reasons if not r) >= 190
    assert all(r.startswith(PREFIX) for r in reasons if r)


@pytest.mark.parametrize("name", SAMPLE)
def test_machine_states_are_axiomatic_states(name: str) -> None:
    c = compare(parse_file(CATALOGUE / name))
    assert c.complete
    assert c.machine, "the machine reached no final state"
    assert not c.machine_only, f"machine-only final states {sorted(c.machine_only)}"


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_discrepancies_are_exactly_what_they_were(name: str) -> None:
    c = compare(parse_file(CATALOGUE / name))
    assert c.complete
    assert set(c.machine_only) == KNOWN[name]


def test_code_versions_reach_the_registers_the_fetched_code_sets() -> None:
    """A version that is a NOP runs the MOV the original branch skips: the machine's
    EXEC register decides the herd register (here on one thread, so both are seen)."""
    test = parse_file(CATALOGUE / "DIC0-IDC0/SM.B+badcachesync-isb.litmus")
    result = check_test(test, keep_witness=False, variants=("ifetch",))
    t = translate_ifetch(test, tuple(result.columns))
    values = {regs.get("X9", 0) for table in t.derived.values() for regs in table.values()}
    assert values == {0, 1}


def test_what_the_machine_cannot_express_is_refused_with_the_reason() -> None:
    """A code address held in memory, say: machine locations hold integers only."""
    reason = _translation(CATALOGUE / "MP+rel+blr.litmus")
    assert reason == PREFIX + 'a code address stored as data (y holds label:"P1:L0")'
