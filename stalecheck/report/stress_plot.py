"""Pass rate against swept size as a picture (matplotlib is an optional extra)."""

from __future__ import annotations

from pathlib import Path

from stalecheck.errors import UsageError
from stalecheck.explore.stress import StressResult


def write_plot(result: StressResult, path: Path, title: str) -> None:
    """PNG or SVG by the file's suffix; error bars are the 95% Wilson intervals."""
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
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.errorbar(labels, rates, yerr=[low, high], marker="o", capsize=4)
    ax.set_ylim(0, 100)
    ax.set_xlabel("transfer size (seed's units, scaled to the model)")
    ax.set_ylabel("pass rate (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, f"seed {result.seed}; a trend of the model, not hardware rates", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
