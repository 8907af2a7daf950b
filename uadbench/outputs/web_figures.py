"""The figures of one leaderboard row on the web board, as Plotly figure dictionaries: its ROC
curve (mean over seeds with a bootstrap band, and each seed), every seed's test score
distributions with its validation threshold, and its training curves; and the board's cost
view."""

from __future__ import annotations

from typing import Any

import numpy as np

from uadbench.contracts.history import curve_unit
from uadbench.outputs.cost_plot import TIME_LABEL, pareto_front, run_seconds, timed_rows
from uadbench.outputs.leaderboard import Row
from uadbench.outputs.plots import FPR_GRID, mean_roc, roc_band, row_styles, score_densities
from uadbench.statistics.operating_point import VAL_PERCENTILE, val_threshold

DENSITY_POINTS = 120
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
"""Line styles of a row's seeds in its score densities, in seed order."""
MAX_CURVE_POINTS = 400
"""Training curves longer than this are thinned (evenly) on the page."""
LEGEND_ENTRY = 22
LEGEND_TOP = 110
"""Pixels: the height of a legend entry, and of what lies above and below a cost view's legend;
the figure grows with its legend, which Plotly would otherwise clip and scroll."""
LAYOUT = {"margin": {"l": 55, "r": 15, "t": 40, "b": 50}, "height": 340, "template": "plotly_white"}


def seed_colour(row: Row, seed: int) -> str:
    """The colour of one of the row's seeds, the same in every figure of the row."""
    from plotly.colors import qualitative

    palette = qualitative.Dark2
    return palette[row.seeds.index(seed) % len(palette)]


def roc_figure(row: Row) -> dict[str, Any]:
    """Mean ROC curve over the row's seeds, its 95% bootstrap band, and each seed's curve."""
    import plotly.graph_objects as go
    from sklearn.metrics import roc_curve

    low, high = roc_band(row.labels, row.scores)
    fig = go.Figure()
    fig.add_scatter(x=FPR_GRID, y=high, line={"width": 0}, hoverinfo="skip", showlegend=False)
    fig.add_scatter(
        x=FPR_GRID, y=low, fill="tonexty", line={"width": 0}, fillcolor="rgba(31,119,180,0.2)",
        name="95% band", hoverinfo="skip",
    )  # fmt: skip
    for seed, scores in zip(row.seeds, row.scores, strict=True):
        fpr, tpr, _ = roc_curve(row.labels, scores)
        fig.add_scatter(
            x=fpr, y=tpr, mode="lines", name=f"seed {seed}", opacity=0.6,
            line={"width": 1, "color": seed_colour(row, seed)},
        )  # fmt: skip
    fig.add_scatter(
        x=FPR_GRID, y=mean_roc(row.labels, row.scores), mode="lines",
        name=f"mean, AUROC {100 * row.auroc_mean:.1f}", line={"width": 3, "color": "#1f77b4"},
    )  # fmt: skip
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "grey"}
    )
    fig.update_layout(
        **LAYOUT, title="ROC curve", xaxis_title="false positive rate",
        yaxis_title="true positive rate", legend={"x": 0.55, "y": 0.05},
    )  # fmt: skip
    return fig.to_plotly_json()


def score_figure(row: Row) -> dict[str, Any]:
    """Densities of every seed's test scores, normal and abnormal (a line style per seed), and
    the threshold each seed's validation normals set; a deterministic row's seeds are drawn
    once."""
    import plotly.graph_objects as go

    drawn = 1 if row.deterministic else row.n
    scores = row.scores[:drawn]
    low, high = np.percentile(scores, [0.5, 99.5])
    span = high - low or 1.0
    grid = np.linspace(low - 0.1 * span, high + 0.1 * span, DENSITY_POINTS)
    fig = go.Figure()
    colours = {"normal": "#1f77b4", "abnormal": "#d62728"}
    note = (
        f"threshold{'s' if drawn > 1 else ''} ({VAL_PERCENTILE:.0f}th pct. of validation normals)"
    )
    for i, (seed, run, seed_scores) in enumerate(zip(row.seeds, row.runs, scores, strict=False)):
        dash = DASHES[i % len(DASHES)]
        for name, density in score_densities(seed_scores, row.labels, grid).items():
            fig.add_scatter(
                x=grid, y=density, mode="lines", fill="tozeroy" if drawn == 1 else None,
                name=name if drawn == 1 else f"{name}, seed {seed}",
                line={"color": colours[name], "dash": dash, "width": 1.5},
            )  # fmt: skip
        if run.val and run.val.scores:
            fig.add_vline(
                x=val_threshold(run.val.scores), line={"dash": dash, "color": "black", "width": 1},
                **({} if i else {"annotation_text": note}),
            )  # fmt: skip
    seeds = ", ".join(map(str, row.seeds))
    title = (
        f"Test scores, seeds {seeds} (deterministic: identical)"
        if row.deterministic
        else f"Test scores, seed{'s' if row.n > 1 else ''} {seeds}"
    )
    fig.update_layout(**LAYOUT, title=title, xaxis_title="anomaly score", yaxis_title="density")
    return fig.to_plotly_json()


