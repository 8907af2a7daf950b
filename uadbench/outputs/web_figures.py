"""The figures of one leaderboard row on the web board, as Plotly figure dictionaries: its ROC
curve (mean over seeds with a bootstrap band, and each seed), its test score distributions with
the validation threshold, and its training curves; and the board's cost view."""

from __future__ import annotations

from typing import Any

import numpy as np

from uadbench.contracts.history import curve_unit
from uadbench.outputs.cost_plot import pareto_front
from uadbench.outputs.leaderboard import Row
from uadbench.outputs.plots import FPR_GRID, mean_roc, roc_band, score_densities
from uadbench.statistics.operating_point import VAL_PERCENTILE, val_threshold

DENSITY_POINTS = 120
MAX_CURVE_POINTS = 400
"""Training curves longer than this are thinned (evenly) on the page."""
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
    """Densities of the first seed's test scores, normal and abnormal, and the threshold its
    validation normals set."""
    import plotly.graph_objects as go

    scores, run = row.scores[0], row.runs[0]
    low, high = np.percentile(scores, [0.5, 99.5])
    span = high - low or 1.0
    grid = np.linspace(low - 0.1 * span, high + 0.1 * span, DENSITY_POINTS)
    fig = go.Figure()
    colours = {"normal": "#1f77b4", "abnormal": "#d62728"}
    for name, density in score_densities(scores, row.labels, grid).items():
        fig.add_scatter(x=grid, y=density, mode="lines", fill="tozeroy", name=name,
                        line={"color": colours[name]})  # fmt: skip
    if run.val and run.val.scores:
        threshold = val_threshold(run.val.scores)
        fig.add_vline(
            x=threshold, line={"dash": "dash", "color": "black"},
            annotation_text=f"threshold ({VAL_PERCENTILE:.0f}th pct. of validation normals)",
        )  # fmt: skip
    fig.update_layout(
        **LAYOUT, title=f"Test scores, seed {row.seeds[0]}", xaxis_title="anomaly score",
        yaxis_title="density",
    )  # fmt: skip
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
    """Mean AUROC against mean training time (log scale) of ``rows`` (one set of test images),
    the marker's area the peak resident memory, the Pareto front dashed; None when no row has a
    training time."""
    import plotly.graph_objects as go

    timed = [r for r in rows if r.costs["fit_s"] and r.auroc_mean is not None]
    if not timed:
        return None
    peaks = [max(r.costs["peak_memory_mb"], default=0) for r in timed]
    scale = 40 / np.sqrt(max(peaks)) if max(peaks) else 0
    fig = go.Figure()
    for row, peak in zip(timed, peaks, strict=True):
        memory = f"{peak / 1024:.1f} GB" if peak else "not recorded"
        fig.add_scatter(
            x=[max(np.mean(row.costs["fit_s"]), 0.01)], y=[100 * row.auroc_mean], mode="markers",
            marker={"size": 8 + scale * np.sqrt(peak), "opacity": 0.75}, name=labels[id(row)],
            hovertemplate=f"{labels[id(row)]}<br>AUROC %{{y:.1f}}<br>training %{{x:.0f}} s"
            f"<br>peak memory {memory}<extra></extra>",
        )  # fmt: skip
    front = pareto_front(timed)
    fig.add_scatter(
        x=[np.mean(r.costs["fit_s"]) for r in front], y=[100 * r.auroc_mean for r in front],
        mode="lines", name="Pareto front", line={"dash": "dash", "color": "black"},
    )  # fmt: skip
    fig.update_layout(
        **{**LAYOUT, "height": 420}, title="Cost: AUROC against training time (marker area: "
        "peak memory)", xaxis={"type": "log", "title": "mean training time per seed (s, log)"},
        yaxis_title="mean AUROC (%)",
    )  # fmt: skip
    return fig.to_plotly_json()
