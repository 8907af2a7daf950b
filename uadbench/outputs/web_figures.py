"""What the web board draws its figures from. Each row's figures are compact data, plain arrays
rounded to what a figure needs, that ``templates/board.js`` turns into Plotly figures when the
row is opened: its ROC curve (each seed and the mean over seeds on ``FPR_GRID``, with a
bootstrap band), every seed's test score densities with its validation threshold, and its
training curves. The board's cost view is a Plotly figure dictionary. Both are drawn over
``figure_settings()``."""

from __future__ import annotations

from typing import Any

import numpy as np

from uadbench.contracts.history import curve_unit
from uadbench.outputs.cost_plot import TIME_LABEL, pareto_front, run_seconds, timed_rows
from uadbench.outputs.leaderboard import Memo, Row, computed_now
from uadbench.outputs.plots import FPR_GRID, row_roc, row_styles, score_densities
from uadbench.statistics.operating_point import VAL_PERCENTILE, val_threshold

DIGITS = 4
"""Significant digits (of an array's largest value) the page keeps of a figure's numbers."""
DENSITY_POINTS = 120
MAX_CURVE_POINTS = 400
"""Training curves longer than this are thinned (evenly) on the page."""
LEGEND_ENTRY = 22
LEGEND_TOP = 110
"""Pixels: the height of a legend entry, and of what lies above and below a cost view's legend;
the figure grows with its legend, which Plotly would otherwise clip and scroll."""
LAYOUT = {"margin": {"l": 55, "r": 15, "t": 40, "b": 50}, "height": 340}
TEMPLATE = "plotly_white"
"""Every figure's margins and height (pixels), and its Plotly template."""
DENSITIES = f"score_densities:1:{DENSITY_POINTS}:{DIGITS}:{VAL_PERCENTILE}"
"""Names how a row's score densities on the page are computed: data kept under this name (a
board's memo) is used only while it holds. Bumped when the computation changes."""


def figure_settings() -> dict[str, Any]:
    """What every figure on the page shares: the layout (with the Plotly template spelled out,
    as Plotly.js knows no templates by name), the false-positive rates of the ROC curves, the
    seeds' colours (a row's seed in the same colour in each of its figures) and the percentile
    of the validation threshold."""
    import plotly.io
    from plotly.colors import qualitative

    return {
        "layout": {**LAYOUT, "template": plotly.io.templates[TEMPLATE].to_plotly_json()},
        "fpr": _compact(FPR_GRID),
        "seed_colours": qualitative.Dark2,
        "val_percentile": f"{VAL_PERCENTILE:.0f}",
    }


