"""Weights for random schedules (stress mode): how likely each enabled step is.

Exhaustive search treats every step alike; a random schedule needs weights, or
spontaneous cache steps (a fill or drop of any line at any moment) would swamp
program progress.  On hardware a given line is filled speculatively or evicted
rarely compared with the instructions that run meanwhile, so hardware steps get a
small weight.  This changes no semantics (every step stays enabled), only how
often a random run takes it; the rates that follow are a trend, not a calibration.
"""

from __future__ import annotations

from stalecheck.machine.state import State
from stalecheck.machine.system import DROP, FILL, WRITE_BACK, Machine, Step

HARDWARE = (WRITE_BACK, DROP, FILL)


class RareHardware(Machine):
    """A ``Machine`` whose spontaneous cache steps are ``hardware`` times as likely as
    a program or buffer step."""

    hardware = 0.05

    def stress_weight(self, state: State, step: Step) -> float:
        return self.hardware if step[0] in HARDWARE else 1.0
