"""Figures from the leaderboard and the run records, each as PNG and PDF.

- ROC curves per data set and split: the mean curve over seeds of each row, with a 95% band
  from a stratified bootstrap of the test images;
- an AUROC heat map (methods x data sets) annotated with the bootstrap interval;
- score distributions of normal and abnormal test images per method;
- training curves (the loss a method recorded) per method;
- and the helpers every figure shares (styles, saving as PNG and PDF, panels per test set).
The cost view is ``uadbench.outputs.cost_plot``, the critical-difference diagram
``uadbench.outputs.across_datasets``; ``uadbench.outputs.figures`` draws them all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from uadbench.atomic import write_output
from uadbench.contracts.history import curve_unit
from uadbench.errors import OutputPathError
from uadbench.file_names import slug
from uadbench.outputs.leaderboard import Leaderboard, Memo, Row, computed_now, distinctions
from uadbench.running.run_record import RunRecord
from uadbench.statistics.metrics import stratified_bootstrap_indices
from uadbench.statistics.operating_point import val_threshold

FPR_GRID = np.linspace(0, 1, 201)
FORMATS = ("png", "pdf")
BAND_RESAMPLES = 200
ROC_TOP_K = 6
"""ROC curves in colour (with bands) per panel; the other rows are drawn in grey."""
FIGURE_ROWS = 24
"""The most rows a figure draws per set of test images (the best by mean AUROC); a figure of
a larger board says how many it leaves out, and the tables hold every row."""
PANEL_ROWS = 12
"""The most rows a figure of one panel per row draws (score densities per set of test images,
training curves in all, shared out among the sets): the best by mean AUROC, the others said to
be left out."""
HEATMAP_FLOOR = 50
"""The heat map's scale starts at chance; a cell below it says so."""
HEATMAP_MIN_HEIGHT = 3.2
"""Inches: the least a heat map of few rows is high, so that its colour bar stays readable."""


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed), writing PDF text
    as TrueType (Type 42) fonts, as journals ask."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["pdf.fonttype"] = matplotlib.rcParams["ps.fonttype"] = 42
    import matplotlib.pyplot as plt

    return plt


def output_folder(path: Path) -> Path:
    """``path`` as a folder for output, made if missing; ``OutputPathError`` if it is a file or
    cannot be made."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path} is a file, not a folder; give --out a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(
            f"cannot make the folder {path}: {error.strerror or error}; give --out another folder"
        ) from None
    return path


def save_figure(fig: Any, path: Path, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix of ``FORMATS`` (folders created), each file
    atomically (``write_output``); close it."""
    fig.tight_layout()
    written = []
    try:
        for suffix in FORMATS if path.suffix == "" else (path.suffix.lstrip("."),):
            draw = partial(fig.savefig, format=suffix, dpi=dpi, bbox_inches="tight")
            written.append(write_output(path.with_suffix(f".{suffix}"), draw))
    finally:
        pyplot().close(fig)
    return written


def row_labels(rows: list[Row]) -> dict[int, str]:
    """Each row's label by ``id``: its name as in the tables (changed parameters, warning mark),
    and what tells it apart from other rows of that name on the same test set."""
    differences = distinctions(rows)
    labels = {
        id(row): f"{row.label} ({differences[id(row)]})" if id(row) in differences else row.label
        for row in rows
    }
    counts = Counter((row.test_set, labels[id(row)]) for row in rows)
    return {  # labels that still collide get the row's configuration hash
        key: f"{label} [{row.config}]" if counts[(row.test_set, label)] > 1 else label
        for row in rows
        for key, label in [(id(row), labels[id(row)])]
    }


def split_label(board: Leaderboard, row: Row) -> str:
    """The row's split version, and its data fingerprint where the board needs it to tell
    sets of test images apart: ``uadbench-v1`` or ``uadbench-v1, data 3f2a...``."""
    title = board.test_set_title(row).split(" · split ", 1)[1]
    return title.replace(" · data ", ", data ")


