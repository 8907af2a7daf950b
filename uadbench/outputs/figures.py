"""Every figure of a board (``uadbench plot``, the report): ROC curves, the AUROC heat map,
score distributions, training curves, the cost view, across several sets of test images the
critical-difference diagram, and where runs kept anomaly maps, sheets of where they point."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from uadbench.outputs.across_datasets import across_datasets, plot_critical_difference
from uadbench.outputs.cost_plot import plot_cost
from uadbench.outputs.leaderboard import Leaderboard
from uadbench.outputs.map_sheets import plot_map_sheets
from uadbench.outputs.plots import (
    output_folder,
    plot_auroc_heatmap,
    plot_roc_curves,
    plot_score_distributions,
    plot_training_curves,
    test_set_panels,
)
from uadbench.running.run_record import RunRecord
from uadbench.statistics.ranking import RankSummary
from uadbench.workers import called_in_workers


def plot_all(board: Leaderboard, records: list[RunRecord], out: Path) -> list[Path]:
    """Every leaderboard figure into ``out`` (none when no run has finished), drawn on every
    core (matplotlib draws on one)."""
    drawings = figure_drawings(board, records, out, across_datasets(board))
    return [path for paths in called_in_workers(drawings) for path in paths]


def figure_drawings(
    board: Leaderboard, records: list[RunRecord], out: Path, summary: RankSummary | None
) -> list[Callable[[], list[Path]]]:
    """The drawing of each leaderboard figure into ``out`` (made now), in the order they are
    shown; each returns the files it wrote. None when no run has finished; ``summary``: the
    board's ranks across data sets (``across_datasets``)."""
    panels = test_set_panels(board)
    if not panels:
        return []
    out = output_folder(out)
    return [
        partial(plot_roc_curves, board, out),
        partial(plot_auroc_heatmap, board, out),
        *(partial(plot_score_distributions, board, out, panel) for panel in panels),
        partial(plot_training_curves, board, records, out),
        partial(plot_cost, board, out),
        *([partial(plot_critical_difference, summary, out)] if summary is not None else []),
        partial(plot_map_sheets, board, out),
    ]
