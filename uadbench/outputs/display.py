"""A leaderboard row as people read it: display strings for every column, the legend, and the
grouping by set of test images that every human format (terminal, Markdown, LaTeX) shares.

Percentages have one decimal; with one seed, or seeds that all gave the same scores
(deterministic), there is no standard deviation, and the cell says which rather than printing
0.0. Metric columns come from the metric table (``METRICS``).
"""

from __future__ import annotations

from uadbench.outputs.leaderboard import ALPHA, WARNING_MARK, Leaderboard, Row, distinctions
from uadbench.statistics.metrics import METRICS, PRIMARY, Metric
from uadbench.statistics.operating_point import VAL_PERCENTILE

LEGEND = (
    "AUROC, AP: mean ± sample std over seeds (one seed: no std; deterministic: every seed gave "
    "the same test scores, so the seeds are one measurement and have no spread). 95% CI: "
    "stratified bootstrap of the mean AUROC over test images. Sens/spec/F1: threshold at the "
    f"{VAL_PERCENTILE:.0f}th percentile of validation-normal scores (no test label used). vs "
    "best: DeLong test against the best row on the same test images, Holm-adjusted; 'n.s.' = "
    f"not significantly worse at {ALPHA:.0%}. Published: only where the publication used the "
    "same split."
)


LOCALISATION_LEGEND = (
    "Where the anomaly maps point (each run's kept maps, mean ± std over seeds): pixel AUROC and "
    "AUPRO (per-region overlap up to 30% false-positive rate) against lesion masks, and Dice of "
    f"the pixels above the {VAL_PERCENTILE:.0f}th percentile of the validation normals' maps "
    "(no test label used), pooled over the test images; against "
    "boxes, hit = the map's maximum inside a box (pointing game) and mass in boxes = the share "
    "of the map's mass inside them, over the abnormal images with boxes; uniform = what a "
    "uniform map gives both."
)
LOCALISATION_COLUMNS = tuple(m.column for m in METRICS if m.localisation and m.column)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _mean_std(row: Row, metric: str) -> str:
    mean, std = row.mean(metric), row.std(metric)
    if mean is None:
        return "-"
    if std is not None:
        return f"{percent(mean)} ± {percent(std)}"
    return f"{percent(mean)} ({'deterministic' if row.deterministic else 'one seed'})"


def _shown(row: Row, metric: Metric) -> str:
    """A metric's cell: mean ± std (or the mean), sensitivity with the specificity beside it."""
    if metric.name == "sensitivity":
        sens, spec = row.mean("sensitivity"), row.mean("specificity")
        return "-" if sens is None else f"{percent(sens)}/{percent(spec)}"
    return _mean_std(row, metric.name) if metric.spread else percent(row.mean(metric.name))


def metric_columns(format: str) -> list[str]:
    """The metric columns of a human format, the primary metric's interval after it."""
    columns = []
    for m in METRICS:
        if m.column and format in m.formats:
            columns += [m.column, "95% CI"] if m.name == PRIMARY else [m.column]
    return columns


def _interval(row: Row) -> str:
    if row.auroc_ci95 is None:
        return "-"
    return f"[{percent(row.auroc_ci95[0])}, {percent(row.auroc_ci95[1])}]"


def _versus_best(row: Row, with_p: bool = True) -> str:
    if row.verdict is None:
        return "-"
    if row.verdict == "best" or not with_p:
        return {"best": "best", "not worse": "n.s.", "worse": "worse"}[row.verdict]
    return verdict(row.p_holm)


def verdict(p_holm: float | None) -> str:
    """A row against the best one from its Holm-adjusted p: best (None), n.s. or worse."""
    if p_holm is None:
        return "best"
    p = "p<0.001" if p_holm < 0.001 else f"p={p_holm:.3f}"
    return f"n.s. ({p})" if p_holm >= ALPHA else f"worse ({p})"


def _published(row: Row) -> str:
    p = row.published
    if p is None:
        return "-"
    spread = f" ± {p.auroc_std:g}" if p.auroc_std is not None else ""
    return f"{p.auroc:g}{spread}"


def human_rows(board: Leaderboard) -> list[dict[str, str]]:
    """Rows of display strings, ranked within each set of test images."""
    rank: dict[tuple[str, str, str | None], int] = {}
    out = []
    differences = distinctions(board.rows)
    for row in board.rows:
        group = row.test_set
        rank[group] = rank.get(group, 0) + 1
        out.append(
            {
                "#": str(rank[group]),
                "title": board.test_set_title(row),
                "dataset": row.dataset,
                "split": row.split_version,
                "method": row.label,
                "name": row.name,
                "warnings": "; ".join(row.warnings),
                "size": f"{row.image_size}px",
                "config": differences.get(id(row), ""),
                "seeds": str(row.n),
                **{m.column: _shown(row, m) for m in METRICS if m.column},
                "95% CI": _interval(row),
                "vs best": _versus_best(row),
                "verdict": _versus_best(row, with_p=False),
                "published": _published(row),
                "failed": str(row.failed) if row.failed else "",
            }
        )
    return out


def present(columns: list[str], rows: list[dict[str, str]]) -> list[str]:
    """``columns`` without the localisation columns that no row of ``rows`` has a value in."""
    return [c for c in columns if c not in LOCALISATION_COLUMNS or any(r[c] != "-" for r in rows)]


def with_config(rows: list[dict[str, str]], columns: tuple[str, ...]) -> list[str]:
    """``columns``, plus what tells rows apart after ``size`` when a method appears twice
    (empty for the other rows)."""
    ambiguous = len({(r["method"], r["size"]) for r in rows}) < len(rows)
    out = list(columns)
    if ambiguous:
        out.insert(out.index("size") + 1, "config")
    return out


def groups(board: Leaderboard) -> dict[str, list[dict[str, str]]]:
    """Display rows by the title of their set of test images."""
    groups: dict[str, list[dict[str, str]]] = {}
    for r in human_rows(board):
        groups.setdefault(r["title"], []).append(r)
    return groups


def markdown_title(title: str) -> str:
    """A set of test images' title in Markdown: the data set in bold, split and data as code."""
    dataset, _, rest = title.partition(" · split ")
    version, _, data = rest.partition(" · data ")
    return f"**{dataset}**, split `{version}`" + (f", data `{data}`" if data else "")


def warning_lines(rows: list[dict[str, str]]) -> list[str]:
    """``⚠ <row name>: <warnings>`` for every marked row."""
    return [f"{WARNING_MARK} {r['name']}: {r['warnings']}" for r in rows if r["warnings"]]


def shortened(message: str, limit: int = 160) -> str:
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
