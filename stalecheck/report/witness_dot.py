"""A machine-engine witness as Graphviz DOT: one column per actor, steps in order.

Built from the step records (no graphviz binary needed to emit it); ``dot -Tsvg``
draws a sequence chart in which a reader follows who touched which copy, step by
step.  Each cache, TLB and I-cache gets its own column, so an eviction or a
speculative fill sits under the cache that did it.
"""

from __future__ import annotations

from collections.abc import Sequence

from stalecheck.machine.step_record import StepRecord


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def lanes(steps: Sequence[StepRecord]) -> list[str]:
    """The actors' columns, in order of first appearance (a policy runs in the column
    of the thread it runs for: same PE, same program order)."""
    return list(dict.fromkeys(rec.actor.name for rec in steps))


def node_label(n: int, rec: StepRecord) -> str:
    """What a step's box says: the effect, the other structures, the copies after."""
    parts = [f"{n}. {rec.effect.text}", *rec.effect.views]
    if rec.shows_copies:
        parts.extend(str(lines) for lines in rec.after)
    if rec.actor.kind == "policy":
        parts[0] = f"{n}. [EL2 policy] {rec.effect.text}"
    return " ".join(parts)


def witness_dot(title: str, steps: Sequence[StepRecord]) -> str:
    actors = lanes(steps)
    lines = [
        "digraph witness {",
        "  rankdir=TB; newrank=true;",
        f'  label="{_escape(title)}"; labelloc=t;',
        '  node [shape=box, fontname="monospace", fontsize=10];',
    ]
    for i, actor in enumerate(actors):
        lines.append(f'  a{i} [label="{_escape(actor)}", shape=plaintext, fontsize=12];')
    for n, rec in enumerate(steps, 1):
        lines.append(f'  s{n} [label="{_escape(node_label(n, rec))}"];')
    for i, actor in enumerate(actors):
        chain = [f"a{i}"] + [f"s{n}" for n, rec in enumerate(steps, 1) if rec.actor.name == actor]
        lines.append(f"  {' -> '.join(chain)} [style=dotted, arrowhead=none];")
    order = " -> ".join(f"s{n}" for n in range(1, len(steps) + 1))
    if order:
        lines.append(f"  {order} [color=gray];")
    lines.append("  { rank=same; " + " ".join(f"a{i};" for i in range(len(actors))) + " }")
    lines.append("}")
    return "\n".join(lines) + "\n"
