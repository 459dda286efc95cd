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

_UNSTABLE_PREFIXES = ("Time ", "Hash=")


def herd_text(result: CheckResult, source: str = "") -> str:
    """Render one result the way ``herd7`` prints it."""
    lines = [f"Test {result.name} {result.kind}", f"States {len(result.states)}"]
    for state in result.states:
        lines.append(" ".join(f"{cell};" for cell in state))
    lines.append(("Loop " if result.loop else "") + ("Ok" if result.ok else "No"))
    lines.append("Witnesses")
    lines.append(f"Positive: {result.positive} Negative: {result.negative}")
    lines.append(f"Condition {result.condition_text}")
    lines.append(
        f"Observation {result.name} {result.observation} {result.p_true} {result.p_false}"
    )
    lines.append(f"Time {result.name} {result.elapsed:.2f}")
    digest = hashlib.md5(source.encode(), usedforsecurity=False).hexdigest()
    lines.append(f"Hash={digest}")
    return "\n".join(lines) + "\n"


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
