"""Verdict tables, witnesses and JSON for machine-engine results."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from stalecheck.explore.verdict import Outcome
from stalecheck.report.witness_html import Section
from stalecheck.report.witness_text import copies_json, step_json, witness_lines
from stalecheck.runner import Result

_STYLE = {"reachable": "bold red", "unreachable": "bold green", "unknown": "bold yellow"}
_COST_KEYS = ("cmos", "lines_maintained", "dsbs", "traps", "pages_mapped")


def verdict_table(results: Sequence[Result], title: str) -> Table:
    """One row per variant: verdict, states, witness length, cost, and whether it
    matches what the seed analysis predicted."""
    # User text (names, titles) goes in as Text, which rich never reads as markup.
    table = Table(title=Text(title), title_justify="left", show_lines=False)
    table.add_column("variant", style="bold")
    table.add_column("verdict")
    table.add_column("states", justify="right")
    table.add_column("witness", justify="right")
    for key in _COST_KEYS:
        table.add_column(key.replace("_", " "), justify="right")
    table.add_column("predicted")
    for r in results:
        v = r.verdict
        match = "" if not r.expect else ("= " if r.expect == r.outcome else "≠ ") + r.expect
        table.add_row(
            Text(r.variant),
            Text(r.outcome, style=_STYLE[r.outcome]),
            f"{v.states:,}",
            str(len(v.witness)) if v.outcome == Outcome.REACHABLE else "-",
            *(str(r.cost.get(k, 0)) for k in _COST_KEYS),
            Text(match),
        )
    return table


def witness_text(r: Result) -> Group:
    """The full explanation of one result: verdict line, assumptions, witness steps."""
    v = r.verdict
    head = Text.assemble(
        (f"{r.scenario}/{r.variant}: ", "bold"),
        (r.outcome, _STYLE[r.outcome]),
        f" — {because(r)}",
    )
    parts: list[Any] = [head, Text(f"  {r.summary}", style="dim")]
    parts.append(Text(f"  bad state: {r.bad}"))
    if v.outcome == Outcome.REACHABLE:
        parts.append(Text(f"  witness ({len(v.steps)} steps, replay token {v.token or '(initial state)'}):"))
        parts.extend(Text(f"  {line}") for line in witness_lines(r.steps))
    parts.append(Text("  assumptions:", style="dim"))
    parts.extend(Text(f"    - {a}", style="dim") for a in r.assumptions)
    return Group(*parts)


def because(r: Result) -> str:
    """Why the verdict holds, in one clause (how far the search went)."""
    v = r.verdict
    if v.outcome == Outcome.REACHABLE:
        which = "shortest witness" if v.shortest else "witness (maybe not the shortest: --shortest)"
        return f"{which} {len(v.witness)} steps, found after {v.states:,} states"
    if v.outcome == Outcome.UNREACHABLE:
        return f"every reachable state explored: {v.states:,} states, {v.transitions:,} transitions"
    if v.order != "bfs" or v.reduction.startswith("partial-order"):
        # Depth-first, bitstate and reduced levels prove no depth bound of the full graph.
        return f"search stopped ({v.reason.value}) after {v.states:,} states; nothing bad in those states"
    return (
        f"search stopped ({v.reason.value}) after {v.states:,} states; nothing bad within "
        f"{v.depth} steps of the start"
    )


def result_json(r: Result) -> dict[str, Any]:
    v = r.verdict
    return {
        "scenario": r.scenario,
        "variant": r.variant,
        "verdict": r.outcome,
        "stopped_because": v.reason.value,
        "states": v.states,
        "transitions": v.transitions,
        "depth": v.depth,
        "search": {"order": v.order, "reduction": v.reduction, "shortest_witness": v.shortest},
        "seconds": round(v.seconds, 3),
        "witness": [step_json(rec) for rec in r.steps],
        "replay": v.token,
        "cost": r.cost,
        "assumptions": list(r.assumptions),
        "bad_state": r.bad,
        "predicted": r.expect or None,
        # With each step's "after", every copy of every line after every step.
        "initial_copies": [copies_json(lines) for lines in r.initial_copies] if r.steps else [],
    }


def html_section(r: Result) -> Section:
    """One variant on the ``--html`` page: verdict, why, and the witness if any."""
    v = r.verdict
    notes = [because(r), r.summary, f"bad state: {r.bad}"]
    if v.outcome == Outcome.REACHABLE:
        notes.append(f"witness: {len(v.steps)} steps, replay token {v.token or '(initial state)'}")
    return Section(
        heading=f"{r.scenario}/{r.variant}: {r.outcome}",
        verdict=r.outcome,
        notes=tuple(notes),
        steps=r.steps,
        initial=r.initial_copies,
        assumptions=r.assumptions,
    )


def dumps(r: Result) -> str:
    return json.dumps(result_json(r), sort_keys=True)


def print_table(console: Console, results: Sequence[Result], title: str) -> None:
    console.print(verdict_table(results, title))
