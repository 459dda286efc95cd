"""Witnesses as one self-contained HTML page: a sequence chart beside the copies.

Each witness is one HTML table, so the chart and the copies stay aligned row by
row whatever the browser's fonts: on the left one column per actor (a lifeline,
with the step's box in the column of whoever took it), on the right every copy of
every line after that step, one column per cache that ever holds the line, plus
memory.  A cell the step changed is highlighted and a dirty copy is marked ``*``.
Plain HTML and inline CSS only: no script, no external asset, no network, so the
file can be attached to a bug report or mailed as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from stalecheck.machine.step_record import ActorKind, LineCopies, StepRecord

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
.verdict-reachable { color: #b00020; } .verdict-unreachable { color: #1b7a1b; }
.verdict-unknown { color: #a06000; }
.note { color: #555; margin: 0.2em 0; }
.scroll { overflow-x: auto; border: 1px solid #ddd; }
table.witness { border-collapse: collapse; font-size: 12px; }
table.witness th, table.witness td { padding: 3px 6px; vertical-align: top; }
table.witness thead th { background: #f3f3f3; border-bottom: 1px solid #bbb; position: sticky; top: 0; }
th.lane { min-width: 9em; text-align: center; }
td.lane { background: linear-gradient(#999, #999) no-repeat center / 1px 100%; min-width: 9em; }
td.num { text-align: right; color: #777; }
.box { background: #fff; border: 1px solid #666; border-radius: 4px; padding: 3px 5px; max-width: 26em; }
.box.policy { border-color: #6a1b9a; background: #f7f0fa; }
.box.hardware { border-style: dashed; background: #f5f9ff; }
.box.trap { border: 2px solid #b00020; }
.box .instr { font-family: ui-monospace, monospace; font-weight: bold; }
.tag { font-size: 10px; border-radius: 3px; padding: 0 3px; margin-right: 3px; background: #eee; }
.views { font-family: ui-monospace, monospace; font-size: 11px; color: #444; }
td.copy { font-family: ui-monospace, monospace; text-align: center; border-left: 1px solid #eee; }
td.copy.first { border-left: 2px solid #ccc; }
td.changed { background: #fff2a8; }
td.dirty { font-weight: bold; color: #b00020; }
td.none { color: #bbb; }
tr.initial td { border-bottom: 1px solid #bbb; }
details { margin-top: 0.5em; }
"""

_HARDWARE = {ActorKind.CACHE, ActorKind.TLB, ActorKind.ICACHE}


