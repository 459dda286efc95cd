"""A machine-engine witness as Graphviz DOT: one column per actor, steps in order.

Text in, text out (no graphviz binary needed to emit it); ``dot -Tsvg`` draws a
sequence chart in which a reader follows who touched which copy, step by step.
"""

from __future__ import annotations

from collections.abc import Sequence


def _actor(step: str) -> str:
    """The actor a witness line starts with: ``PE0 vmm``, ``PE0 buffer``, ``hardware``, ..."""
    head = step.split(":", 1)[0]
    head = head.replace(" [EL2 policy]", "")
    if head.startswith("hardware"):
        return "hardware"
    if head.startswith("hypervisor"):
        return "hypervisor"
    return head


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def witness_dot(title: str, steps: Sequence[str]) -> str:
    actors: list[str] = []
    for step in steps:
        actor = _actor(step)
        if actor not in actors:
            actors.append(actor)
    lines = [
        "digraph witness {",
        "  rankdir=TB; newrank=true;",
        f'  label="{_escape(title)}"; labelloc=t;',
        '  node [shape=box, fontname="monospace", fontsize=10];',
    ]
    for i, actor in enumerate(actors):
        lines.append(f'  a{i} [label="{_escape(actor)}", shape=plaintext, fontsize=12];')
    for n, step in enumerate(steps, 1):
        text = step.split(": ", 1)[1] if ": " in step else step
        lines.append(f'  s{n} [label="{n}. {_escape(text)}"];')
    for i, actor in enumerate(actors):
        chain = [f"a{i}"] + [f"s{n}" for n, step in enumerate(steps, 1) if _actor(step) == actor]
        lines.append(f"  {' -> '.join(chain)} [style=dotted, arrowhead=none];")
    order = " -> ".join(f"s{n}" for n in range(1, len(steps) + 1))
    if order:
        lines.append(f"  {order} [color=gray];")
    lines.append("  { rank=same; " + " ".join(f"a{i};" for i in range(len(actors))) + " }")
    lines.append("}")
    return "\n".join(lines) + "\n"
