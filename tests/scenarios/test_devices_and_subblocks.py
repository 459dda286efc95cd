"""Devices and sub-block lines through the public scenario API (docs/design.md section 1).

Each case is explored exhaustively; the assertions are on verdicts and witnesses.
"""

from __future__ import annotations

from stalecheck.explore.search import check
from stalecheck.explore.verdict import Outcome
from stalecheck.machine.system import Machine
from stalecheck.report.witness_text import step_text
from stalecheck.scenarios.builder import Builder


def _explore(build) -> tuple[Outcome, list[str]]:  # type: ignore[no-untyped-def]
    b = Builder()
    build(b)
    machine = Machine(b.build())
    verdict = check(machine, sanity=machine.is_complete)
    assert verdict.sane or verdict.outcome != Outcome.UNREACHABLE
    return verdict.outcome, [step_text(s) for s in verdict.steps]


def _cpu_writes_then_dma_reads(coherent: bool, clean: bool):  # type: ignore[no-untyped-def]
    def build(b: Builder) -> None:
        b.system(pes=1, system_cache=True)
        b.page("P0", "X")
        cmo = "DC CVAC X\n" if clean else ""
        b.host("cpu", f"STR X, 1\n{cmo}DSB SY\nSIGNAL kick")
        b.device("dma", "WAIT kick\nLDR r1, X", coherent=coherent)
        b.bad_when(lambda v: v.done("dma") and v.reg("dma", "r1") != 1, "DMA reads stale X")

    return build


def test_non_coherent_dma_reads_stale_without_clean() -> None:
    outcome, steps = _explore(_cpu_writes_then_dma_reads(coherent=False, clean=False))
    assert outcome == Outcome.REACHABLE
    assert "non-coherent DMA read at the PoC" in steps[-1]


def test_non_coherent_dma_after_clean_to_poc_is_safe() -> None:
    outcome, _ = _explore(_cpu_writes_then_dma_reads(coherent=False, clean=True))
    assert outcome == Outcome.UNREACHABLE


def test_io_coherent_dma_snoops_caches() -> None:
    outcome, _ = _explore(_cpu_writes_then_dma_reads(coherent=True, clean=False))
    assert outcome == Outcome.UNREACHABLE


def _partial_device_write(cpu_cleans_first: bool):  # type: ignore[no-untyped-def]
    """B2.11 / seed-style: a line with two words a, b. The CPU dirties a; a
    non-coherent device then writes b at the PoC; the CPU's later write-back of the
    whole line puts the old b back over the device's data."""

    def build(b: Builder) -> None:
        b.system(pes=1)
        b.page("P0", "X:a,b")
        cmo = "DC CIVAC X\nDSB SY\n" if cpu_cleans_first else ""
        b.host("cpu", f"STR a, 1\nDSB SY\n{cmo}SIGNAL go\nWAIT written\nDC CIVAC X\nDSB SY\nLDR r1, b")
        b.device("dev", "WAIT go\nSTR b, 7\nSIGNAL written")
        b.bad_when(lambda v: v.done("cpu") and v.reg("cpu", "r1") != 7, "the device's word b is lost")

    return build


def test_whole_line_write_back_overwrites_partial_device_write() -> None:
    outcome, steps = _explore(_partial_device_write(cpu_cleans_first=False))
    assert outcome == Outcome.REACHABLE
    assert any("writes back" in s or "cleans and invalidates" in s for s in steps)


def test_cleaning_before_handing_the_line_to_the_device_keeps_its_word() -> None:
    outcome, _ = _explore(_partial_device_write(cpu_cleans_first=True))
    assert outcome == Outcome.UNREACHABLE
