"""A litmus witness execution as readable text, as Graphviz DOT, and results as JSON.

A witness is one consistent candidate execution: its events per thread, the
read-from and coherence choices, and the ordering edges the Arm model used
(named after the cat relations: addr, data, ctrl, acq, rel, dmb.full, ...).
Edges between events of one thread are the ones that make an outcome
forbidden; ``rf``/``co``/``fr`` are the communication choices.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from stalecheck.axiomatic.candidates import INIT_PROC, Execution
from stalecheck.axiomatic.check import CheckResult
from stalecheck.axiomatic.relations import find_cycle
from stalecheck.report.herd import condition_text


def _label(ex: Execution, g: int) -> str:
    ge = ex.events[g]
    ev = ge.event
    base, offset = ev.cell
    cell = base if offset == 0 else f"{base}+{offset}"
    if ge.proc == INIT_PROC:
        return f"init: W {cell}={ev.value}"
    marks = "".join(
        m for m, on in (("A", ev.acquire), ("Q", ev.acquire_pc), ("L", ev.release),
                        ("X", ev.exclusive)) if on
    )
    if ev.kind in ("C", "T", "F"):  # maintenance, TLBI, fault: the operation and its address
        return f"P{ge.proc}: {ev.cmo} {cell}  ({ev.text}, line {ev.line})"
    # an instruction fetch (herd's Imp & Instr & R), a translation-table walk (Imp & TTD & R)
    kind = "IF" if ev.fetch else "WALK" if ev.walk else ev.kind
    return f"P{ge.proc}: {kind}{marks} {cell}={ev.value}  ({ev.text}, line {ev.line})"


def _edges(ex: Execution) -> list[tuple[int, int, str]]:
    edges: list[tuple[int, int, str]] = []
    for r, w in sorted(ex.rf.items()):
        edges.append((w, r, "rf"))
    for order in ex.co.values():
        for a, b in itertools.pairwise(order):
            edges.append((a, b, "co"))
        for r, w in ex.rf.items():
            if w in order:
                for later in order[order.index(w) + 1:]:
                    edges.append((r, later, "fr"))
    for named, off in zip(ex.named, ex.offsets, strict=True):
        for i, j, name in named:
            edges.append((off + i, off + j, name))
    return edges


def _edge_name(ex: Execution, a: int, b: int) -> str:
    """Name an ordered-before edge of a cycle after the relation that contributes it."""
    pa, pb = ex.events[a].proc, ex.events[b].proc
    if ex.rf.get(b) == a:
        return "rfe" if pa != pb else "rfi"
    for order in ex.co.values():
        if a in order and b in order and order.index(a) < order.index(b):
            return "coe"
        if b in order and ex.rf.get(a) in order and order.index(ex.rf[a]) < order.index(b):
            return "fre"
    for named, off in zip(ex.named, ex.offsets, strict=True):
        for i, j, name in named:
            if (off + i, off + j) == (a, b):
                return name
    return "lob" if pa == pb else "ob"


def _explain_forbidden(result: CheckResult) -> list[str]:
    ex = result.forbidden
    if ex is None:
        return []
    lines = [f"Forbidden candidate reaching the condition: it breaks {ex.violation}.", "events:"]
    for g in range(len(ex.events)):
        lines.append(f"  e{g}  {_label(ex, g)}")
    cycle = find_cycle(ex.ob) if ex.ob else []
    if cycle:
        lines.append("ordered-before cycle:")
        for k, a in enumerate(cycle):
            b = cycle[(k + 1) % len(cycle)]
            lines.append(f"  e{a} -{_edge_name(ex, a, b)}-> e{b}")
    return lines


def witness_text(result: CheckResult) -> str:
    """Events and relations of the witness, one per line (and why a wanted outcome is not)."""
    ex = result.witness
    lines: list[str] = []
    if ex is None:
        lines.append(f"Test {result.name}: no consistent execution")
    else:
        head = "satisfies" if result.witness_satisfies else "does not satisfy"
        lines += [f"Witness for {result.name} ({head} the condition):", "events:"]
        for g in range(len(ex.events)):
            lines.append(f"  e{g}  {_label(ex, g)}")
        lines.append("relations:")
        for a, b, name in _edges(ex):
            lines.append(f"  e{a} -{name}-> e{b}")
    lines += _explain_forbidden(result)
    return "\n".join(lines) + "\n"


def witness_dot(result: CheckResult) -> str:
    """The witness as a Graphviz digraph, one cluster per thread.

    When the sought outcome is forbidden, the graph shows instead the rejected
    candidate that reaches it, with its ordered-before cycle drawn in bold.
    """
    ex = result.forbidden or result.witness
    name = result.name.replace('"', "'")
    lines = [f'digraph "{name}" {{', "  rankdir=TB;", '  node [shape=box, fontname="monospace"];']
    if ex is None:
        lines.append('  none [label="no consistent execution"];')
        lines.append("}")
        return "\n".join(lines) + "\n"
    by_proc: dict[int, list[int]] = {}
    for g, ge in enumerate(ex.events):
        by_proc.setdefault(ge.proc, []).append(g)
    for proc, members in sorted(by_proc.items()):
        title = "init" if proc == INIT_PROC else f"P{proc}"
        lines.append(f'  subgraph "cluster_{title}" {{ label="{title}";')
        for g in members:
            label = _label(ex, g).replace('"', "'")
            lines.append(f'    e{g} [label="{label}"];')
        lines.append("  }")
    colours = {"rf": "red", "co": "blue", "fr": "orange"}
    for a, b, rel in _edges(ex):
        colour = colours.get(rel, "darkgreen")
        lines.append(f'  e{a} -> e{b} [label="{rel}", color={colour}, fontcolor={colour}];')
    if ex is result.forbidden and ex.ob:
        cycle = find_cycle(ex.ob)
        for k, a in enumerate(cycle):
            b = cycle[(k + 1) % len(cycle)]
            lines.append(
                f'  e{a} -> e{b} [label="{_edge_name(ex, a, b)}", color=black, penwidth=3];'
            )
        lines.append(f'  label="forbidden: {ex.violation}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def result_json(result: CheckResult) -> dict[str, Any]:
    """One result as a JSON-ready dict (the same facts as the herd text)."""
    return {
        "name": result.name,
        "path": result.path,
        "kind": result.kind,
        "verdict": result.verdict,
        "ok": result.ok,
        "loop": result.loop,
        "condition": condition_text(result),
        "observation": result.observation,
        "positive": result.positive,
        "negative": result.negative,
        "observed_true": result.p_true,
        "observed_false": result.p_false,
        "states": [_state_json(state) for state in result.states],
        "executions": result.executions,
        "seconds": round(result.elapsed, 6),
    }


def _state_json(state: tuple[str, ...]) -> dict[str, Any]:
    """``0:X1=2`` cells become entries; ``Fault(...)``/``~Fault(...)`` become booleans."""
    out: dict[str, Any] = {}
    for cell in state:
        if "=" in cell and not cell.lstrip("~").startswith("Fault("):
            key, value = cell.split("=", 1)
            out[key] = value
        else:
            out[cell.lstrip("~")] = not cell.startswith("~")
    return out


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)