@dataclass(frozen=True)
class Section:
    """One variant (or one replayed witness) on the page."""

    heading: str
    verdict: str = ""  # reachable / unreachable / unknown, for its colour
    notes: tuple[str, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    initial: tuple[LineCopies, ...] = ()
    assumptions: tuple[str, ...] = field(default_factory=tuple)


def page(title: str, sections: Sequence[Section]) -> str:
    body = [f"<h1>{escape(title)}</h1>"]
    for section in sections:
        body.append(_section(section))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _section(s: Section) -> str:
    cls = f' class="verdict-{escape(s.verdict)}"' if s.verdict else ""
    out = [f"<section>\n<h2{cls}>{escape(s.heading)}</h2>"]
    out.extend(f'<p class="note">{escape(note)}</p>' for note in s.notes)
    if s.steps:
        out.append(f'<div class="scroll">{witness_table(s.steps, s.initial)}</div>')
    if s.assumptions:
        items = "".join(f"<li>{escape(a)}</li>" for a in s.assumptions)
        out.append(f"<details><summary>assumptions</summary><ul>{items}</ul></details>")
    out.append("</section>")
    return "\n".join(out)


def _holder_order(holder: str) -> tuple[int, str]:
    """Innermost cache first, memory last (L1.PE0, L1.PE1, L2, SC)."""
    level = holder.split(".", 1)[0]
    rank = {"L1": 0, "L2": 1, "SC": 2}.get(level, 3)
    return rank, holder


def copy_rows(steps: Sequence[StepRecord], initial: Sequence[LineCopies]) -> list[dict[str, LineCopies]]:
    """Every line's copies in the initial state and after each step: a step's record
    holds every line it changed, the other lines keep their copies."""
    current = {lines.line: lines for lines in initial}
    rows = [dict(current)]
    for rec in steps:
        for lines in rec.after:
            current[lines.line] = lines
        rows.append(dict(current))
    return rows


def _columns(rows: Sequence[dict[str, LineCopies]]) -> list[tuple[str, list[str]]]:
    names: dict[str, set[str]] = {}
    for row in rows:
        for name, lines in row.items():
            names.setdefault(name, set()).update(c.holder for c in lines.copies)
    return [(name, sorted(holders, key=_holder_order)) for name, holders in names.items()]


def _cell(lines: LineCopies | None, holder: str) -> tuple[str, bool]:
    """The text of one copy ("" when there is none) and whether it is dirty."""
    if lines is None:
        return "", False
    if holder == "mem":
        return "/".join(map(str, lines.memory)), False
    for c in lines.copies:
        if c.holder == holder:
            return "/".join(map(str, c.values)) + ("*" if c.dirty else ""), c.dirty
    return "", False


def _box(n: int, rec: StepRecord) -> str:
    kinds = ["box"]
    if rec.actor.kind == ActorKind.POLICY:
        kinds.append("policy")
    if rec.actor.kind in _HARDWARE:
        kinds.append("hardware")
    if rec.effect.trap or rec.effect.fault:
        kinds.append("trap")
    tags = []
    if rec.actor.kind == ActorKind.POLICY:
        tags.append("EL2 policy")
    if rec.effect.memtype:
        tags.append(rec.effect.memtype)
    if rec.effect.trap:
        tags.append(f"trap: {rec.effect.trap}")
    if rec.effect.fault:
        tags.append(f"fault: {rec.effect.fault}")
    head = "".join(f'<span class="tag">{escape(t)}</span>' for t in tags)
    text = escape(rec.effect.text)
    if rec.instruction and rec.instruction in rec.effect.text:
        text = text.replace(
            escape(rec.instruction), f'<span class="instr">{escape(rec.instruction)}</span>', 1
        )
    views = "".join(f'<div class="views">{escape(v)}</div>' for v in rec.effect.views)
    return (
        f'<div class="{" ".join(kinds)}" title="step {n}: {escape(rec.operation)}">{head}{text}{views}</div>'
    )


def witness_table(steps: Sequence[StepRecord], initial: Sequence[LineCopies]) -> str:
    """The sequence chart and the table of copies, one row per step."""
    lanes = list(dict.fromkeys(rec.actor.name for rec in steps))
    lane_title = {}
    for rec in steps:
        a = rec.actor
        if a.name not in lane_title and a.kind != ActorKind.POLICY:
            role = ", ".join(x for x in (a.role, a.el) if x)
            lane_title[a.name] = f"{a.name} ({role})" if role else a.name
    rows = copy_rows(steps, initial)
    columns = _columns(rows)
    head1 = ['<th rowspan="2">#</th>']
    head1 += [f'<th class="lane" rowspan="2">{escape(lane_title.get(x, x))}</th>' for x in lanes]
    head1 += [f'<th colspan="{len(holders) + 1}">{escape(name)}</th>' for name, holders in columns]
    head2 = [f"<th>{escape(h)}</th>" for _, holders in columns for h in [*holders, "mem"]]
    body = []
    for i, row in enumerate(rows):
        cells = [f'<td class="num">{i}</td>']
        if i == 0:
            cells.append(f'<td colspan="{len(lanes)}">initial state</td>')
        else:
            rec = steps[i - 1]
            for lane in lanes:
                inner = _box(i, rec) if rec.actor.name == lane else ""
                cells.append(f'<td class="lane">{inner}</td>')
        for name, holders in columns:
            for j, holder in enumerate([*holders, "mem"]):
                text, dirty = _cell(row.get(name), holder)
                before, _ = _cell(rows[i - 1].get(name), holder) if i else (text, False)
                classes = ["copy"] + (["first"] if j == 0 else [])
                classes += (["changed"] if text != before else []) + (["dirty"] if dirty else [])
                classes += [] if text else ["none"]
                cells.append(f'<td class="{" ".join(classes)}">{escape(text) or "–"}</td>')
        body.append(f"<tr{' class=initial' if i == 0 else ''}>{''.join(cells)}</tr>")
    return (
        '<table class="witness">\n<thead>\n<tr>'
        + "".join(head1)
        + "</tr>\n<tr>"
        + "".join(head2)
        + "</tr>\n</thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )
