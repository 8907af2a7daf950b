"""The leaderboard as a terminal table, CSV or Markdown.

Tables for people show AUROC and AP in percent with one decimal; CSV keeps full-precision
fractions. With one seed there is no standard deviation, and the tables say so rather than
printing 0.0.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from uadbench.leaderboard import Leaderboard, Row

FORMATS = ("table", "csv", "markdown")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _mean_std(mean: float | None, std: float | None, n: int) -> str:
    if mean is None:
        return "-"
    return f"{_pct(mean)} ± {_pct(std)}" if std is not None else f"{_pct(mean)} (one seed)"


def _interval(row: Row) -> str:
    return (
        "-" if row.auroc_ci95 is None else f"[{_pct(row.auroc_ci95[0])}, {_pct(row.auroc_ci95[1])}]"
    )


def _method_label(row: Row) -> str:
    return f"{row.method} (uses labels)" if row.label_use else row.method


def human_rows(board: Leaderboard) -> list[dict[str, str]]:
    """Rows of display strings, one per leaderboard row."""
    rank: dict[str, int] = {}
    out = []
    for row in board.rows:
        group = f"{row.dataset}/{row.split_version}/{row.image_size}"
        rank[group] = rank.get(group, 0) + 1
        out.append(
            {
                "#": str(rank[group]),
                "dataset": row.dataset,
                "split": row.split_version,
                "size": f"{row.image_size}px",
                "method": _method_label(row),
                "profile": row.profile,
                "config": row.config,
                "seeds": str(row.n),
                "AUROC %": _mean_std(row.auroc_mean, row.auroc_std, row.n),
                "95% CI": _interval(row),
                "AP %": _mean_std(row.ap_mean, row.ap_std, row.n),
                "failed": str(row.failed) if row.failed else "",
            }
        )
    return out


def to_csv(board: Leaderboard) -> str:
    """One line per row, machine-readable, fractions at full precision."""
    buffer = io.StringIO()
    fields = [
        "dataset",
        "split_version",
        "image_size",
        "method",
        "profile",
        "config",
        "label_use",
        "n_seeds",
        "seeds",
        "auroc_mean",
        "auroc_std",
        "auroc_ci95_low",
        "auroc_ci95_high",
        "ap_mean",
        "ap_std",
        "failed",
    ]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in board.rows:
        low, high = row.auroc_ci95 or (None, None)
        writer.writerow(
            _blank_none(
                {
                    "dataset": row.dataset,
                    "split_version": row.split_version,
                    "image_size": row.image_size,
                    "method": row.method,
                    "profile": row.profile,
                    "config": row.config,
                    "label_use": row.label_use,
                    "n_seeds": row.n,
                    "seeds": " ".join(map(str, row.seeds)),
                    "auroc_mean": row.auroc_mean,
                    "auroc_std": row.auroc_std,
                    "auroc_ci95_low": low,
                    "auroc_ci95_high": high,
                    "ap_mean": row.ap_mean,
                    "ap_std": row.ap_std,
                    "failed": row.failed,
                }
            )
        )
    return buffer.getvalue()


def to_markdown(board: Leaderboard) -> str:
    """A GitHub-flavoured Markdown table, then the runs that did not finish."""
    rows = human_rows(board)
    if not rows:
        return "_No runs._\n"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r[h] for h in header) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    text += "\nAUROC and AP: mean ± sample std over seeds (one seed: no std). 95% CI: "
    text += "stratified bootstrap of the mean AUROC over test images.\n"
    if board.problems:
        text += "\n**Runs that did not finish**\n\n| dataset | method | seed | status | error |\n"
        text += "|---|---|---|---|---|\n"
        for p in board.problems:
            text += (
                f"| {p.dataset} | {p.method} | {p.seed} | {p.status} | {_one_line(p.message)} |\n"
            )
    return text


def print_table(board: Leaderboard, console: Any = None) -> None:
    """Rich tables on the terminal, one per data set, split and size; then unfinished runs."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    rows = human_rows(board)
    if not rows:
        console.print("No runs recorded yet.")
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["split"], r["size"]), []).append(r)
    for (dataset, split, size), members in groups.items():
        ambiguous = len({r["method"] for r in members}) < len(members)
        columns = [
            "#",
            "method",
            "profile",
            *(["config"] if ambiguous else []),
            "seeds",
            "AUROC %",
            "95% CI",
            "AP %",
            "failed",
        ]
        table = Table(
            title=f"{dataset} · split {split} · {size}",
            caption="mean ± std over seeds; 95% CI: stratified bootstrap of the mean AUROC",
        )
        for column in columns:
            table.add_column(column, justify="right" if column in ("#", "seeds") else "left")
        for r in members:
            table.add_row(*(r[c] for c in columns))
        console.print(table)
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


def _blank_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: ("" if v is None else v) for k, v in values.items()}
