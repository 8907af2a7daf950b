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
    FLAG,
    Format,
    ResultsDirsOption,
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
    from uadbench.running.record_store import RecordSet


def leaderboard(
    results_dir: ResultsDirsOption = [DEFAULT_RESULTS],  # noqa: B006
    format: Annotated[Format, typer.Option("--format", help="How to write the board.")] = (
        Format.table  # type: ignore[attr-defined]  # a member made from the formats' table
    ),
    dataset: Annotated[list[str], typer.Option("--dataset", help="Only these data sets.")] = [],  # noqa: B006
    across_datasets: Annotated[
        bool,
        typer.Option(
            "--across-datasets",
            help="Rank the methods over the data sets instead: mean rank, Friedman, Nemenyi.",
            metavar=FLAG,
        ),
    ] = False,
) -> None:
    """Summarise the run records: one row per configuration, mean ± std over seeds (or, with
    --across-datasets, every method's rank on each data set)."""
    if across_datasets:
        found = _show_across_datasets(results_dir, format.value, set(dataset))
    else:
        found = show_leaderboard(results_dir, format.value, set(dataset))
    left_out(found)


def show_leaderboard(results_dirs: list[Path], format: str, datasets: set[str]) -> RecordSet:
    """Print the board of the records of ``datasets`` (all when empty) and name every record
    file that could not be read; the records read."""
    from uadbench.outputs.exports import WRITERS, print_table
    from uadbench.outputs.leaderboard import build_leaderboard
    from uadbench.running.record_store import scan_folders

    found = scan_folders(results_dirs)
    shown = found.only(datasets)
    with user_errors():
        board = build_leaderboard(shown.records, found.memo)
    if format == "table":
        print_table(board, stdout)
    else:
        sys.stdout.write(WRITERS[format](board))
    if not shown.records and not found.unreadable:
        of = f" of {', '.join(sorted(datasets))}" if datasets else ""
        err.print(
            f"no run records{of} under {_runs_folders(results_dirs)}; start one with "
            "`uadbench run`",
            markup=False,
        )
    return found


def _show_across_datasets(results_dirs: list[Path], format: str, datasets: set[str]) -> RecordSet:
    """Print the ranks of the methods over the data sets of the records."""
    from uadbench.outputs import across_datasets as across
    from uadbench.outputs.leaderboard import build_leaderboard
    from uadbench.running.record_store import scan_folders

    found = scan_folders(results_dirs)
    with user_errors():
        summary = across.across_datasets(
            build_leaderboard(found.only(datasets).records, found.memo)
        )
        if summary is None:
            fail(
                f"the records under {_runs_folders(results_dirs)} hold fewer than two sets of "
                "test images: nothing to rank across; give more --results-dir folders"
            )
    if format == "table":
        across.print_summary(summary, stdout)
    else:
        sys.stdout.write(across.WRITERS[format](summary))
    return found


def _runs_folders(results_dirs: list[Path]) -> str:
    return ", ".join(str(Path(d) / "runs") for d in results_dirs)


def left_out(found: RecordSet, strict: bool = True) -> None:
    """Name every record file that could not be read; then (``strict``) exit 1 if there was
    one."""
    for bad in found.unreadable:
        say("red", "unreadable record ", f"{bad.path}: {bad.reason}")
    if strict:
        with user_errors(code=1):
            found.left_out()


def plot(
    results_dir: ResultsDirsOption = [DEFAULT_RESULTS],  # noqa: B006
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the figures (default: the first RESULTS/figures)."),
    ] = None,
) -> None:
    """Draw ROC curves, the AUROC heat map, score distributions, training curves, the cost view
    and, over several data sets, the critical-difference diagram (PNG, PDF)."""
    from uadbench.outputs.figures import plot_all
    from uadbench.outputs.plots import output_folder

    with user_errors():
        target = output_folder(out_dir or results_dir[0] / "figures")
        found, board = _finished_board(results_dir, "to plot")
        drawn = plot_all(board, found.records, target)
        for path in drawn.files:
            if path in drawn.kept:
                stdout.print(f"kept {path} (nothing that drew it changed)", markup=False)
            else:
                wrote(path)
    left_out(found)


def _finished_board(results_dirs: list[Path], purpose: str) -> tuple[RecordSet, Leaderboard]:
    """The records under ``results_dirs`` and their board; exit 2 saying so when no run has
    finished."""
    from uadbench.outputs.leaderboard import build_leaderboard
    from uadbench.running.record_store import scan_folders

    found = scan_folders(results_dirs)
    board = build_leaderboard(found.records, found.memo)
    if not any(r.auroc_mean is not None for r in board.rows):
        hint = f"start one with `uadbench run`{found.note()}"
        fail(f"no finished runs under {_runs_folders(results_dirs)} {purpose}; {hint}")
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
        str,
        typer.Option(
            help="MLflow store: sqlite:///FILE.db, http(s)://SERVER, or a folder or file:// "
            "URI for its file store."
        ),
    ] = "sqlite:///mlflow.db",
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "uadbench",
) -> None:
    """Export the run records to MLflow, one live run per cell (parameters, metrics, training
    curves, scores as an artifact)."""
    from uadbench.outputs.mlflow_export import export_records, viewer
    from uadbench.running.record_store import scan_records

    if target != "mlflow":
        fail(f"unknown export target {target!r}; the one there is: mlflow")
    with user_errors():
        found = scan_records(results_dir)
        done = export_records(found.records, tracking_uri, experiment)
    say(
        "green",
        "exported ",
        f"{len(done.made)} run(s) to {done.uri} (experiment {experiment}); {done.already} were "
        f"there already; {done.superseded} superseded run(s) deleted",
    )
    say("green", "view ", viewer(done.uri))
    left_out(found)


def board(
    results_dir: ResultsDirsOption = [DEFAULT_RESULTS],  # noqa: B006
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the page (default: the first RESULTS/board)."),
    ] = None,
    title: Annotated[str, typer.Option(help="Title of the page.")] = "uadbench leaderboard",
) -> None:
    """Write the leaderboard as one self-contained web page (OUT/index.html): a sortable,
    filterable table; click a row for its figures, settings and command."""
    from uadbench.outputs.web_board import write_board

    with user_errors():
        found, board = _finished_board(results_dir, "for a board")
        source = ", ".join(map(str, dict.fromkeys(results_dir)))
        wrote(write_board(board, out_dir or results_dir[0] / "board", title, source))
    left_out(found)


def report(
    results_dir: ResultsDirsOption = [DEFAULT_RESULTS],  # noqa: B006
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the report (default: the first RESULTS/report)."),
    ] = None,
    title: Annotated[str, typer.Option(help="Title of the report.")] = "uadbench report",
) -> None:
    """Write a Markdown and HTML report: leaderboard, figures, protocol and the run list."""
    from uadbench.outputs.report import write_report
    from uadbench.running.record_store import scan_folders

    with user_errors():
        found = scan_folders(results_dir)
        written = write_report(results_dir, found, out_dir or results_dir[0] / "report", title)
    for path in written[:2]:
        wrote(path)
    left_out(found)