def test_set_panels(board: Leaderboard) -> dict[tuple[str, str], list[Row]]:
    """Rows with scores by (data set, panel title), one panel per set of test images."""
    panels: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in board.rows:
        if row.scores is not None:
            panels[(row.dataset, split_label(board, row))].append(row)
    return panels


def best_rows(rows: list[Row], limit: int = FIGURE_ROWS) -> tuple[list[Row], str]:
    """The ``limit`` rows of highest mean AUROC (in their order), and a note saying how many
    were left out ('' when none)."""
    if len(rows) <= limit:
        return rows, ""
    kept = {id(r) for r in sorted(rows, key=lambda r: -(r.auroc_mean or -1))[:limit]}
    return [r for r in rows if id(r) in kept], f"best {limit} of {len(rows)} rows"


def score_densities(
    scores: np.ndarray, labels: np.ndarray, grid: np.ndarray
) -> dict[str, np.ndarray]:
    """Gaussian kernel densities on ``grid`` of the normal and the abnormal scores (a class with
    fewer than two distinct scores has none)."""
    from scipy.stats import gaussian_kde

    densities = {}
    for label, name in ((0, "normal"), (1, "abnormal")):
        values = scores[labels == label]
        if len(values) > 1 and np.ptp(values) > 0:
            densities[name] = gaussian_kde(values)(grid)
    return densities


def mean_roc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """True-positive rate on ``FPR_GRID``, averaged over the seeds in ``scores`` (k, n)."""
    from sklearn.metrics import roc_curve

    curves = []
    for seed_scores in np.atleast_2d(scores):
        fpr, tpr, _ = roc_curve(labels, seed_scores)
        curves.append(np.interp(FPR_GRID, fpr, tpr))
    return np.mean(curves, axis=0)


ROC = f"roc_curves:1:{BAND_RESAMPLES}:{len(FPR_GRID)}"
"""Names how a row's ROC curves are computed: curves kept under this name (a board's memo) are
used only while it holds. Bumped when the computation changes."""


def row_roc(row: Row, memo: Memo = computed_now) -> dict[str, np.ndarray]:
    """The row's true-positive rates on ``FPR_GRID``: each seed's (``seeds``), their mean
    (``mean``) and its 95% bootstrap band (``low``, ``high``); ``memo`` keeps them under the
    row's scores."""

    def compute() -> dict[str, list[Any]]:
        seeds = [mean_roc(row.labels, scores) for scores in row.scores]
        low, high = roc_band(row.labels, row.scores)
        mean = np.mean(seeds, axis=0)  # mean_roc(labels, scores), the seeds not redone
        return {"seeds": np.asarray(seeds).tolist(), "mean": mean.tolist(),
                "low": low.tolist(), "high": high.tolist()}  # fmt: skip

    return {name: np.asarray(curve) for name, curve in memo(ROC, row.scored, compute).items()}


