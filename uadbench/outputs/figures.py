"""Every figure of a board (``uadbench plot``, the report): ROC curves, the AUROC heat map,
score distributions, training curves, the cost view, and across several sets of test images
the critical-difference diagram."""

from __future__ import annotations

from pathlib import Path

from uadbench.outputs.across_datasets import across_datasets, plot_critical_difference
from uadbench.outputs.cost_plot import plot_cost
from uadbench.outputs.leaderboard import Leaderboard
from uadbench.outputs.plots import (
    output_folder,
    plot_auroc_heatmap,
    plot_roc_curves,
    plot_score_distributions,
    plot_training_curves,
    test_set_panels,
)
from uadbench.running.run_record import RunRecord


def plot_all(board: Leaderboard, records: list[RunRecord], out: Path) -> list[Path]:
    """Every leaderboard figure into ``out`` (none when no run has finished)."""
    if not test_set_panels(board):
        return []
    out = output_folder(out)
    summary = across_datasets(board)
    return [
        *plot_roc_curves(board, out),
        *plot_auroc_heatmap(board, out),
        *plot_score_distributions(board, out),
        *plot_training_curves(board, records, out),
        *plot_cost(board, out),
        *(plot_critical_difference(summary, out) if summary is not None else []),
    ]
