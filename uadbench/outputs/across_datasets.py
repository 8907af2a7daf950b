"""The board across data sets: every method's rank on each set of test images a board holds, its
mean rank, Friedman's test and Nemenyi's post-hoc test (``uadbench.statistics.ranking``), as
text in every format and as a critical-difference diagram.

A method here is a board row's name (the method, its profile unless quick, its changed
parameters), with the settings that tell apart rows of one name on one set of test images
(their method version, say): only names with a finished row on every set of test images
enter; the others are named with the sets they lack. A set of test images is a data set and
split (and its data fingerprint when one data set and split has several).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from uadbench.outputs.formats import writers
from uadbench.outputs.leaderboard import Leaderboard, Row, distinctions
from uadbench.statistics.ranking import RankSummary, rank_methods

SCORE = "mean AUROC"
"""What is ranked: each row's mean AUROC over its seeds."""


def test_set_names(board: Leaderboard) -> dict[tuple[str, str, str | None], str]:
    """A short name for each set of test images of ``board``: the data set, with its split
    where the board holds several splits of it, and its data fingerprint where one split has
    several."""
    sets = list(dict.fromkeys(r.test_set for r in board.rows))
    splits = Counter(d for d, _, _ in dict.fromkeys((d, s, None) for d, s, _ in sets))
    data = Counter((d, s) for d, s, _ in sets)
    names = {}
    for dataset, split, fingerprint in sets:
        name = dataset if splits[dataset] == 1 else f"{dataset} ({split})"
        if data[dataset, split] > 1:
            name += f" data {(fingerprint or 'unknown')[:8]}"
        names[dataset, split, fingerprint] = name
    return names


def across_datasets(board: Leaderboard) -> RankSummary | None:
    """The ranks of ``board``'s methods over its sets of test images; None for fewer than two
    sets."""
    names = test_set_names(board)
    if len(names) < 2:
        return None
    scores: dict[str, dict[str, float]] = {}
    finished: list[Row] = [r for r in board.rows if r.auroc_mean is not None]
    apart = distinctions(finished)  # rows of one name on one set: what tells them apart
    for row in finished:
        name = f"{row.name} ({apart[id(row)]})" if id(row) in apart else row.name
        scores.setdefault(name, {})[names[row.test_set]] = 100 * row.auroc_mean
    table = pd.DataFrame(scores, index=list(names.values()), columns=list(scores))
    return rank_methods(table)


def summary_rows(summary: RankSummary) -> list[dict[str, Any]]:
    """One dict per ranked method, best first: its mean rank, and its rank and score on each
    set of test images."""
    rows = []
    ranks, scores = summary.ranks.to_dict(), summary.scores.to_dict()  # method -> set -> value
    for place, (method, mean_rank) in enumerate(summary.mean_ranks.items(), start=1):
        row: dict[str, Any] = {"#": place, "method": method, "mean rank": float(mean_rank)}
        for test_set in summary.ranks.index:
            row[f"rank {test_set}"] = float(ranks[method][test_set])
            row[f"AUROC % {test_set}"] = float(scores[method][test_set])
        rows.append(row)
    return rows


def findings(summary: RankSummary) -> list[str]:
    """The tests' results, the pairs Nemenyi's test tells apart, what was left out and how
    much the tests can tell, as sentences."""
    lines = [
        f"Ranked: each method's {SCORE} on each set of test images (1 = highest; ties share "
        "the mean of their ranks)."
    ]
    if summary.friedman_p is not None:
        lines.append(
            f"Friedman's test over {summary.n_datasets} sets and {summary.n_methods} methods: "
            f"chi-square {summary.friedman_statistic:.2f}, {_p(summary.friedman_p)}. "
            f"Nemenyi's critical difference at {summary.alpha:g}: "
            f"{summary.critical_difference:.2f} ranks."
        )
        pairs = _different_pairs(summary)
        lines.append(
            "Pairs Nemenyi's test tells apart: " + ("; ".join(pairs) if pairs else "none") + "."
        )
    lines.append(summary.power_note()[0].upper() + summary.power_note()[1:] + ".")
    if summary.left_out:
        missing = "; ".join(f"{m} (no {', '.join(sets)})" for m, sets in summary.left_out.items())
        lines.append(f"Left out, not measured on every set of test images: {missing}.")
    return lines


def _different_pairs(summary: RankSummary) -> list[str]:
    assert summary.nemenyi_p is not None
    ranks = summary.mean_ranks
    p_values = summary.nemenyi_p.to_dict()  # column -> row -> p
    out = []
    for i, better in enumerate(ranks.index):
        for worse in ranks.index[i + 1 :]:
            p = p_values[worse][better]
            if p < summary.alpha:
                out.append(f"{better} over {worse} ({_p(p)})")
    return out


def _p(p: float) -> str:
    """``p = 0.047``, or ``p < 0.001``."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def summary_cells(summary: RankSummary) -> tuple[list[str], list[list[str]]]:
    """Column names and display cells: mean rank, then rank (AUROC %) per set."""
    headers = ["#", "method", "mean rank", *summary.ranks.index]
    cells = []
    for row in summary_rows(summary):
        per_set = [f"{row[f'rank {s}']:g} ({row[f'AUROC % {s}']:.1f})" for s in summary.ranks.index]
        cells.append([str(row["#"]), row["method"], f"{row['mean rank']:.2f}", *per_set])
    return headers, cells


def to_markdown(summary: RankSummary) -> str:
    headers, cells = summary_cells(summary)
    text = "**Across data sets**: rank (AUROC %) on each set of test images\n\n"
    text += tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True) + "\n\n"
    return text + "".join(f"- {line}\n" for line in findings(summary))


def to_csv(summary: RankSummary) -> str:
    rows = summary_rows(summary)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_json(summary: RankSummary) -> str:
    data = {
        "methods": summary_rows(summary),
        "friedman": {"statistic": summary.friedman_statistic, "p": summary.friedman_p},
        "critical_difference": summary.critical_difference,
        "alpha": summary.alpha,
        "nemenyi_p": summary.nemenyi_p.to_dict() if summary.nemenyi_p is not None else None,
        "left_out": summary.left_out,
        "notes": findings(summary),
    }
    return json.dumps(data, indent=1) + "\n"


def to_latex(summary: RankSummary) -> str:
    from uadbench.outputs.exports import tex, tex_symbols

    headers, cells = summary_cells(summary)
    frame = pd.DataFrame(cells, columns=headers)
    styler = frame.style.hide(axis="index").format(tex_symbols, escape="latex")
    tabular = styler.format_index(tex_symbols, escape="latex", axis=1).to_latex(
        column_format="rl" + "r" * (len(headers) - 2), hrules=True
    )
    caption = tex("Methods ranked across data sets. " + " ".join(findings(summary)))
    return (
        "\\begin{table}[t]\n\\centering\n\\small\n"
        f"\\caption{{{caption}}}\n{tabular}\\end{{table}}\n"
    )


def print_summary(summary: RankSummary, console: Any) -> None:
    """The summary as a rich table on the terminal, then its findings."""
    from rich.table import Table
    from rich.text import Text

    headers, cells = summary_cells(summary)
    table = Table(title="Across data sets: rank (AUROC %) on each set of test images")
    for header in headers:
        table.add_column(header, justify="left" if header == "method" else "right")
    for row in cells:
        table.add_row(*(Text(c) for c in row))
    console.print(table)
    for line in findings(summary):
        console.print(Text(line), soft_wrap=False)


WRITERS: dict[str, Callable[[RankSummary], str]] = writers(sys.modules[__name__])
"""The summary in each of the board's file formats."""


def plot_critical_difference(summary: RankSummary, out: Path, suffix: str = "") -> list[Path]:
    """The critical-difference diagram (scikit-posthocs): mean ranks on an axis, methods that
    Nemenyi's test cannot tell apart joined by a bar, the critical difference drawn above; as
    PNG and PDF, or only as ``suffix`` (``.png``). Nothing when the tests did not run."""
    if summary.nemenyi_p is None:
        return []
    import scikit_posthocs

    from uadbench.outputs.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 2.5 + 0.3 * summary.n_methods))
    scikit_posthocs.critical_difference_diagram(
        summary.mean_ranks,
        summary.nemenyi_p,
        ax=ax,
        alpha=summary.alpha,
        cd=summary.critical_difference,
        label_fmt_left="{label} ({rank:.2f})",
        label_fmt_right="({rank:.2f}) {label}",
    )
    fig.suptitle(
        f"Mean rank over {summary.n_datasets} sets of test images "
        f"(CD {summary.critical_difference:.2f} at {summary.alpha:g})",
        fontsize=9,
        y=1.08,
    )
    return save_figure(fig, Path(out) / f"critical_difference{suffix}")
