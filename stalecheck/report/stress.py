"""Text rendering of a stress result: one row per swept size (pure: data in, text out)."""

from __future__ import annotations

from stalecheck.explore.stress import StressResult


def render_stress(result: StressResult, label: str = "size", title: str = "") -> str:
    """A plain table: size, runs, failures, incomplete runs, pass rate (clean runs over
    all runs), its 95% Wilson interval, and a bar."""
    lines = []
    if title:
        lines.append(title)
    lines.append(f"{label:>10}  {'runs':>5}  {'fail':>5}  {'incompl':>7}  {'pass':>6}  {'95% CI':>15}")
    for p in result.points:
        low, high = p.interval
        bar = "#" * round(20 * p.pass_rate)
        lines.append(
            f"{p.size!s:>10}  {p.runs:>5}  {p.failures:>5}  {p.incomplete:>7}  {p.pass_rate:>6.1%}  "
            f"[{low:>5.1%}, {high:>5.1%}]  {bar}"
        )
    if result.incomplete:
        deadlocks = sum(p.deadlocks for p in result.points)
        limits = sum(p.step_limits for p in result.points)
        lines.append(
            f"{result.incomplete} run(s) incomplete ({deadlocks} deadlocked, {limits} hit the limit of "
            f"{result.max_steps:,} steps): neither a pass nor a failure, and not counted as passes"
        )
    lines.append(f"seed {result.seed}; rates show a trend of the model, not calibrated hardware rates")
    return "\n".join(lines)