def _compact(values: Any) -> list[float]:
    """``values`` as a list, rounded to ``DIGITS`` significant digits of the largest of them."""
    values = np.asarray(values, dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    top = finite.max() if finite.size else 0.0
    decimals = DIGITS - 1 - int(np.floor(np.log10(top))) if top > 0 else 0
    return np.round(values, decimals).tolist()


def row_figures(row: Row, memo: Memo = computed_now) -> dict[str, Any]:
    """The data of the row's figures: ``roc``, ``scores`` and (where its runs recorded any)
    ``curves``; ``memo`` keeps the first two, which take a bootstrap and kernel densities,
    under the scores they are drawn from."""
    content = row.scored
    for run in row.runs:
        content.append(np.asarray(run.val.scores if run.val else [], float).tobytes())
    figures = {"roc": _roc(row, memo), "scores": memo(DENSITIES, content, lambda: _scores(row))}
    if curves := _curves(row):
        figures["curves"] = curves
    return figures


def _roc(row: Row, memo: Memo) -> dict[str, Any]:
    """True-positive rates on ``FPR_GRID``: each seed's, their mean and its 95% bootstrap band
    (``low``, ``high``)."""
    curves = row_roc(row, memo)
    return {
        "seeds": [_compact(tpr) for tpr in curves["seeds"]],
        **{name: _compact(curves[name]) for name in ("mean", "low", "high")},
    }


def _scores(row: Row) -> dict[str, Any]:
    """Densities of every seed's test scores, normal and abnormal, on one grid of
    ``DENSITY_POINTS`` (``grid``: its first and last score), and the threshold each seed's
    validation normals set (None without them); a deterministic row's seeds once."""
    drawn = 1 if row.deterministic else row.n
    scores = row.scores[:drawn]
    low, high = np.percentile(scores, [0.5, 99.5])
    span = high - low or 1.0
    grid = np.linspace(low - 0.1 * span, high + 0.1 * span, DENSITY_POINTS)
    seeds = []
    for run, seed_scores in zip(row.runs, scores, strict=False):
        densities = score_densities(seed_scores, row.labels, grid)
        threshold = val_threshold(run.val.scores) if run.val and run.val.scores else None
        seeds.append({**{k: _compact(v) for k, v in densities.items()}, "threshold": threshold})
    return {"grid": [float(grid[0]), float(grid[-1]), DENSITY_POINTS], "seeds": seeds}


def _curves(row: Row) -> list[dict[str, Any]]:
    """Every training curve the row's runs recorded: its name, what its steps count, and each
    seed's steps and values (thinned to ``MAX_CURVE_POINTS``)."""
    names = dict.fromkeys(name for run in row.runs for name in run.history)
    out = []
    for name in names:
        runs = [(run, run.history[name]) for run in row.runs if run.history.get(name)]
        seeds = []
        for run, curve in runs:
            keep = np.unique(np.linspace(0, len(curve["step"]) - 1, MAX_CURVE_POINTS, dtype=int))
            values = np.asarray(curve["value"], dtype=float)[keep]
            steps = np.asarray(curve["step"])[keep].tolist()
            seeds.append({"seed": run.config.seed, "step": steps, "value": _compact(values)})
        out.append({"name": name, "unit": curve_unit(runs[-1][1]), "seeds": seeds})
    return out


def cost_figure(rows: list[Row], labels: dict[int, str]) -> dict[str, Any] | None:
    """Mean AUROC against mean fit + score time per seed (log scale) of ``rows`` (one set of
    test images), each row a colour and shape of its own, the marker's area the peak resident
    memory, the Pareto front dashed, the legend beside it in full; None when no row has a
    time. A Plotly figure dictionary, its layout drawn over ``figure_settings()``'s."""
    timed = timed_rows(rows)
    if not timed:
        return None
    peaks = [max(r.costs["peak_memory_mb"], default=0) for r in timed]
    scale = 40 / np.sqrt(max(peaks)) if max(peaks) else 0
    data = []
    for row, peak, style in zip(timed, peaks, row_styles(len(timed)), strict=True):
        memory = f"{peak / 1024:.1f} GB" if peak else "not recorded"
        fit, score = np.mean(row.costs["fit_s"]), np.mean(row.costs["score_s"])
        data.append(
            {
                "type": "scatter", "mode": "markers", "name": labels[id(row)],
                "x": [max(run_seconds(row), 0.01)], "y": [100 * row.auroc_mean],
                "marker": {"size": 8 + scale * np.sqrt(peak), "opacity": 0.75,
                           "color": style.colour, "symbol": style.symbol},
                "hovertemplate": f"{labels[id(row)]}<br>AUROC %{{y:.1f}}<br>fit {fit:.0f} s + "
                f"score {score:.0f} s<br>peak memory {memory}<extra></extra>",
            }
        )  # fmt: skip
    front = pareto_front(timed)
    data.append(
        {
            "type": "scatter", "mode": "lines", "name": "Pareto front",
            "x": [run_seconds(r) for r in front], "y": [100 * r.auroc_mean for r in front],
            "line": {"dash": "dash", "color": "black"},
        }
    )  # fmt: skip
    layout = {
        "height": max(420, LEGEND_TOP + LEGEND_ENTRY * (len(timed) + 1)),
        "title": {"text": f"Cost: AUROC against {TIME_LABEL} (marker area: peak memory)"},
        "xaxis": {"type": "log", "title": {"text": f"{TIME_LABEL} (s, log)"}},
        "yaxis": {"title": {"text": "mean AUROC (%)"}},
        "legend": {"itemsizing": "constant"},
    }
    return {"data": data, "layout": layout}
