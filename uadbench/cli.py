"""The ``uadbench`` command line: run, sweep, leaderboard, plot, report, and the lists of methods
and data sets.

Option parsing and printing only; the work is in the library. A user's mistake (any
``uadbench.errors.UserError``) is printed as one line starting ``error:`` and exits 2 when no
work was started; a run or cell that failed exits 1 and keeps its failure record; Ctrl-C exits
130. Anything else is a bug and shows its traceback. Heavy libraries (torch, pandas,
matplotlib) are imported inside the commands that need them, so ``uadbench --help`` answers at
once.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from uadbench.errors import UserError, one_line

DEFAULT_METHOD = "ae"
DEFAULT_DATASET = "synthetic"
DEFAULT_RESULTS = Path("results")
INTERRUPTED = 130

app = typer.Typer(
    help="Benchmark unsupervised anomaly detection in chest radiographs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

PluginOption = Annotated[
    list[str],
    typer.Option(
        "--plugin", help="A .py file or module defining Method/Dataset classes (repeatable)."
    ),
]
ResultsOption = Annotated[
    Path, typer.Option("--results-dir", help="Folder of run records (records go in runs/).")
]
DataRootOption = Annotated[
    Path | None,
    typer.Option(
        "--data-root",
        help="Folder holding one folder per data set (or a data set's own root); "
        "default $UADBENCH_DATA_ROOT or ~/uadbench-data.",
    ),
]
CacheOption = Annotated[
    Path | None,
    typer.Option(help="Prepared-array cache; default $UADBENCH_CACHE_DIR or ~/.cache/uadbench."),
]
SeedsOption = Annotated[str | None, typer.Option(help="Several seeds: 0,1,2 or 0-4.")]
ParamOption = Annotated[
    list[str], typer.Option("--param", help="Hyperparameter override key=value (repeatable).")
]
DataOptionOption = Annotated[
    list[str], typer.Option("--data-option", help="Data set option key=value (repeatable).")
]
SkipOption = Annotated[
    bool, typer.Option(help="Leave out unreadable images (listed in the run record).")
]


def _say(style: str, prefix: str, message: str) -> None:
    """One line on stderr: ``prefix`` styled, ``message`` as plain text (never markup)."""
    err.print(Text.assemble((prefix, style), one_line(message)), soft_wrap=True, highlight=False)


def _exit(message: str, code: int = 2) -> NoReturn:
    _say("bold red", "error: ", message)
    raise typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    """A ``UserError`` becomes its one-line message and exit status 2; Ctrl-C exits 130."""
    try:
        yield
    except UserError as error:
        _exit(str(error))
    except KeyboardInterrupt:
        _exit("interrupted (Ctrl-C); finished records are kept", INTERRUPTED)


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    """SIGTERM stops the command as an exit does, so a run's record says it was stopped."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    from uadbench.errors import ParameterError

    pairs = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"{option} wants key=value, got {value!r}")
        pairs[key.strip()] = text.strip()
    return pairs


