"""Text rendering of a stress result: one row per swept size (pure: data in, text out)."""

from __future__ import annotations

from stalecheck.explore.stress import StressResult


def render_stress(result: StressResult, label: str = "size", title: str = "") -> str:
    """A plain table: size, runs, failures, pass rate, 95% Wilson interval, and a bar."""
    lines = []
    if title:
        lines.append(title)
    lines.append(f"{label:>10}  {'runs':>5}  {'fail':>5}  {'pass':>6}  {'95% CI':>15}")
    for p in result.points:
        low, high = p.interval
        bar = "#" * round(20 * p.pass_rate)
        lines.append(
            f"{p.size!s:>10}  {p.runs:>5}  {p.failures:>5}  {p.pass_rate:>6.1%}  "
            f"[{low:>5.1%}, {high:>5.1%}]  {bar}"
        )
    lines.append(f"seed {result.seed}; rates show a trend of the model, not calibrated hardware rates")
    return "\n".join(lines)
