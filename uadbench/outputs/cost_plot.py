"""What each row's AUROC cost: mean time per seed (fitting plus scoring, log scale) against mean
AUROC, one panel per set of test images, the marker's area its peak resident memory, each row a
colour and shape of its own, and the Pareto front (no other row is both faster and better)
drawn through the rows on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from uadbench.outputs.leaderboard import Leaderboard, Row
from uadbench.outputs.plots import (
    best_rows,
    pyplot,
    row_labels,
    row_styles,
    save_figure,
    test_set_panels,
)

TIME_LABEL = "mean fit + score time per seed"
"""What the cost views' time axis shows."""


def run_seconds(row: Row) -> float | None:
    """Mean seconds per seed of fitting and of scoring the test images; None when the row's
    records lack either."""
    fit, score = row.costs["fit_s"], row.costs["score_s"]
    return float(np.mean(fit) + np.mean(score)) if fit and score else None


def timed_rows(rows: list[Row]) -> list[Row]:
    """The rows with a time (``run_seconds``) and a mean AUROC: those a cost view shows."""
    return [r for r in rows if run_seconds(r) is not None and r.auroc_mean is not None]


def pareto_front(rows: list[Row]) -> list[Row]:
    """The rows that no other row beats on both time and mean AUROC, fastest first."""
    front, best = [], -1.0
    for row in sorted(timed_rows(rows), key=lambda r: (run_seconds(r), -r.auroc_mean)):
        if row.auroc_mean > best:
            front.append(row)
            best = row.auroc_mean
    return front


def plot_cost(board: Leaderboard, out: Path) -> list[Path]:
    """The cost view of the board (nothing when no finished row has a time)."""
    panels = {k: best_rows(timed_rows(v)) for k, v in test_set_panels(board).items()}
    panels = {k: v for k, v in panels.items() if v[0]}
    if not panels:
        return []
    plt = pyplot()
    from matplotlib.collections import PathCollection

    labels = row_labels(board.rows)
    most = max(len(rows) for rows, _ in panels.values())
    fig, axes = plt.subplots(
        1, len(panels), figsize=(9 * len(panels), max(5, 0.6 + 0.25 * most)), squeeze=False
    )
    for ax, ((dataset, split), (rows, note)) in zip(axes[0], panels.items(), strict=True):
        memory = [max(r.costs["peak_memory_mb"], default=None) for r in rows]
        known = [m for m in memory if m is not None]
        scale = 400 / max(known) if known else 0
        for row, style, peak in zip(rows, row_styles(len(rows)), memory, strict=True):
            text = f"{labels[id(row)]}" + (f" ({peak / 1024:.1f} GB)" if peak else "")
            ax.scatter(
                run_seconds(row), 100 * row.auroc_mean, s=30 + scale * peak if peak else 30,
                color=style.colour, marker=style.marker, alpha=0.8, label=text,
            )  # fmt: skip
        front = pareto_front(rows)
        ax.plot(
            [run_seconds(r) for r in front], [100 * r.auroc_mean for r in front],
            color="black", linewidth=1, linestyle="--", label="Pareto front",
        )  # fmt: skip
        log = all(run_seconds(r) > 0 for r in rows)  # else a tiny run took "0 s"
        ax.set_xscale("log" if log else "linear")
        ax.set(
            title=f"{dataset} ({split})" + (f", {note}" if note else ""),
            xlabel=f"{TIME_LABEL} (s" + (", log scale)" if log else ")"),
            ylabel="mean AUROC (%)",
        )
        title = "marker area: peak memory" if known else "peak memory not recorded"
        legend = ax.legend(
            fontsize=7, title=title, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1)
        )
        for handle in legend.legend_handles:  # one size in the legend: the text gives memory
            if isinstance(handle, PathCollection):
                handle.set_sizes([40])
    return save_figure(fig, Path(out) / "cost")
