"""What each row's AUROC cost: mean training time (log scale) against mean AUROC, one panel per
set of test images, the marker's area its peak resident memory, and the Pareto front (no
other row is both faster and better) drawn through the rows on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from uadbench.outputs.leaderboard import Leaderboard, Row
from uadbench.outputs.plots import (
    distinct_colours,
    pyplot,
    row_labels,
    save_figure,
    test_set_panels,
)


def pareto_front(rows: list[Row]) -> list[Row]:
    """The rows that no other row beats on both training time and mean AUROC, fastest first."""
    timed = sorted(
        (r for r in rows if r.costs["fit_s"] and r.auroc_mean is not None),
        key=lambda r: (np.mean(r.costs["fit_s"]), -r.auroc_mean),
    )
    front, best = [], -1.0
    for row in timed:
        if row.auroc_mean > best:
            front.append(row)
            best = row.auroc_mean
    return front


def plot_cost(board: Leaderboard, out: Path) -> list[Path]:
    """The cost view of the board (nothing when no finished row has a training time)."""
    panels = {k: [r for r in v if r.costs["fit_s"]] for k, v in test_set_panels(board).items()}
    panels = {k: v for k, v in panels.items() if v}
    if not panels:
        return []
    plt = pyplot()
    labels = row_labels(board.rows)
    fig, axes = plt.subplots(1, len(panels), figsize=(9 * len(panels), 5), squeeze=False)
    for ax, ((dataset, split), rows) in zip(axes[0], panels.items(), strict=True):
        memory = [max(r.costs["peak_memory_mb"], default=None) for r in rows]
        known = [m for m in memory if m is not None]
        scale = 400 / max(known) if known else 0
        for row, colour, peak in zip(rows, distinct_colours(len(rows)), memory, strict=True):
            size = 30 + scale * peak if peak is not None else 30
            seconds = np.mean(row.costs["fit_s"])
            text = f"{labels[id(row)]}" + (f" ({peak / 1024:.1f} GB)" if peak else "")
            ax.scatter(seconds, 100 * row.auroc_mean, s=size, color=colour, alpha=0.8, label=text)
        front = pareto_front(rows)
        ax.plot(
            [np.mean(r.costs["fit_s"]) for r in front],
            [100 * r.auroc_mean for r in front],
            color="black", linewidth=1, linestyle="--", label="Pareto front",
        )  # fmt: skip
        log = all(np.mean(r.costs["fit_s"]) > 0 for r in rows)  # else a tiny run took "0 s"
        ax.set_xscale("log" if log else "linear")
        ax.set(
            title=f"{dataset} ({split})",
            xlabel="mean training time per seed (s" + (", log scale)" if log else ")"),
            ylabel="mean AUROC (%)",
        )
        title = "marker area: peak memory" if known else "peak memory not recorded"
        ax.legend(
            fontsize=6, title=title, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1)
        )
    return save_figure(fig, Path(out) / "cost")
