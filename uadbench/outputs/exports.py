"""The leaderboard as a terminal table, CSV, Markdown, LaTeX or JSON.

Tables for people show percentages with one decimal; CSV and JSON keep full-precision fractions.
With one seed there is no standard deviation, and the tables say so rather than printing 0.0.
Every format names a row the same way (``Row.label``: changed parameters in the name, a
warning mark), lists the warnings of marked rows, and CSV and JSON carry the data fingerprint.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from uadbench.outputs.leaderboard import ALPHA, WARNING_MARK, Leaderboard, Row, distinctions
from uadbench.statistics.metrics import METRICS, PRIMARY, Metric
from uadbench.statistics.operating_point import VAL_PERCENTILE

LEGEND = (
    "AUROC, AP: mean ± sample std over seeds (one seed: no std). 95% CI: stratified bootstrap of "
    f"the mean AUROC over test images. Sens/spec/F1: threshold at the {VAL_PERCENTILE:.0f}th "
    "percentile of validation-normal scores (no test label used). vs best: DeLong test against "
    f"the best row on the same test images, Holm-adjusted; 'n.s.' = not significantly worse at "
    f"{ALPHA:.0%}. Published: only where the publication used the same split."
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _mean_std(row: Row, metric: str) -> str:
    mean, std = row.mean(metric), row.std(metric)
    if mean is None:
        return "-"
    return f"{_pct(mean)} ± {_pct(std)}" if std is not None else f"{_pct(mean)} (one seed)"


def _shown(row: Row, metric: Metric) -> str:
    """A metric's cell: mean ± std (or the mean), sensitivity with the specificity beside it."""
    if metric.name == "sensitivity":
        sens, spec = row.mean("sensitivity"), row.mean("specificity")
        return "-" if sens is None else f"{_pct(sens)}/{_pct(spec)}"
    return _mean_std(row, metric.name) if metric.spread else _pct(row.mean(metric.name))


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
    return f"[{_pct(row.auroc_ci95[0])}, {_pct(row.auroc_ci95[1])}]"


def _versus_best(row: Row, with_p: bool = True) -> str:
    if row.verdict is None:
        return "-"
    if row.verdict == "best" or not with_p:
        return {"best": "best", "not worse": "n.s.", "worse": "worse"}[row.verdict]
    p = "p<0.001" if row.p_holm < 0.001 else f"p={row.p_holm:.3f}"
    return f"n.s. ({p})" if row.verdict == "not worse" else f"worse ({p})"


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


def _plain(row: Row) -> dict[str, Any]:
    low, high = row.auroc_ci95 or (None, None)
    out: dict[str, Any] = {
        "dataset": row.dataset,
        "split_version": row.split_version,
        "data_fingerprint": row.fingerprint,
        "image_size": row.image_size,
        "method": row.method,
        "name": row.name,
        "profile": row.profile,
        "changed_params": "; ".join(f"{k}={v}" for k, v in row.changes.items()),
        "config": row.config,
        "label_use": row.label_use,
        "n_seeds": row.n,
        "seeds": row.seeds,
    }
    for metric in METRICS:
        out[f"{metric.name}_mean"] = row.mean(metric.name)
        out[f"{metric.name}_std"] = row.std(metric.name)
    out |= {
        "auroc_ci95_low": low,
        "auroc_ci95_high": high,
        "p_vs_best": row.p_value,
        "p_vs_best_holm": row.p_holm,
        "verdict": row.verdict,
        "failed": row.failed,
        "published_auroc": row.published.auroc / 100 if row.published else None,
        "published_source": row.published.source if row.published else None,
        "warnings": "; ".join(row.warnings),
    }
    return out


def to_csv(board: Leaderboard) -> str:
    """One line per row, machine-readable, fractions at full precision."""
    rows = [_plain(row) for row in board.rows]
    buffer = io.StringIO()
    fields = list(rows[0]) if rows else list(_plain(Row("", "", 0, "", "", "", None)))
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: " ".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
                for k, v in row.items()
            }
        )
    return buffer.getvalue()


def to_json(board: Leaderboard) -> str:
    """Rows with their per-seed values, and the runs that did not finish."""
    rows = []
    for row in board.rows:
        plain = _plain(row)
        plain["per_seed"] = {m.name: row.values[m.name] for m in METRICS}
        rows.append(plain)
    problems = [vars(p) for p in board.problems]
    return json.dumps({"rows": rows, "did_not_finish": problems, "legend": LEGEND}, indent=1) + "\n"


PRIMARY_COLUMN = next(m.column for m in METRICS if m.name == PRIMARY)
TERMINAL_COLUMNS = (
    "#",
    "method",
    "size",
    "seeds",
    *metric_columns("terminal"),
    "vs best",
    "published",
    "failed",
)
NARROW_COLUMNS = ("#", "method", "size", "seeds", PRIMARY_COLUMN, "95% CI", "vs best", "failed")
WIDE_TERMINAL = 140
"""Below this many characters the terminal table keeps only ``NARROW_COLUMNS``."""
NARROW_NOTE = (
    " Narrow terminal: AP, sens/spec, published and p-values left out; widen it or use --format."
)
DOCUMENT_COLUMNS = (
    "#",
    "method",
    "size",
    "seeds",
    *metric_columns("document"),
    "vs best",
    "published",
)
LATEX_COLUMNS = ("method", "size", "seeds", *metric_columns("latex"), "vs best", "published")


def _with_config(rows: list[dict[str, str]], columns: tuple[str, ...]) -> list[str]:
    """``columns``, plus what tells rows apart after ``size`` when a method appears twice
    (empty for the other rows)."""
    ambiguous = len({(r["method"], r["size"]) for r in rows}) < len(rows)
    out = list(columns)
    if ambiguous:
        out.insert(out.index("size") + 1, "config")
    return out