@app.command()
def run(
    method: Annotated[
        str, typer.Option(help="Method name (see `uadbench methods`).")
    ] = DEFAULT_METHOD,
    dataset: Annotated[
        str, typer.Option(help="Data set name (see `uadbench datasets`).")
    ] = DEFAULT_DATASET,
    seed: Annotated[int | None, typer.Option(help="Seed of the run (default 0).")] = None,
    seeds: SeedsOption = None,
    profile: Annotated[
        str, typer.Option(help="quick (this CPU) or paper (published recipe).")
    ] = "quick",
    image_size: Annotated[
        int | None, typer.Option(help="Image side in pixels (default: the profile's).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    param: ParamOption = [],  # noqa: B006
    data_option: DataOptionOption = [],  # noqa: B006
    results_dir: ResultsOption = DEFAULT_RESULTS,
    data_root: DataRootOption = None,
    cache_dir: CacheOption = None,
    plugin: PluginOption = [],  # noqa: B006
    force: Annotated[
        bool, typer.Option(help="Run again even if an identical record exists.")
    ] = False,
    skip_unreadable: SkipOption = False,
) -> None:
    """Run a method on a data set for one or more seeds, record it, print the leaderboard."""
    from uadbench import registry
    from uadbench.contracts.progress import RichProgress
    from uadbench.data.prepare import default_cache_dir
    from uadbench.errors import ParameterError
    from uadbench.running.runner import RunRequest, execute, parse_seeds, plan

    cache = cache_dir or default_cache_dir()
    with _user_errors():
        if seed is not None and seeds is not None:
            raise ParameterError("give --seed or --seeds, not both (--seeds 0,1,2 takes a list)")
        registry.load_plugins(plugin)
        request = RunRequest(
            method=method,
            dataset=dataset,
            seeds=parse_seeds(seeds) if seeds is not None else [0 if seed is None else seed],
            profile=profile,
            image_size=image_size,
            params=_pairs(param, "--param"),
            data_options=_pairs(data_option, "--data-option"),
            device=device,
            data_root=data_root,
            results_dir=results_dir,
            skip_unreadable=skip_unreadable,
        )
        runs = plan(request, cache)
    not_done, warned = [], []
    with _user_errors(), _sigterm_stops():
        for planned in runs:
            outcome = execute(planned, cache, RichProgress(), force=force)
            if outcome.status == "skipped":
                err.print(
                    Text(
                        f"{planned.label}: already recorded in {outcome.path}; --force runs it "
                        "again",
                        style="dim",
                    ),
                    soft_wrap=True,
                )
            elif outcome.status == "ok":
                auroc = outcome.record["metrics"]["auroc"]
                _say("green", f"{planned.label}: AUROC {100 * auroc:.1f} -> ", str(outcome.path))
            else:
                not_done.append(outcome)
                _say("bold red", f"{planned.label} {outcome.status.upper()}: ", outcome.message)
                if outcome.status == "failed":
                    err.print(f"  failure record: {outcome.path}", highlight=False, markup=False)
            if outcome.status in ("ok", "skipped"):
                warned += [(planned.label, w) for w in outcome.record.get("warnings", [])]
    _show_leaderboard(results_dir, "table", {dataset}, strict=False)
    for label, warning in warned:
        _say("bold yellow", f"warning: {label}: ", warning)
    if not_done:
        _exit(f"{len(not_done)} of {len(runs)} run(s) did not finish; see above", code=1)


@app.command()
def sweep(
    grid_file: Annotated[
        Path | None, typer.Argument(help="TOML or YAML grid file (options below override it).")
    ] = None,
    method: Annotated[list[str], typer.Option("--method", help="Method (repeatable).")] = [],  # noqa: B006
    dataset: Annotated[list[str], typer.Option("--dataset", help="Data set (repeatable).")] = [],  # noqa: B006
    seeds: SeedsOption = None,
    profile: Annotated[str | None, typer.Option(help="quick or paper.")] = None,
    image_size: Annotated[
        list[int], typer.Option("--image-size", help="Image size (repeatable).")
    ] = [],  # noqa: B006
    param: ParamOption = [],  # noqa: B006
    data_option: DataOptionOption = [],  # noqa: B006
    results_dir: Annotated[Path | None, typer.Option(help="Folder of run records.")] = None,
    data_root: DataRootOption = None,
    cache_dir: CacheOption = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
    executor: Annotated[str, typer.Option(help="local (one cell after another) or ray.")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Join this Ray cluster (default: start a local instance).")
    ] = None,
    cpus_per_cell: Annotated[float, typer.Option(help="CPUs a Ray cell asks for.")] = 1,
    gpus_per_cell: Annotated[float, typer.Option(help="GPUs a Ray cell asks for.")] = 0,
    plugin: PluginOption = [],  # noqa: B006
    skip_unreadable: SkipOption = False,
) -> None:
    """Run every cell of a grid (methods x data sets x seeds) that has no finished record."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from uadbench.data.prepare import default_cache_dir
    from uadbench.running.executors import executor_named
    from uadbench.running.runner import parse_seeds
    from uadbench.running.sweep import Grid, GridError, load_grid, run_sweep

    with _user_errors():
        overrides = {
            "methods": method or None,
            "datasets": dataset or None,
            "seeds": parse_seeds(seeds) if seeds else None,
            "profile": profile,
            "image_sizes": image_size or None,
            "params": _pairs(param, "--param") or None,
            "data_options": _pairs(data_option, "--data-option") or None,
            "results_dir": results_dir,
            "data_root": data_root,
            "device": device,
            "plugins": plugin or None,
            "skip_unreadable": skip_unreadable or None,
        }
        cells_run_on = executor_named(
            executor,
            address=ray_address,
            cpus_per_cell=cpus_per_cell,
            gpus_per_cell=gpus_per_cell,
        )
        if grid_file is not None:
            grid = load_grid(grid_file, **overrides)
        elif method and dataset:
            grid = Grid(**{k: v for k, v in overrides.items() if v is not None})
        else:
            raise GridError(
                "give a grid file (uadbench sweep grid.toml) or at least one --method and one "
                "--dataset"
            )
    with (
        _user_errors(),
        _sigterm_stops(),
        Progress(
            TextColumn("sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
        ) as bar,
    ):
        task = bar.add_task("", total=None)

        def show(status) -> None:
            finished = status.done + status.skipped + len(status.failed)
            bar.update(task, total=status.total, completed=finished, description=status.line())

        status = run_sweep(grid, cache_dir or default_cache_dir(), cells_run_on, show)
    _show_leaderboard(grid.results_dir, "table", set(grid.datasets), strict=False)
    err.print(status.line(), highlight=False, markup=False)
    for cell, message in status.failed:
        _say("bold red", f"FAILED {cell.label}: ", f"{message} (record: {cell.path})")
    if status.failed:
        _exit(f"{len(status.failed)} of {status.total} cell(s) failed", code=1)


@app.command()
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
        _exit(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    _show_leaderboard(results_dir, format, set(dataset))


def _show_leaderboard(
    results_dir: Path, format: str, datasets: set[str], strict: bool = True
) -> None:
    """Print the board; unreadable record files are named, and (``strict``) exit 1."""
    from uadbench.outputs.exports import WRITERS, print_table
    from uadbench.outputs.leaderboard import build_leaderboard
    from uadbench.running.records import scan_records

    records, unreadable = scan_records(results_dir)
    if datasets:
        records = [r for r in records if r["config"]["dataset"] in datasets]
    with _user_errors():
        board = build_leaderboard(records)
    if format == "table":
        print_table(board, out)
    else:
        sys.stdout.write(WRITERS[format](board))
    if not records and not unreadable:
        err.print(
            f"no run records under {results_dir / 'runs'}; start one with `uadbench run`",
            markup=False,
        )
    for bad in unreadable:
        _say("red", "unreadable record ", f"{bad.path}: {bad.reason}")
    if unreadable and strict:
        _exit(f"{len(unreadable)} record file(s) could not be read and were left out", code=1)


@app.command()
def plot(
    results_dir: ResultsOption = DEFAULT_RESULTS,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the figures (default RESULTS/figures).")
    ] = None,
) -> None:
    """Draw ROC curves, the AUROC heat map, score distributions and training curves (PNG, PDF)."""
    from uadbench.outputs.leaderboard import build_leaderboard
    from uadbench.outputs.plots import output_folder, plot_all
    from uadbench.running.records import scan_records

    with _user_errors():
        target = output_folder(out_dir or results_dir / "figures")
        records, unreadable = scan_records(results_dir)
        board = build_leaderboard(records)
        if not any(r.auroc_mean is not None for r in board.rows):
            runs = results_dir / "runs"
            _exit(f"no finished runs under {runs} to plot; start one with `uadbench run`")
        for path in plot_all(board, records, target):
            out.print(f"wrote {path}", markup=False, highlight=False)
    if unreadable:
        _exit(
            f"{len(unreadable)} unreadable record file(s) were left out, e.g. {unreadable[0].path}",
            1,
        )


@app.command()
def report(
    results_dir: ResultsOption = DEFAULT_RESULTS,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the report (default RESULTS/report).")
    ] = None,
    title: Annotated[str, typer.Option(help="Title of the report.")] = "uadbench report",
) -> None:
    """Write a Markdown and HTML report: leaderboard, figures, protocol and the run list."""
    from uadbench.outputs.report import write_report

    with _user_errors():
        written = write_report(results_dir, out_dir or results_dir / "report", title)
    for path in written[:2]:
        out.print(f"wrote {path}", markup=False, highlight=False)


@app.command()
def methods(plugin: PluginOption = []) -> None:  # noqa: B006
    """List the registered methods."""
    from rich.table import Table

    from uadbench import registry

    with _user_errors():
        registry.load_plugins(plugin)
        table = Table(title="Methods")
        for column in ("name", "profiles", "from", "description"):
            table.add_column(column, overflow="fold", no_wrap=column == "name")
        for name in registry.methods.names():
            cls = registry.methods.get(name)
            profiles = ", ".join(f"{p} {v.image_size}px" for p, v in cls.profile_table().items())
            origin = registry.methods.origin(name).split(" (")[0]
            table.add_row(name, profiles, origin, Text(cls.describe()))
    out.print(table)


@app.command()
def datasets(
    names: Annotated[
        list[str] | None, typer.Argument(help="Only these data sets, with how to get them.")
    ] = None,
    plugin: PluginOption = [],  # noqa: B006
    data_root: DataRootOption = None,
) -> None:
    """List the data sets: found (every file of the split), incomplete, missing, not recognised
    or refused, with their counts."""
    from rich.table import Table

    from uadbench import registry
    from uadbench.data.availability import check_availability

    with _user_errors():
        registry.load_plugins(plugin)
        chosen = names or registry.datasets.names()
        classes = {name: registry.datasets.get(name) for name in chosen}
        table = Table(title="Data sets")
        for column in ("name", "status", "split", "train", "val", "test N/A"):
            table.add_column(column, no_wrap=column in ("name", "train", "val"), overflow="fold")
        notes = []
        for name, cls in classes.items():
            dataset = cls.from_settings(data_root)
            found = check_availability(dataset)
            counts = found.counts
            table.add_row(
                name,
                Text(found.state, style="green" if found.usable else "red"),
                dataset.split_version if counts else "",
                str(counts.get("train", "")),
                str(counts.get("val", "")),
                f"{counts['test normal']}/{counts['test abnormal']}" if counts else "",
            )
            where = "generated in memory" if not cls.needs_root else str(dataset.root)
            notes.append(Text.assemble((name, "bold"), f": {cls.describe()} ({where})"))
            if found.reason:
                notes.append(Text(f"  {found.reason}", style="red"))
            if names and not found.usable and cls.needs_root:
                notes.append(Text(dataset.missing_message()))
    out.print(table)
    out.print("test N/A: normal/abnormal test images\n", markup=False)
    for note in notes:
        out.print(note, highlight=False)
    if not names and any(line.style == "red" for line in notes):
        out.print("`uadbench datasets NAME` says where to get a data set and how to lay it out.")


@app.command("contact-sheet")
def contact_sheet(
    out_file: Annotated[Path, typer.Option("--out", help="PNG file to write.")],
    dataset: Annotated[str, typer.Option(help="Data set name.")] = DEFAULT_DATASET,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    image_size: Annotated[int, typer.Option(min=8, help="Image side in pixels.")] = 128,
    count: Annotated[int, typer.Option(min=1, help="Images per row.")] = 8,
    overlay: Annotated[
        str | None, typer.Option(help="A per-image extra to draw over the images, e.g. lung_mask.")
    ] = None,
    data_option: DataOptionOption = [],  # noqa: B006
    data_root: DataRootOption = None,
    cache_dir: CacheOption = None,
    plugin: PluginOption = [],  # noqa: B006
) -> None:
    """Save a grid of prepared images: for test, a row of normals then one of abnormals (by
    finding); for train and val, two rows."""
    from uadbench import registry
    from uadbench.contracts.progress import RichProgress
    from uadbench.data.prepare import default_cache_dir, prepare
    from uadbench.errors import OutputPathError
    from uadbench.outputs.contact_sheet import pick
    from uadbench.outputs.plots import plot_contact_sheet

    with _user_errors():
        if out_file.is_dir():
            raise OutputPathError(f"{out_file} is a folder; give --out a .png file to write")
        registry.load_plugins(plugin)
        data = registry.datasets.get(dataset).from_settings(
            data_root, _pairs(data_option, "--data-option")
        )
        prepared = prepare(data, image_size, cache_dir or default_cache_dir(), RichProgress())
        sheet = pick(prepared, split, count, overlay)
        path = plot_contact_sheet(sheet.images, sheet.titles, out_file, count, sheet.masks)
    out.print(f"wrote {path}", markup=False, highlight=False)


def main() -> None:
    """Entry point of the ``uadbench`` console script."""
    app()
