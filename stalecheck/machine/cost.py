"""The cost of a fix in the model's own units, from one run of the programs.

Costs are counted on a canonical schedule (threads in declaration order, each
buffered entry completed as soon as possible, no spontaneous hardware steps),
so they count what the code *issues*, which does not depend on the
interleaving: CMOs, lines maintained, DSBs, traps, pages mapped.
"""

from __future__ import annotations

from collections import Counter

from stalecheck.machine.isa import Op
from stalecheck.machine.system import COMPLETE, EXEC, SYSREG, Machine


def measure_cost(machine: Machine, max_steps: int = 100_000) -> dict[str, int]:
    """Counts of what the programs and the policies they trigger executed."""
    counts: Counter[str] = Counter()
    state = machine.initial_state()
    for _ in range(max_steps):
        steps = [s for s in machine.actions(state) if s[0] in (EXEC, COMPLETE, SYSREG)]
        if not steps:
            break
        step = next((s for s in steps if s[0] == COMPLETE), None) or steps[0]
        if step[0] == EXEC:
            t = step[1]
            instr = machine.current(state, t)
            assert instr is not None
            if machine.trap_for(state, t) is not None:
                counts["traps"] += 1
            else:
                _count(counts, instr.op, instr.kind, bool(state.threads[t].hyp))
            state = machine.next_state(state, step)
        else:
            state = machine.next_state(state, step)
    for key in (
        "traps",
        "cmos",
        "lines_maintained",
        "dsbs",
        "isbs",
        "tlbis",
        "pages_mapped",
        "el2_instructions",
    ):
        counts.setdefault(key, 0)
    return dict(sorted(counts.items()))


def _count(counts: Counter[str], op: str, kind: str, at_el2: bool) -> None:
    if at_el2:
        counts["el2_instructions"] += 1
    if op in (Op.DC, Op.DCSW, Op.IC):
        counts["cmos"] += 1
        if op != Op.IC or kind == "IVAU":
            counts["lines_maintained"] += 1
    elif op == Op.DSB:
        counts["dsbs"] += 1
    elif op == Op.MAP:
        counts["pages_mapped"] += 1
    elif op == Op.TLBI:
        counts["tlbis"] += 1
    elif op == Op.ISB:
        counts["isbs"] += 1