def curves_figure(row: Row) -> dict[str, Any] | None:
    """Every training curve the row's runs recorded, a panel per curve, a line per seed; None
    when there is none."""
    from plotly.subplots import make_subplots

    names = list(dict.fromkeys(name for run in row.runs for name in run.history))
    if not names:
        return None
    titles = [name.replace("_", " ") for name in names]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=titles)
    for column, name in enumerate(names, start=1):
        unit = "step"
        for run in row.runs:
            if curve := run.history.get(name):
                unit = curve_unit(curve)
                last = len(curve["step"]) - 1
                keep = np.unique(np.linspace(0, last, MAX_CURVE_POINTS, dtype=int))
                fig.add_scatter(
                    x=np.asarray(curve["step"])[keep], y=np.asarray(curve["value"])[keep],
                    mode="lines", name=f"seed {run.config.seed}", legendgroup=str(run.config.seed),
                    showlegend=column == 1, row=1, col=column,
                    line={"color": seed_colour(row, run.config.seed)},
                )  # fmt: skip
        fig.update_xaxes(title_text=unit, row=1, col=column)
    fig.update_layout(**LAYOUT, title="Training curves")
    return fig.to_plotly_json()


def cost_figure(rows: list[Row], labels: dict[int, str]) -> dict[str, Any] | None:
    """Mean AUROC against mean fit + score time per seed (log scale) of ``rows`` (one set of
    test images), each row a colour and shape of its own, the marker's area the peak resident
    memory, the Pareto front dashed, the legend beside it in full; None when no row has a
    time."""
    import plotly.graph_objects as go

    timed = timed_rows(rows)
    if not timed:
        return None
    peaks = [max(r.costs["peak_memory_mb"], default=0) for r in timed]
    scale = 40 / np.sqrt(max(peaks)) if max(peaks) else 0
    fig = go.Figure()
    for row, peak, style in zip(timed, peaks, row_styles(len(timed)), strict=True):
        memory = f"{peak / 1024:.1f} GB" if peak else "not recorded"
        fit, score = np.mean(row.costs["fit_s"]), np.mean(row.costs["score_s"])
        fig.add_scatter(
            x=[max(run_seconds(row), 0.01)], y=[100 * row.auroc_mean], mode="markers",
            marker={"size": 8 + scale * np.sqrt(peak), "opacity": 0.75, "color": style.colour,
                    "symbol": style.symbol},
            name=labels[id(row)],
            hovertemplate=f"{labels[id(row)]}<br>AUROC %{{y:.1f}}<br>fit {fit:.0f} s + score "
            f"{score:.0f} s<br>peak memory {memory}<extra></extra>",
        )  # fmt: skip
    front = pareto_front(timed)
    fig.add_scatter(
        x=[run_seconds(r) for r in front], y=[100 * r.auroc_mean for r in front],
        mode="lines", name="Pareto front", line={"dash": "dash", "color": "black"},
    )  # fmt: skip
    fig.update_layout(
        **{**LAYOUT, "height": max(420, LEGEND_TOP + LEGEND_ENTRY * (len(timed) + 1))},
        title=f"Cost: AUROC against {TIME_LABEL} (marker area: peak memory)",
        xaxis={"type": "log", "title": f"{TIME_LABEL} (s, log)"}, yaxis_title="mean AUROC (%)",
        legend={"itemsizing": "constant"},
    )  # fmt: skip
    return fig.to_plotly_json()
