"""The leaderboard as a terminal table, CSV, Markdown, LaTeX or JSON, one writer per format.

Tables for people show the display cells of ``uadbench.outputs.display``; CSV and JSON keep
full-precision fractions. Every format names a row the same way (``Row.label``: changed
parameters in the name, a warning mark), lists the warnings of marked rows (seeds run on
different CPU models among them), and says when a row is deterministic (no std); CSV and JSON
carry the data fingerprint, whether the row is deterministic and its seeds' CPU models.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from typing import Any

from tabulate import tabulate

from uadbench.outputs.display import (
    LEGEND,
    LOCALISATION_COLUMNS,
    LOCALISATION_LEGEND,
    groups,
    markdown_title,
    metric_columns,
    present,
    shortened,
    warning_lines,
    with_config,
)
from uadbench.outputs.formats import writers
from uadbench.outputs.leaderboard import WARNING_MARK, Leaderboard, Row
from uadbench.statistics.metrics import METRICS, PRIMARY


def plain_row(row: Row) -> dict[str, Any]:
    """A row as the machine formats write it: every column, fractions at full precision."""
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
        "deterministic": row.deterministic,
        "cpu_models": "; ".join(row.cpu_models),
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
    rows = [plain_row(row) for row in board.rows]
    buffer = io.StringIO()
    fields = list(rows[0]) if rows else list(plain_row(Row("", "", 0, "", "", "", None)))
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
        plain = plain_row(row)
        plain["per_seed"] = {m.name: row.values[m.name] for m in METRICS}
        rows.append(plain)
    problems = [vars(p) for p in board.problems]
    return json.dumps({"rows": rows, "did_not_finish": problems, "legend": LEGEND}, indent=1) + "\n"


PRIMARY_COLUMN = next(m.column for m in METRICS if m.name == PRIMARY)
LEADING_COLUMNS = ("#", "method", "size", "seeds")
TERMINAL_COLUMNS = (*LEADING_COLUMNS, *metric_columns("terminal"), "vs best", "published", "failed")
NARROW_COLUMNS = (*LEADING_COLUMNS, PRIMARY_COLUMN, "95% CI", "vs best", "failed")
WIDE_TERMINAL = 140
"""Below this many characters the terminal table keeps only ``NARROW_COLUMNS``."""
NARROW_NOTE = (
    " Narrow terminal: AP, sens/spec, published and p-values left out; widen it or use --format."
)
DOCUMENT_COLUMNS = (*LEADING_COLUMNS, *metric_columns("document"), "vs best", "published")
LATEX_COLUMNS = ("method", "size", "seeds", *metric_columns("latex"), "vs best", "published")


def to_markdown(board: Leaderboard) -> str:
    """GitHub-flavoured Markdown: a table per set of test images, then unfinished runs."""
    if not board.rows:
        return "_No runs._\n"
    text, located = "", False
    for title, rows in groups(board).items():
        columns = present(with_config(rows, DOCUMENT_COLUMNS), rows)
        located |= any(c in LOCALISATION_COLUMNS for c in columns)
        text += f"\n{markdown_title(title)}\n\n"
        cells = [[r[c] for c in columns] for r in rows]
        right = ("#", "seeds", "95% CI", *metric_columns("document"))
        align = ["right" if c in right else "left" for c in columns]
        text += tabulate(
            cells, headers=columns, tablefmt="github", disable_numparse=True, colalign=align
        )
        text += "\n"
        if notes := warning_lines(rows):
            text += "\n" + "".join(f"- {shortened(note, 400)}\n" for note in notes)
    text += f"\n{LEGEND}\n" + (f"\n{LOCALISATION_LEGEND}\n" if located else "")
    if located:
        from uadbench.outputs import map_statistics  # reads kept maps: only where runs kept them

        if tested := map_statistics.to_markdown(map_statistics.map_statistics(board)):
            text += "\n" + tested
    if board.problems:
        cells = [
            [p.dataset, p.method, p.seed, p.status, shortened(p.message)] for p in board.problems
        ]
        headers = ["dataset", "method", "seed", "status", "error"]
        text += "\n**Runs that did not finish**\n\n"
        text += tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True) + "\n"
    return text.lstrip("\n")


def to_latex(board: Leaderboard) -> str:
    """A booktabs table per data set and split, ready for a paper: the tabular from pandas'
    ``Styler.to_latex`` (its LaTeX escaping), in a table with caption and notes."""
    import pandas as pd

    text = ""
    for title, rows in groups(board).items():
        columns = present(with_config(rows, LATEX_COLUMNS), rows)
        legend = LEGEND + (
            f" {LOCALISATION_LEGEND}" if any(c in LOCALISATION_COLUMNS for c in columns) else ""
        )
        dataset, _, rest = title.partition(" · split ")
        split, _, data = rest.partition(" · data ")
        named = f"{tex(dataset)}, split \\texttt{{{tex(split)}}}"
        named += f", data \\texttt{{{tex(data)}}}" if data else ""
        text += "\\begin{table}[t]\n\\centering\n\\small\n"
        text += f"\\caption{{{named}. {tex(legend)}}}\n"
        frame = pd.DataFrame([[r[c] for c in columns] for r in rows], columns=columns)
        styler = frame.style.hide(axis="index").format(tex_symbols, escape="latex")
        text += styler.format_index(tex_symbols, escape="latex", axis=1).to_latex(
            column_format="l" + "r" * (len(columns) - 1), hrules=True
        )
        for note in warning_lines(rows):
            text += f"\n\\par\\footnotesize {tex(note)}\n"
        text += "\\end{table}\n\n"
    return text or "% no runs\n"


LATEX_SPECIALS = {
    "\\": "\\textbackslash ",
    "&": "\\&",
    "%": "\\%",
    "$": "\\$",
    "#": "\\#",
    "_": "\\_",
    "{": "\\{",
    "}": "\\}",
    "~": "\\textasciitilde ",
    "^": "\\textasciicircum ",
}
"""LaTeX's special characters as pandas' ``escape="latex"`` writes them, for the caption and
notes around its tabular (a test holds the two to the same output)."""
LATEX_SYMBOLS = {"±": "$\\pm$", "<": "$<$", WARNING_MARK: "$^{\\dagger}$"}
"""Symbols of the display cells that LaTeX's text fonts lack."""


def tex_symbols(text: object) -> str:
    text = str(text)
    for plain, written in LATEX_SYMBOLS.items():
        text = text.replace(plain, written)
    return text


def tex(text: str) -> str:
    """``text`` (a caption, a note) escaped as the table's cells are."""
    return tex_symbols("".join(LATEX_SPECIALS.get(ch, ch) for ch in text))


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
    for title, members in groups(board).items():
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
            table.add_row(p.dataset, p.method, str(p.seed), p.status, shortened(p.message), p.path)
        console.print(table)


WRITERS: dict[str, Callable[[Leaderboard], str]] = writers(sys.modules[__name__])
"""The board's writer of each text format (``uadbench.outputs.formats``)."""
