"""Virtqueue programs, the AWAIT step and ring wrap (quiet lines: tests/machine/test_reduction.py)."""

from dataclasses import dataclass, replace

from stalecheck.explore.verdict import Outcome
from stalecheck.machine.isa import ACQUIRE, awaits, render
from stalecheck.machine.program import parse_program
from stalecheck.machine.system import Machine
from stalecheck.scenarios.builder import Builder
from stalecheck.scenarios.fcvm_vsock_nv2 import build
from stalecheck.scenarios.support.virtio import Virtqueue
from tests.machine.util import explore


def _machine(vq: Virtqueue, fwb: bool = True, quiet: bool = True, **kw: object) -> Machine:
    b = Builder()
    build(b, vq, fwb=fwb, **kw)  # type: ignore[arg-type]
    b.options(quiet_coherent_lines=quiet)
    return Machine(b.build())


def test_await_parses() -> None:
    (instr,) = parse_program("AWAIT aidx, 3")
    assert (instr.op, instr.loc, instr.value, instr.at_least, instr.kind) == ("AWAIT", "aidx", 3, False, "")
    at_least, acquire = parse_program("AWAIT aidx, >=3\nAWAITA k0, >= 1")
    assert (at_least.value, at_least.at_least, at_least.kind) == (3, True, "")
    assert (acquire.loc, acquire.value, acquire.at_least, acquire.kind) == ("k0", 1, True, ACQUIRE)
    assert render(replace(at_least, text="")) == "AWAIT aidx, >=3"
    assert render(replace(acquire, text="")) == "AWAITA k0, >=1"
    assert [awaits(at_least, v) for v in (2, 3, 4)] == [False, True, True]
    assert [awaits(instr, v) for v in (2, 3, 4)] == [False, True, False]


def test_ring_wraps_onto_the_same_slot() -> None:
    vq = Virtqueue(slots=2, messages=3)
    driver = vq.driver()
    assert "STR c0, 1" in driver and "STR c0, 3" in driver  # message 2 reuses slot 0
    assert "AWAIT uidx, >=1" in driver  # ... after reclaiming message 0
    assert "AWAIT uidx, >=2" not in driver


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


@dataclass(frozen=True)
class _NoIrqWait(Virtqueue):
    """The driver without the interrupt wait before it reclaims a slot; ``poll`` False
    also reads ``used->idx`` once (a plain load) instead of polling it."""

    poll: bool = True

    def driver(self) -> str:
        out = []
        for line in super().driver().splitlines():
            if line.startswith("WAIT irq"):
                continue
            if line.startswith("AWAIT uidx") and not self.poll:
                line = "LDR r9, uidx  // read once: no loop, no control dependency"
            out.append(line)
        return "\n".join(out)


def test_driver_without_virtio_rmb_is_held_by_the_polls_control_dependency() -> None:
    """``driver-no-rmb-fwb`` is unreachable because the driver's stores into the reused
    skb wait for its poll of ``used->idx`` (B2.3.6 Control dependency; B2.3.7
    Dependency-ordered-before orders a write after the branch), not only because it
    waits for the interrupt: without the interrupt wait it is still unreachable, and
    with ``used->idx`` read once (no branch on it) the driver overwrites the skb the
    VMM is still reading."""
    held = explore(_machine(_NoIrqWait(1, 2, paged=True, driver_rmb=False)))
    assert held.outcome == Outcome.UNREACHABLE and held.sane
    free = _NoIrqWait(1, 2, paged=True, driver_rmb=False, poll=False)
    assert explore(_machine(free)).outcome == Outcome.REACHABLE
