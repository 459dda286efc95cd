"""Pass rate against swept size as a picture (matplotlib is an optional extra)."""

from __future__ import annotations

from pathlib import Path

from stalecheck.errors import UsageError
from stalecheck.explore.stress import StressResult


def write_plot(result: StressResult, path: Path, title: str, label: str = "size") -> None:
    """PNG or SVG by the file's suffix; error bars are the 95% Wilson intervals of the
    pass rate (clean runs over all runs).  Incomplete runs (deadlock or step limit)
    are drawn as their own series, so a low pass rate caused by runs that never
    finished is not mistaken for failures, and they are never drawn as passes."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'stalecheck[plot]'") from None
    labels = [str(p.size) for p in result.points]
    rates = [100 * p.pass_rate for p in result.points]
    low = [100 * (p.pass_rate - p.interval[0]) for p in result.points]
    high = [100 * (p.interval[1] - p.pass_rate) for p in result.points]
    incomplete = [100 * p.incomplete / p.runs for p in result.points]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.errorbar(labels, rates, yerr=[low, high], marker="o", capsize=4, label="pass (clean runs)")
    ax.plot(labels, incomplete, marker="x", linestyle="--", color="grey", label="incomplete runs")
    ax.set_ylim(0, 100)
    ax.set_xlabel(label)
    ax.set_ylabel("share of runs (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    note = f"seed {result.seed}; a trend of the model, not hardware rates"
    if result.incomplete:
        note += f"; {result.incomplete} incomplete run(s) (deadlock or {result.max_steps:,}-step limit)"
    fig.text(0.01, 0.01, note, fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