def roc_band(
    labels: np.ndarray, scores: np.ndarray, resamples: int = BAND_RESAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """A pointwise 95% band of the mean ROC curve over stratified bootstrap resamples."""
    labels = np.asarray(labels)
    indices = stratified_bootstrap_indices(labels, resamples)
    counts = np.zeros((resamples, len(labels)))
    np.add.at(counts, (np.arange(resamples)[:, None], indices), 1.0)
    curves = np.mean([_resampled_rocs(labels, s, counts) for s in np.atleast_2d(scores)], axis=0)
    return np.percentile(curves, 2.5, axis=0), np.percentile(curves, 97.5, axis=0)


def _resampled_rocs(labels: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The true-positive rate on ``FPR_GRID`` of every resample, each given by how often it
    draws each image (``counts``, resamples x images): one sort for all of them."""
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # one vertex per score
    drawn = counts[:, order]
    abnormal = labels[order] == 1
    tp = np.cumsum(np.add.reduceat(drawn * abnormal, starts, axis=1), axis=1)
    fp = np.cumsum(np.add.reduceat(drawn * ~abnormal, starts, axis=1), axis=1)
    tpr = np.c_[np.zeros(len(counts)), tp / tp[:, -1:]]
    fpr = np.c_[np.zeros(len(counts)), fp / fp[:, -1:]]
    return _interpolated(FPR_GRID, fpr, tpr)


def _interpolated(grid: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``np.interp(grid, x, y)`` for every row of ``xs`` and ``ys`` (non-decreasing ``x`` in
    [0, 1]) at once: each row is shifted by twice its index, so one search finds them all."""
    rows, n = xs.shape
    shift = 2.0 * np.arange(rows)[:, None]
    found = np.searchsorted((xs + shift).ravel(), (grid[None, :] + shift).ravel(), side="right")
    j = np.clip(found.reshape(rows, -1) - 1 - n * np.arange(rows)[:, None], 0, n - 2)
    x0, x1 = np.take_along_axis(xs, j, 1), np.take_along_axis(xs, j + 1, 1)
    y0, y1 = np.take_along_axis(ys, j, 1), np.take_along_axis(ys, j + 1, 1)
    span = x1 - x0
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = y0 + (grid[None, :] - x0) / span * (y1 - y0)
    return np.where(span > 0, inside, y1)


MARKERS = (("o", "circle"), ("s", "square"), ("^", "triangle-up"), ("D", "diamond"),
           ("v", "triangle-down"))  # fmt: skip
"""Marker shapes as matplotlib and Plotly name them, one per round of the ten colours."""


@dataclass(frozen=True)
class Style:
    """How one row is drawn, the same in the static and the web figures."""

    colour: str
    marker: str
    """matplotlib's name of the marker shape."""
    symbol: str
    """Plotly's name of the same shape."""


def row_styles(n: int) -> list[Style]:
    """``n`` styles, no two alike up to 50: the ten tab10 colours with circles, then with
    squares, triangles, diamonds and downward triangles (colours repeat only with a new shape)."""
    import matplotlib
    from matplotlib.colors import to_hex

    palette = [to_hex(c) for c in matplotlib.colormaps["tab10"].colors]
    return [
        Style(palette[i % len(palette)], *MARKERS[i // len(palette) % len(MARKERS)])
        for i in range(n)
    ]


def plot_roc_curves(board: Leaderboard, out: Path) -> list[Path]:
    """One panel per data set and split: the mean ROC curves of the ``ROC_TOP_K`` best rows in
    colours of their own with their bands, the others in grey; the legend beside the axes."""
    plt = pyplot()
    panels, labels = test_set_panels(board), row_labels(board.rows)
    fig, axes = plt.subplots(1, len(panels), figsize=(8.5 * len(panels), 5), squeeze=False)
    for ax, ((dataset, split), rows) in zip(axes[0], panels.items(), strict=True):
        shown, note = best_rows(rows)
        ranked = sorted(shown, key=lambda r: -r.auroc_mean)
        best, rest = ranked[:ROC_TOP_K], ranked[ROC_TOP_K:]
        for row in rest:
            ax.plot(FPR_GRID, row_roc(row, board.memo)["mean"], color="0.75", linewidth=0.8)
        if rest:
            ax.plot([], [], color="0.75", label=f"{len(rest)} other rows (grey), AUROC "
                    f"{100 * rest[-1].auroc_mean:.1f}-{100 * rest[0].auroc_mean:.1f}")  # fmt: skip
        for row, style in zip(best, row_styles(len(best)), strict=True):
            curves = row_roc(row, board.memo)
            ax.fill_between(
                FPR_GRID, curves["low"], curves["high"], color=style.colour, alpha=0.12,
                linewidth=0,
            )  # fmt: skip
            ax.plot(
                FPR_GRID,
                curves["mean"],
                color=style.colour,
                linewidth=1.6,
                label=f"{labels[id(row)]}  {100 * row.auroc_mean:.1f}",
            )
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(
            title=f"{dataset} ({split})" + (f", {note}" if note else ""),
            xlabel="false positive rate",
            ylabel="true positive rate",
            xlim=(0, 1),
            ylim=(0, 1.01),
            aspect="equal",
        )
        handles, names = ax.get_legend_handles_labels()
        order = [*range(1, len(names)), 0] if rest else range(len(names))
        ax.legend(
            [handles[i] for i in order], [names[i] for i in order], loc="upper left",
            bbox_to_anchor=(1.02, 1), fontsize=7, title="mean AUROC %", title_fontsize=7,
        )  # fmt: skip
    return save_figure(fig, Path(out) / "roc_curves")


def plot_auroc_heatmap(board: Leaderboard, out: Path) -> list[Path]:
    """Methods x data sets, coloured by mean AUROC, annotated with the 95% interval."""
    plt = pyplot()
    import seaborn as sns

    panels = {key: best_rows(rows)[0] for key, rows in test_set_panels(board).items()}
    left_out = sum(len(rows) for rows in test_set_panels(board).values()) - sum(
        len(rows) for rows in panels.values()
    )
    named = row_labels(board.rows)
    labels = {id(r): f"{named[id(r)]} · {r.image_size}px" for r in board.rows}
    columns = [f"{d}\n({s})" for d, s in panels]
    best: dict[str, float] = {}
    for rows in panels.values():
        for r in rows:
            best[labels[id(r)]] = max(best.get(labels[id(r)], -1.0), r.auroc_mean)
    names = sorted(best, key=lambda name: (-best[name], name))  # by rank, best first
    values = np.full((len(names), len(columns)), np.nan)
    notes = np.full(values.shape, "", dtype=object)
    for j, rows in enumerate(panels.values()):
        for row in rows:
            i = names.index(labels[id(row)])
            low, high = row.auroc_ci95
            values[i, j] = 100 * row.auroc_mean
            notes[i, j] = (
                f"{100 * row.auroc_mean:.1f}\n[{100 * low:.1f}, {100 * high:.1f}]\nn={row.n}"
                + (", deterministic" if row.deterministic else "")
                + ("\nbelow the scale" if values[i, j] < HEATMAP_FLOOR else "")
            )
    label_width = 0.08 * max(len(name) for name in names)  # inches, at the tick font size
    height = max(HEATMAP_MIN_HEIGHT, 1.4 + 0.6 * len(names))
    fig, ax = plt.subplots(figsize=(2 + label_width + 2 * len(columns), height))
    sns.heatmap(
        values,
        annot=notes,
        fmt="",
        cmap="viridis",
        vmin=HEATMAP_FLOOR,
        vmax=100,
        ax=ax,
        xticklabels=columns,
        yticklabels=names,
        cbar_kws={"label": "AUROC (%)"},
        annot_kws={"fontsize": 7},
    )
    ax.tick_params(axis="y", rotation=0)  # seaborn turns the label of a lone row upright
    ax.set_title(
        "Mean AUROC over seeds, best first\n[bootstrap 95% CI]; scale from 50"
        + (f"\nthe best {FIGURE_ROWS} rows of each data set ({left_out} others in the tables)"
           if left_out else "")
    )  # fmt: skip
    return save_figure(fig, Path(out) / "auroc_heatmap")


def plot_score_distributions(
    board: Leaderboard, out: Path, panel: tuple[str, str] | None = None
) -> list[Path]:
    """Per data set and method: densities of the test scores of normal and abnormal images
    (first seed), standardised by the normal scores so that methods share an axis, and the
    threshold the seed's validation normals set (dashed); a figure per set of test images (or
    only that of ``panel``, a key of ``test_set_panels``)."""
    plt = pyplot()
    written, labels = [], row_labels(board.rows)
    for (dataset, split), every in test_set_panels(board).items():
        if panel is not None and (dataset, split) != panel:
            continue
        rows, note = best_rows(every, PANEL_ROWS)
        columns = min(4, len(rows))
        height = -(-len(rows) // columns)
        fig, axes = plt.subplots(
            height, columns, figsize=(3.6 * columns, 2.6 * height), squeeze=False
        )
        for ax in axes.flat:
            ax.axis("off")
        for ax, row in zip(axes.flat, rows, strict=False):
            ax.axis("on")
            scores, run = row.scores[0], row.runs[0]
            normal = scores[row.labels == 0]
            centre, spread = np.median(normal), np.std(normal) + 1e-12
            z = (scores - centre) / spread
            grid = np.linspace(np.percentile(z, 0.5), np.percentile(z, 99.5), 200)
            colours = {"normal": "tab:blue", "abnormal": "tab:red"}
            for name, density in score_densities(z, row.labels, grid).items():
                ax.fill_between(grid, density, alpha=0.35, color=colours[name], linewidth=0)
                ax.plot(grid, density, color=colours[name], linewidth=1, label=name)
            if run.val and run.val.scores:
                threshold = (val_threshold(run.val.scores) - centre) / spread
                ax.axvline(threshold, color="black", linestyle="--", linewidth=1,
                           label="validation threshold")  # fmt: skip
            ax.set_title(f"{labels[id(row)]} ({100 * row.auroc_mean:.1f})", fontsize=8)
            ax.set_xlabel("score (normal-standardised)", fontsize=7)
            ax.set_ylabel("density", fontsize=7)
            ax.tick_params(labelsize=6)
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(
            f"Test score distributions: {dataset} ({split})" + (f", {note}" if note else ""),
            fontsize=10,
        )
        name = slug(f"score_distributions_{dataset}_{split}")
        written += save_figure(fig, Path(out) / name)
    return written


def plot_training_curves(board: Leaderboard, records: list[RunRecord], out: Path) -> list[Path]:
    """Every training curve the methods recorded (loss, or e.g. a GAN's several), one line per
    seed, a panel per row and curve."""
    plt = pyplot()
    labels = row_labels(board.rows)
    by_row: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        if record.ok and record.history:
            by_row[record.row_key[:8]].append(record)
    with_curves = [row for row in board.rows if row.config in by_row]
    by_set: dict[tuple[str, str, str | None], list[Row]] = defaultdict(list)
    for row in with_curves:
        by_set[row.test_set].append(row)
    each = max(1, PANEL_ROWS // max(1, len(by_set)))  # every data set keeps its best rows
    shown = {id(r) for rows in by_set.values() for r in best_rows(rows, each)[0]}
    panels = [
        (row, name)
        for row in with_curves
        if id(row) in shown
        for name in dict.fromkeys(n for r in by_row[row.config] for n in r.history)
    ]
    if not panels:
        return []
    columns = min(4, len(panels))
    height = -(-len(panels) // columns)
    fig, axes = plt.subplots(height, columns, figsize=(3.6 * columns, 2.6 * height), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (row, name) in zip(axes.flat, panels, strict=False):
        ax.axis("on")
        unit = "step"
        for record in sorted(by_row[row.config], key=lambda r: r.config.seed):
            if curve := record.history.get(name):
                seed, unit = record.config.seed, curve_unit(curve)
                ax.plot(curve["step"], curve["value"], linewidth=1, label=f"seed {seed}")
        ax.set_title(f"{labels[id(row)]} on {row.dataset} ({row.image_size}px)", fontsize=8)
        ax.set_xlabel(unit, fontsize=7)
        ax.set_ylabel(name.replace("_", " "), fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
    if len(shown) < len(with_curves):
        fig.suptitle(
            f"Training curves of the {each} rows of highest mean AUROC on each set of test "
            f"images ({len(with_curves) - len(shown)} others left out)",
            fontsize=10,
        )
    return save_figure(fig, Path(out) / "training_curves")
