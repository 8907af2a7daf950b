"""Figures from run records: ROC curves per data set and an AUROC heat map."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from uadbench.leaderboard import Leaderboard, Row, aligned_scores, group_key

FPR_GRID = np.linspace(0, 1, 201)


def _labels(rows: list[Row]) -> dict[str, str]:
    """A legend label per row: the method name, qualified only where it is ambiguous."""
    count = defaultdict(int)
    for row in rows:
        count[(row.dataset, row.method)] += 1
    return {
        row.config: row.method
        if count[(row.dataset, row.method)] == 1
        else f"{row.method} ({row.profile}, {row.image_size}px, {row.config[:4]})"
        for row in rows
    }


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 150) -> Path:
    """Save ``fig`` to ``path`` (folders created), close it and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def mean_roc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """True-positive rate on ``FPR_GRID``, averaged over the seeds in ``scores`` (k, n)."""
    from sklearn.metrics import roc_curve

    curves = []
    for seed_scores in np.atleast_2d(scores):
        fpr, tpr, _ = roc_curve(labels, seed_scores)
        curves.append(np.interp(FPR_GRID, fpr, tpr))
    return np.mean(curves, axis=0)


def plot_roc_curves(board: Leaderboard, records: list[dict[str, Any]], out: Path) -> Path:
    """One panel per data set, one mean ROC curve per configuration."""
    plt = pyplot()
    import seaborn as sns

    finished = defaultdict(list)
    for record in records:
        if record["status"] == "ok":
            finished[group_key(record["config"])[:8]].append(record)
    datasets = board.datasets()
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4.8), squeeze=False)
    palette = sns.color_palette("tab10")
    for ax, dataset in zip(axes[0], datasets, strict=True):
        rows = [r for r in board.rows if r.dataset == dataset and r.config in finished]
        names = _labels(rows)
        for i, row in enumerate(rows):
            labels, scores = aligned_scores(finished[row.config])
            ax.plot(
                FPR_GRID,
                mean_roc(labels, scores),
                color=palette[i % len(palette)],
                label=f"{names[row.config]}  AUROC {100 * row.auroc_mean:.1f}",
            )
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(
            title=dataset,
            xlabel="false positive rate",
            ylabel="true positive rate",
            xlim=(0, 1),
            ylim=(0, 1.01),
            aspect="equal",
        )
        ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, Path(out) / "roc_curves.png")


def plot_auroc_heatmap(board: Leaderboard, out: Path) -> Path:
    """Methods x data sets, coloured by mean AUROC, annotated with the 95% interval."""
    plt = pyplot()
    import seaborn as sns

    rows = [r for r in board.rows if r.auroc_mean is not None]
    names = _labels(rows)
    methods = sorted({names[r.config] for r in rows})
    datasets = board.datasets()
    values = np.full((len(methods), len(datasets)), np.nan)
    notes = np.full(values.shape, "", dtype=object)
    for row in rows:
        i, j = methods.index(names[row.config]), datasets.index(row.dataset)
        values[i, j] = 100 * row.auroc_mean
        low, high = row.auroc_ci95 or (np.nan, np.nan)
        notes[i, j] = f"{100 * row.auroc_mean:.1f}\n[{100 * low:.1f}, {100 * high:.1f}]\nn={row.n}"
    fig, ax = plt.subplots(figsize=(2.2 + 1.8 * len(datasets), 1.2 + 0.7 * len(methods)))
    sns.heatmap(
        values,
        annot=notes,
        fmt="",
        cmap="viridis",
        vmin=50,
        vmax=100,
        ax=ax,
        xticklabels=datasets,
        yticklabels=methods,
        cbar_kws={"label": "AUROC (%)"},
        annot_kws={"fontsize": 8},
    )
    ax.set_title("Mean AUROC over seeds [bootstrap 95% CI]")
    return save_figure(fig, Path(out) / "auroc_heatmap.png")


def plot_contact_sheet(
    images: np.ndarray,
    titles: list[str],
    out: Path,
    columns: int = 8,
    overlays: np.ndarray | None = None,
) -> Path:
    """A grid of grayscale images with a title each (and masks drawn over them), as PNG."""
    plt = pyplot()

    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.75 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8)
    for ax, mask in zip(axes.flat, overlays if overlays is not None else [], strict=False):
        ax.imshow(np.ma.masked_where(~mask.astype(bool), mask), cmap="autumn", alpha=0.45)
    return save_figure(fig, Path(out), dpi=110)
