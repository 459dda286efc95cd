"""herd7's text output for a checked litmus test, and a normaliser to compare with it.

The layout follows herd7 exactly (``Test``, ``States``, one line per state,
``Ok``/``No``, ``Witnesses``, ``Positive: p Negative: n``, ``Condition``,
``Observation``), so tools written for herd (``mcompare``, diffs against
``.litmus.expected``) work on our output.  ``Time`` and ``Hash`` lines differ
between any two runs or tools; :func:`normalise` drops them before comparing.
"""

from __future__ import annotations

import hashlib

from stalecheck.axiomatic.check import CheckResult
from stalecheck.axiomatic.conditions import fault_text
from stalecheck.axiomatic.initial_state import canonical_reg
from stalecheck.axiomatic.values import signed
from stalecheck.litmus import ast

_UNSTABLE_PREFIXES = ("Time ", "Hash=")


def herd_text(result: CheckResult, source: str = "") -> str:
    """Render one result the way ``herd7`` prints it."""
    lines = [f"Test {result.name} {result.kind}", f"States {len(result.states)}"]
    for state in result.states:
        lines.append(state_line(state))
    lines.append(("Loop " if result.loop else "") + ("Ok" if result.ok else "No"))
    lines.append("Witnesses")
    lines.append(f"Positive: {result.positive} Negative: {result.negative}")
    lines.append(f"Condition {condition_text(result)}")
    lines.append(
        f"Observation {result.name} {result.observation} {result.p_true} {result.p_false}"
    )
    lines.append(f"Time {result.name} {result.elapsed:.2f}")
    digest = hashlib.md5(source.encode(), usedforsecurity=False).hexdigest()
    lines.append(f"Hash={digest}")
    return "\n".join(lines) + "\n"


def state_line(state: tuple[str, ...]) -> str:
    """One final state as herd prints it (herd/archExtra_herd.ml): the cells, then,
    when the condition has fault atoms, a space, the faults that happened, and each
    fault that did not as `` ~Fault(...);``.  So a state of faults only starts with
    a space, as in herd."""
    cells = [c for c in state if not _is_fault(c)]
    faults = [c for c in state if _is_fault(c)]
    text = " ".join(f"{c};" for c in cells)
    if not faults:
        return text
    present = [f for f in faults if not f.startswith("~")]
    absent = [f for f in faults if f.startswith("~")]
    return text + " " + " ".join(f"{f};" for f in present) + "".join(f" {f};" for f in absent)


def _is_fault(cell: str) -> bool:
    return cell.lstrip("~").startswith("Fault(")


def condition_text(result: CheckResult) -> str:
    """herd's ``Condition`` line after the keyword: quantifier and proposition."""
    return f"{result.quantifier} {format_prop(result.condition, result.array_names)}"


def format_prop(prop: ast.Prop, arrays: frozenset[str] = frozenset(), top: bool = True) -> str:
    """herd's spelling of a proposition: ``[x]=1 /\\ 0:X1=2``, minimal parentheses."""

    def loc_text(loc: ast.Location) -> str:
        if isinstance(loc, ast.RegLoc):
            return f"{loc.proc}:{canonical_reg(loc.reg)}"
        if isinstance(loc, ast.GlobalLoc):
            if loc.index is not None:
                return f"{loc.name}[{loc.index}]"
            if loc.name in arrays:
                return loc.name
            return f"[{loc.name}]"
        if isinstance(loc, ast.LabelLoc):  # herd's P0:X7 is the register 0:X7
            return f"{loc.proc}:{canonical_reg(loc.label)}"
        if isinstance(loc, ast.CallLoc):
            return f"[{loc.func}({loc.arg})]"
        return str(loc)

    def val_text(v: ast.Value) -> str:
        if isinstance(v, ast.IntValue):
            return str(signed(v.value, 64))
        if isinstance(v, ast.NameValue):
            return v.name
        if isinstance(v, ast.ArrayValue):
            return "{" + ",".join(map(str, v.items)) + "}"
        if isinstance(v, ast.IndexValue):
            return f"{v.name}[{v.index}]"
        if isinstance(v, ast.LabelValue):
            return f"P{v.proc}:{v.label}"
        if isinstance(v, ast.CallValue):
            return f"{v.func}({','.join(val_text(a) for a in v.args)})"
        if isinstance(v, ast.RecordValue):  # herd's page-table entry: (oa:PA(x), valid:0)
            return "(" + ", ".join(f"{k}:{val_text(x)}" for k, x in v.fields) + ")"
        text = getattr(v, "text", str(v))
        if text.startswith('label:"') and not text.startswith('label:"P'):
            text = 'label:"P' + text[len('label:"'):]
        return text

    def go(p: ast.Prop, ctx: int) -> str:
        # ctx: 0 top/implication, 1 inside or, 2 inside and, 3 under not
        if isinstance(p, ast.Eq):
            return f"{loc_text(p.location)}={val_text(p.value)}"
        if isinstance(p, ast.Const):
            return "true" if p.value else "false"
        if isinstance(p, ast.Not):
            return f"not ({go(p.prop, 0)})"
        if isinstance(p, ast.Or):
            s = " \\/ ".join(go(q, 1) for q in p.props)
            return f"({s})" if ctx >= 2 else s
        if isinstance(p, ast.And):
            s = " /\\ ".join(go(q, 2) for q in p.props)
            return f"({s})" if ctx >= 3 else s
        if isinstance(p, ast.Implies):
            def side(q: ast.Prop) -> str:
                text = go(q, 0)
                return f"({text})" if isinstance(q, ast.And | ast.Or | ast.Implies) else text

            s = f"{side(p.left)} => {side(p.right)}"
            return f"({s})" if ctx >= 1 else s
        if isinstance(p, ast.Call):
            return fault_text(p, "fault")
        return "?"

    return f"({go(prop, 0)})" if top else go(prop, 0)


def normalise(text: str) -> list[str]:
    """Lines that must agree between two herd-format outputs (no timing, no hash)."""
    return [
        line.rstrip()
        for line in text.splitlines()
        if line.strip() and not line.startswith(_UNSTABLE_PREFIXES)
    ]


def parse_expected(text: str) -> dict[str, object]:
    """The comparable facts of a herd ``.expected`` file: states, Ok, counts, observation."""
    lines = normalise(text)
    out: dict[str, object] = {"states": set()}
    states: set[str] = set()
    reading_states = 0
    for line in lines:
        if line.startswith("States "):
            reading_states = int(line.split()[1])
            continue
        if reading_states:
            states.add(" ".join(line.split()))
            reading_states -= 1
            continue
        if line.startswith("Test "):
            out["kind"] = line.split()[-1]
        elif line in ("Ok", "No", "Loop Ok", "Loop No"):
            out["ok"] = line.endswith("Ok")
        elif line.startswith("Positive:"):
            parts = line.split()
            out["positive"], out["negative"] = int(parts[1]), int(parts[3])
        elif line.startswith("Condition "):
            out["condition"] = line[len("Condition "):]
        elif line.startswith("Observation "):
            out["observation"] = line
    out["states"] = states
    return out