def _groups(board: Leaderboard) -> dict[str, list[dict[str, str]]]:
    """Display rows by the title of their set of test images."""
    groups: dict[str, list[dict[str, str]]] = {}
    for r in human_rows(board):
        groups.setdefault(r["title"], []).append(r)
    return groups


def warning_lines(rows: list[dict[str, str]]) -> list[str]:
    """``⚠ <row name>: <warnings>`` for every marked row."""
    return [f"{WARNING_MARK} {r['name']}: {r['warnings']}" for r in rows if r["warnings"]]


def _markdown_title(title: str) -> str:
    dataset, _, rest = title.partition(" · split ")
    version, _, data = rest.partition(" · data ")
    return f"**{dataset}**, split `{version}`" + (f", data `{data}`" if data else "")


def to_markdown(board: Leaderboard) -> str:
    """GitHub-flavoured Markdown: a table per set of test images, then unfinished runs."""
    if not board.rows:
        return "_No runs._\n"
    text = ""
    for title, rows in _groups(board).items():
        columns = _with_config(rows, DOCUMENT_COLUMNS)
        text += f"\n{_markdown_title(title)}\n\n"
        text += "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
        text += "".join("| " + " | ".join(r[c] for c in columns) + " |\n" for r in rows)
        if notes := warning_lines(rows):
            text += "\n" + "".join(f"- {_one_line(note, 400)}\n" for note in notes)
    text += f"\n{LEGEND}\n"
    if board.problems:
        text += "\n**Runs that did not finish**\n\n| dataset | method | seed | status | error |\n"
        text += "|---|---|---|---|---|\n"
        for p in board.problems:
            text += (
                f"| {p.dataset} | {p.method} | {p.seed} | {p.status} | {_one_line(p.message)} |\n"
            )
    return text.lstrip("\n")


def to_latex(board: Leaderboard) -> str:
    """A booktabs table per data set and split, ready for a paper."""
    text = ""
    for title, rows in _groups(board).items():
        columns = _with_config(rows, LATEX_COLUMNS)
        dataset, _, rest = title.partition(" · split ")
        split, _, data = rest.partition(" · data ")
        named = f"{_tex(dataset)}, split \\texttt{{{_tex(split)}}}"
        named += f", data \\texttt{{{_tex(data)}}}" if data else ""
        text += "\\begin{table}[t]\n\\centering\n\\small\n"
        text += f"\\caption{{{named}. {_tex(LEGEND)}}}\n"
        text += "\\begin{tabular}{l" + "r" * (len(columns) - 1) + "}\n\\toprule\n"
        text += " & ".join(_tex(c) for c in columns) + " \\\\\n\\midrule\n"
        for r in rows:
            text += " & ".join(_tex(r[c]) for c in columns) + " \\\\\n"
        text += "\\bottomrule\n\\end{tabular}\n"
        for note in warning_lines(rows):
            text += f"\n\\par\\footnotesize {_tex(note)}\n"
        text += "\\end{table}\n\n"
    return text or "% no runs\n"


def _tex(text: str) -> str:
    for plain, escaped in (
        ("\\", "\\textbackslash{}"),
        ("&", "\\&"),
        ("%", "\\%"),
        ("_", "\\_"),
        ("#", "\\#"),
        ("±", "$\\pm$"),
        ("<", "$<$"),
        (WARNING_MARK, "$^{\\dagger}$"),
    ):
        text = text.replace(plain, escaped)
    return text


def print_table(board: Leaderboard, console: Any = None) -> None:
    """Rich tables on the terminal, one per data set and split; then unfinished runs."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    if not board.rows:
        console.print("No runs recorded yet.")
    narrow = console.width < WIDE_TERMINAL
    for title, members in _groups(board).items():
        shown = NARROW_COLUMNS if narrow else TERMINAL_COLUMNS
        columns = [c for c in shown if any(r[c] for r in members)]
        caption = LEGEND + (NARROW_NOTE if narrow else "")
        table = Table(
            title=title,
            caption=caption,
            caption_justify="left",
            box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
            collapse_padding=narrow,
            pad_edge=not narrow,
        )
        for column in columns:
            table.add_column(
                column,
                justify="right" if column in ("#", "seeds") else "left",
                no_wrap=column in ("size", "95% CI"),
                min_width=max(len(r[column]) for r in members) if column == "method" else None,
            )
        for r in members:
            cells = {**r, "method": r["method"] + (f"\n[{r['config']}]" if r["config"] else "")}
            if narrow:  # the verdict only; its p-value is in the wide and document formats
                cells["vs best"] = r["verdict"]
            table.add_row(*(Text(cells[c]) for c in columns))  # Text: "[...]" is not markup
        console.print(table)
        for note in warning_lines(members):
            console.print(Text(note, style="yellow"))
    if board.problems:
        table = Table(title="Runs that did not finish", title_style="bold red")
        for column in ("dataset", "method", "seed", "status", "error", "record"):
            table.add_column(column, overflow="fold")
        for p in board.problems:
            table.add_row(p.dataset, p.method, str(p.seed), p.status, _one_line(p.message), p.path)
        console.print(table)


def _one_line(message: str, limit: int = 160) -> str:
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


WRITERS: dict[str, Callable[[Leaderboard], str]] = {
    "csv": to_csv,
    "markdown": to_markdown,
    "latex": to_latex,
    "json": to_json,
}
"""Output formats (``--format``) and their writers: a new format is one entry."""

FORMATS = ("table", *WRITERS)
"""Every format: the terminal table and the writers."""
