"""The printed assumptions describe the configuration that was explored.

A verdict is only as strong as the configuration under it, so the lines printed
with it are compared here, for every bundled variant, with what the engine uses
(its resolved CLIDR_EL1 points, the HCR_EL2 bits of its initial state, the
reductions it applies) and with what the scenario asked for.  Before this test,
``LoUU=1`` was printed for variants explored with LoUU=0, LoUIS was never
printed and the list of HCR_EL2 bits left out ID.
"""

from __future__ import annotations

import re

import pytest

from stalecheck.explore.search import Budget, Store
from stalecheck.machine.assumptions import assumptions
from stalecheck.machine.spec import HCR
from stalecheck.machine.system import Machine
from stalecheck.runner import load_scenario, run_variant
from stalecheck.scenarios import BUNDLED
from stalecheck.scenarios.builder import Builder

CASES = [(name, variant) for name in BUNDLED for variant in load_scenario(name).variants]


def _machine(scenario: str, variant: str) -> Machine:
    return Machine(load_scenario(scenario).variants[variant].build())


def _one(lines: list[str], pattern: str) -> re.Match[str]:
    found = [m for m in (re.search(pattern, line) for line in lines) if m]
    assert len(found) == 1, f"expected one line matching {pattern!r} in {lines}"
    return found[0]


@pytest.mark.parametrize(("scenario", "variant"), CASES, ids=[f"{s}/{v}" for s, v in CASES])
def test_printed_assumptions_match_the_explored_configuration(scenario: str, variant: str) -> None:
    m = _machine(scenario, variant)
    printed = assumptions(m)
    asked = m.spec.caches

    clidr = _one(printed, r"CLIDR_EL1 LoUU=(\d+) LoUIS=(\d+) LoC=(\d+)")
    louu, louis, loc = (int(x) for x in clidr.groups())
    # What the engine cleans to for DC CVAU (PoU), broadcast PoU maintenance (PoUIS):
    assert (louu, louis) == (m.h.pou_depth, m.h.pouis_depth)
    # What the scenario asked for, where it asked (D24.2.33: LoUIS defaults to nothing
    # architecturally; the builder documents LoUIS = LoUU and LoUU = 1 when not given).
    assert louu == (1 if asked.louu is None else asked.louu)
    assert louis == (louu if asked.louis is None else asked.louis)
    architected = sum(1 for level in m.h.levels if level.architected)
    assert loc == (architected if asked.loc is None else asked.loc)
    assert ("SC (shared system cache, not in CLIDR)" in clidr.string) == asked.system_cache
    assert ("L2 (shared)" in clidr.string) == asked.l2

    start = m.initial_state().hcr
    for vm, bits in zip(m.vms, start, strict=True):
        line = _one(printed, rf"^VM {re.escape(vm.name)}: HCR_EL2 at start (.*)$").group(1)
        shown = set() if line.startswith("none of ") else set(line.split("+"))
        explored = {name for i, name in enumerate(HCR.BITS) if bits & (1 << i)}
        declared = {name for name in HCR.BITS if getattr(vm.hcr, name)}
        assert shown == explored == declared
        if line.startswith("none of "):
            assert line.removeprefix("none of ").split("/") == list(HCR.BITS), "every bit named"

    o = m.spec.options
    assert any("may hit a cached copy" in a for a in printed) == o.nc_reads_may_hit
    assert any(f"at most {o.max_migrations} vCPU migration" in a for a in printed)
    assert any("EL2 linear map of all RAM" in a for a in printed) == o.host_linear_map
    assert any("in program order without a barrier" in a for a in printed) == o.setway_program_order
    quiet = [a for a in printed if "no spontaneous fill/drop/write-back" in a]
    assert bool(quiet) == bool(m.quiet)
    for line in m.quiet:
        assert m.lines[line].name in quiet[0]
    assert any("lines no program, policy, buffer or page-table walk touches again" in a for a in printed) == (
        m.dead_lines is not None
    )
    assert any("no TLB fill of an entry no remaining translation" in a for a in printed) == (
        m.dead_tlb is not None
    )
    assert any("FEAT_ETS2" in a for a in printed) == (m.mmu is not None)


def test_louu_zero_is_printed_as_zero_and_louis_is_printed() -> None:
    """The case that was wrong: CLIDR_EL1.LoUU=0 (as FEAT_S2FWB systems report)."""
    b = Builder()
    b.system(pes=2, l2=True, louu=0, louis=1, loc=2)
    b.page("P", "X")
    b.host("h", "STR X, 1")
    b.bad_when(lambda v: False, "never")
    (line,) = [a for a in assumptions(Machine(b.build())) if "CLIDR" in a]
    assert "LoUU=0 LoUIS=1 LoC=2" in line
    assert "PoU at L1 (no cache before it), inner-shareable PoU after L1, PoC after L2" in line


def test_the_visited_set_line_comes_from_the_search_that_ran() -> None:
    sc = load_scenario("kvm-external-l3")
    exact = run_variant(sc, sc.variants["hcr-dc-dma"])
    assert exact.assumptions[-1] == exact.verdict.visited_assumption
    assert "stored exactly" in exact.assumptions[-1]
    digest = run_variant(sc, sc.variants["hcr-dc-dma"], Budget(), store=Store.DIGEST)
    assert f"n = {digest.verdict.states:,} states" in digest.assumptions[-1]
    assert (digest.outcome, digest.verdict.states) == (exact.outcome, exact.verdict.states)
