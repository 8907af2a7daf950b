"""``uadbench leaderboard``, ``plot`` and ``report``: outputs made from the run records.

One policy for record files that cannot be read, in every command that reads records: the
output is made from the readable ones and each unreadable file is named; a command whose
product is that output then exits 1 (``RecordSet.left_out``), while ``run`` and ``sweep``,
whose product is their runs, exit as their runs did.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from uadbench.cli.common import (
    DEFAULT_RESULTS,
    ResultsOption,
    err,
    fail,
    say,
    user_errors,
    wrote,
)
from uadbench.cli.common import out as stdout

if TYPE_CHECKING:
    from uadbench.outputs.leaderboard import Leaderboard
    from uadbench.running.records import RecordSet


def leaderboard(
    results_dir: ResultsOption = DEFAULT_RESULTS,
    format: Annotated[
        str, typer.Option("--format", help="table, csv, markdown, latex or json.")
    ] = "table",
    dataset: Annotated[list[str], typer.Option("--dataset", help="Only these data sets.")] = [],  # noqa: B006
) -> None:
    """Summarise the run records: one row per configuration, mean ± std over seeds."""
    from uadbench.outputs.exports import FORMATS

    if format not in FORMATS:
        fail(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    found = show_leaderboard(results_dir, format, set(dataset))
    left_out(found)


def show_leaderboard(results_dir: Path, format: str, datasets: set[str]) -> RecordSet:
    """Print the board of the records of ``datasets`` (all when empty) and name every record
    file that could not be read; the records read."""
    from uadbench.outputs.exports import WRITERS, print_table
    from uadbench.outputs.leaderboard import build_leaderboard
    from uadbench.running.records import scan_records

    found = scan_records(results_dir)
    shown = found.only(datasets).records
    with user_errors():
        board = build_leaderboard(shown)
    if format == "table":
        print_table(board, stdout)
    else:
        sys.stdout.write(WRITERS[format](board))
    if not shown and not found.unreadable:
        of = f" of {', '.join(sorted(datasets))}" if datasets else ""
        err.print(
            f"no run records{of} under {results_dir / 'runs'}; start one with `uadbench run`",
            markup=False,
        )
    return found


def left_out(found: RecordSet, strict: bool = True) -> None:
    """Name every record file that could not be read; then (``strict``) exit 1 if there was
    one."""
    for bad in found.unreadable:
        say("red", "unreadable record ", f"{bad.path}: {bad.reason}")
    if strict:
        with user_errors(code=1):
            found.left_out()


def plot(
    results_dir: ResultsOption = DEFAULT_RESULTS,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the figures (default RESULTS/figures).")
    ] = None,
) -> None:
    """Draw ROC curves, the AUROC heat map, score distributions and training curves (PNG, PDF)."""
    from uadbench.outputs.plots import output_folder, plot_all

    with user_errors():
        target = output_folder(out_dir or results_dir / "figures")
        found, board = _finished_board(results_dir, "to plot")
        for path in plot_all(board, found.records, target):
            wrote(path)
    left_out(found)


def _finished_board(results_dir: Path, purpose: str) -> tuple[RecordSet, Leaderboard]:
    """The records under ``results_dir`` and their board; exit 2 saying so when no run has
    finished."""
    from uadbench.outputs.leaderboard import build_leaderboard
    from uadbench.running.records import scan_records

    found = scan_records(results_dir)
    board = build_leaderboard(found.records)
    if not any(r.auroc_mean is not None for r in board.rows):
        hint = f"start one with `uadbench run`{found.note()}"
        fail(f"no finished runs under {results_dir / 'runs'} {purpose}; {hint}")
    return found, board


def show(
    run: Annotated[str, typer.Argument(help="A record file, or method/dataset/seed.")],
    results_dir: ResultsOption = DEFAULT_RESULTS,
) -> None:
    """Print one run: status, settings, metrics, warnings, timings, machine, and the command
    that reproduces it."""
    from rich.text import Text

    from uadbench.outputs.run_summary import find_run, summary
    from uadbench.running.reproduce import dataset_defaults

    with user_errors():
        record = find_run(run, results_dir)
        defaults = dataset_defaults(record.config.dataset)
    for label, text in summary(record, defaults):
        stdout.print(Text.assemble((f"{label:>12}: ", "bold"), text), soft_wrap=True)


def export(
    target: Annotated[str, typer.Argument(help="Where to: mlflow.")],
    results_dir: ResultsOption = DEFAULT_RESULTS,
    tracking_uri: Annotated[
        str, typer.Option(help="MLflow tracking URI, or a folder for its file store.")
    ] = "./mlruns",
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "uadbench",
) -> None:
    """Export every run record to MLflow (parameters, metrics, scores as an artifact)."""
    from uadbench.outputs.mlflow_export import export_records
    from uadbench.running.records import scan_records

    if target != "mlflow":
        fail(f"unknown export target {target!r}; the one there is: mlflow")
    with user_errors():
        found = scan_records(results_dir)
        done = export_records(found.records, tracking_uri, experiment)
    say("green", "exported ", f"{len(done.made)} run(s) to {tracking_uri} (experiment "
        f"{experiment}); {done.already} were there already")  # fmt: skip
    left_out(found)


def board(
    results_dir: ResultsOption = DEFAULT_RESULTS,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the page (default RESULTS/board).")
    ] = None,
    title: Annotated[str, typer.Option(help="Title of the page.")] = "uadbench leaderboard",
) -> None:
    """Write the leaderboard as one self-contained web page (OUT/index.html): a sortable,
    filterable table; click a row for its figures, settings and command."""
    from uadbench.outputs.web_board import write_board

    with user_errors():
        found, board = _finished_board(results_dir, "for a board")
        wrote(write_board(board, out_dir or results_dir / "board", title, str(results_dir)))
    left_out(found)


def report(
    results_dir: ResultsOption = DEFAULT_RESULTS,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the report (default RESULTS/report).")
    ] = None,
    title: Annotated[str, typer.Option(help="Title of the report.")] = "uadbench report",
) -> None:
    """Write a Markdown and HTML report: leaderboard, figures, protocol and the run list."""
    from uadbench.outputs.report import write_report
    from uadbench.running.records import scan_records

    with user_errors():
        found = scan_records(results_dir)
        written = write_report(results_dir, found, out_dir or results_dir / "report", title)
    for path in written[:2]:
        wrote(path)
    left_out(found)
