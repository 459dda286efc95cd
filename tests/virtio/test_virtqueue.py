"""Virtqueue programs, the AWAIT step and ring wrap (quiet lines: tests/machine/test_reduction.py)."""

from stalecheck.machine.program import parse_program
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.fcvm_vsock_nv2 import build
from stalecheck.scenarios.support.virtio import Virtqueue


def _machine(vq: Virtqueue, fwb: bool = True, quiet: bool = True, **kw: object) -> Machine:
    b = Builder()
    build(b, vq, fwb=fwb, **kw)  # type: ignore[arg-type]
    b.options(quiet_coherent_lines=quiet)
    return Machine(b.build())


def test_await_parses() -> None:
    (instr,) = parse_program("AWAIT aidx, 3")
    assert (instr.op, instr.loc, instr.value) == ("AWAIT", "aidx", 3)


def test_ring_wraps_onto_the_same_slot() -> None:
    vq = Virtqueue(slots=2, messages=3)
    driver = vq.driver()
    assert "STR c0, 1" in driver and "STR c0, 3" in driver  # message 2 reuses slot 0
    assert "AWAIT uidx, 1" in driver  # ... after reclaiming message 0
    assert "AWAIT uidx, 2" not in driver


def test_canonical_run_delivers_every_frame_intact() -> None:
    vq = Virtqueue(slots=2, messages=3, paged=True)
    m = _machine(vq)
    state = m.initial_state()
    for _ in range(10_000):
        steps = m.actions(state)
        if not steps:
            break
        state = m.next_state(state, steps[0])
    assert m.is_complete(state)
    assert not m.is_bad(state)
