"""The ``uadbench`` command line: run, leaderboard, plot, and the lists of methods and data sets.

Heavy libraries (torch, pandas, matplotlib) are imported inside the commands that need them,
so ``uadbench --help`` answers at once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

DEFAULT_METHOD = "ae"
DEFAULT_DATASET = "synthetic"
DEFAULT_RESULTS = Path("results")

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


def _exit(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one clear message and exit status 2."""
    from uadbench.backbones import WeightsNotFoundError
    from uadbench.dataset import DataNotFoundError, SplitTableError
    from uadbench.registry import PluginError, UnknownNameError
    from uadbench.runner import ResultsDirError
    from uadbench.runtime import DeviceError

    try:
        yield
    except (
        UnknownNameError,
        PluginError,
        DataNotFoundError,
        SplitTableError,
        ResultsDirError,
        DeviceError,
        WeightsNotFoundError,
        ValueError,
    ) as error:
        _exit(str(error))


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            _exit(f"{option} wants key=value, got {value!r}")
        pairs[key.strip()] = text.strip()
    return pairs


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` (or a mix) as a list of seeds."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            seeds.extend(range(int(low), int(high) + 1) if dash else [int(part)])
        except ValueError:
            raise ValueError(f"--seeds wants numbers like 0,1,2 or 0-4, got {text!r}") from None
    if not seeds:
        raise ValueError("--seeds is empty; give at least one seed, e.g. --seeds 0,1,2")
    return seeds


@app.command()
def run(
    method: Annotated[
        str, typer.Option(help="Method name (see `uadbench methods`).")
    ] = DEFAULT_METHOD,
    dataset: Annotated[
        str, typer.Option(help="Data set name (see `uadbench datasets`).")
    ] = DEFAULT_DATASET,
    seed: Annotated[int, typer.Option(help="Seed of the run.")] = 0,
    seeds: Annotated[str | None, typer.Option(help="Several seeds: 0,1,2 or 0-4.")] = None,
    profile: Annotated[
        str, typer.Option(help="quick (this CPU) or paper (published recipe).")
    ] = "quick",
    image_size: Annotated[
        int | None, typer.Option(help="Image side in pixels (default: the profile's).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    param: Annotated[
        list[str], typer.Option("--param", help="Hyperparameter override key=value.")
    ] = [],  # noqa: B006
    data_option: Annotated[
        list[str], typer.Option("--data-option", help="Data set option key=value.")
    ] = [],  # noqa: B006
    results_dir: ResultsOption = DEFAULT_RESULTS,
    data_root: DataRootOption = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Prepared-array cache; default $UADBENCH_CACHE_DIR or ~/.cache/uadbench."
        ),
    ] = None,
    plugin: PluginOption = [],  # noqa: B006
    force: Annotated[
        bool, typer.Option(help="Run again even if an identical record exists.")
    ] = False,
    skip_unreadable: Annotated[
        bool, typer.Option(help="Leave out unreadable images (listed in the run record).")
    ] = False,
) -> None:
    """Run a method on a data set for one or more seeds, record it, print the leaderboard."""
    from uadbench import registry
    from uadbench.prepare import default_cache_dir
    from uadbench.progress import RichProgress
    from uadbench.runner import RunRequest, execute, plan

    with _user_errors():
        registry.load_plugins(plugin)
        request = RunRequest(
            method=method,
            dataset=dataset,
            seeds=parse_seeds(seeds) if seeds is not None else [seed],
            profile=profile,
            image_size=image_size,
            params=_pairs(param, "--param"),
            data_options=_pairs(data_option, "--data-option"),
            device=device,
            data_root=data_root,
            results_dir=results_dir,
            skip_unreadable=skip_unreadable,
        )
        runs = plan(request)
    failed = []
    for planned in runs:
        label = f"{planned.config['method']} on {planned.config['dataset']} (seed {planned.seed})"
        outcome = execute(planned, cache_dir or default_cache_dir(), RichProgress(), force=force)
        if outcome.status == "skipped":
            err.print(f"[dim]{label}: already recorded in {outcome.path}; --force runs it again[/]")
        elif outcome.status == "ok":
            auroc = outcome.record["metrics"]["auroc"]
            err.print(f"[green]{label}: AUROC {100 * auroc:.1f}[/] -> {outcome.path}")
        else:
            failed.append(outcome)
            err.print(
                f"[bold red]{label} FAILED:[/] {outcome.record['error']['message']}",
                highlight=False,
            )
            err.print(f"  failure record: {outcome.path}")
    _show_leaderboard(results_dir, "table", {dataset})
    if failed:
        _exit(f"{len(failed)} of {len(runs)} run(s) failed; see the records above", code=1)


@app.command()
def sweep(
    grid_file: Annotated[
        Path | None, typer.Argument(help="TOML or YAML grid file (options below override it).")
    ] = None,
    method: Annotated[list[str], typer.Option("--method", help="Method (repeatable).")] = [],  # noqa: B006
    dataset: Annotated[list[str], typer.Option("--dataset", help="Data set (repeatable).")] = [],  # noqa: B006
    seeds: Annotated[str | None, typer.Option(help="Seeds: 0,1,2 or 0-4.")] = None,
    profile: Annotated[str | None, typer.Option(help="quick or paper.")] = None,
    image_size: Annotated[
        list[int], typer.Option("--image-size", help="Image size (repeatable).")
    ] = [],  # noqa: B006
    param: Annotated[list[str], typer.Option("--param", help="Hyperparameter key=value.")] = [],  # noqa: B006
    data_option: Annotated[
        list[str], typer.Option("--data-option", help="Data set option key=value.")
    ] = [],  # noqa: B006
    results_dir: Annotated[Path | None, typer.Option(help="Folder of run records.")] = None,
    data_root: DataRootOption = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Prepared-array cache.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
    executor: Annotated[str, typer.Option(help="local (one cell after another) or ray.")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Join this Ray cluster (default: start a local instance).")
    ] = None,
    cpus_per_cell: Annotated[float, typer.Option(help="CPUs a Ray cell asks for.")] = 1,
    gpus_per_cell: Annotated[float, typer.Option(help="GPUs a Ray cell asks for.")] = 0,
    plugin: PluginOption = [],  # noqa: B006
) -> None:
    """Run every cell of a grid (methods x data sets x seeds) that has no finished record."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from uadbench.prepare import default_cache_dir
    from uadbench.sweep import Grid, load_grid, run_sweep

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
    }
    with _user_errors():
        if grid_file is not None:
            grid = load_grid(grid_file, **overrides)
        else:
            grid = Grid(**{k: v for k, v in overrides.items() if v is not None})
        if executor not in ("local", "ray"):
            raise ValueError(f"unknown executor {executor!r}; choose local or ray")
        with Progress(
            TextColumn("sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("", total=None)

            def show(status) -> None:
                finished = status.done + status.skipped + len(status.failed)
                bar.update(task, total=status.total, completed=finished, description=status.line())

            status = run_sweep(
                grid,
                cache_dir or default_cache_dir(),
                executor,
                ray_address,
                cpus_per_cell,
                gpus_per_cell,
                show,
            )
    _show_leaderboard(grid.results_dir, "table", set(grid.datasets))
    err.print(status.line())
    for cell, message in status.failed:
        config = cell.config
        err.print(
            f"[bold red]FAILED[/] {config['method']} on {config['dataset']} seed {config['seed']}: "
            f"{message}\n  record: {cell.path}",
            highlight=False,
        )
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
    from uadbench.leaderboard_export import FORMATS

    if format not in FORMATS:
        _exit(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    _show_leaderboard(results_dir, format, set(dataset))


def _show_leaderboard(results_dir: Path, format: str, datasets: set[str]) -> None:
    from uadbench.leaderboard import build_leaderboard
    from uadbench.leaderboard_export import print_table, to_csv, to_json, to_latex, to_markdown
    from uadbench.records import scan_records

    records, unreadable = scan_records(results_dir)
    if datasets:
        records = [r for r in records if r["config"]["dataset"] in datasets]
    board = build_leaderboard(records)
    if format == "table":
        print_table(board, out)
    else:
        writers = {"csv": to_csv, "markdown": to_markdown, "latex": to_latex, "json": to_json}
        sys.stdout.write(writers[format](board))
    if not records and not unreadable:
        err.print(f"no run records under {results_dir / 'runs'}; start one with `uadbench run`")
    if unreadable:
        for bad in unreadable:
            err.print(f"[red]unreadable record[/] {bad.path}: {bad.reason}", highlight=False)
        _exit(f"{len(unreadable)} record file(s) could not be read and were left out", code=1)


@app.command()
def plot(
    results_dir: ResultsOption = DEFAULT_RESULTS,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the figures (default RESULTS/figures).")
    ] = None,
) -> None:
    """Draw ROC curves, the AUROC heat map, score distributions and training curves (PNG, PDF)."""
    from uadbench.leaderboard import build_leaderboard
    from uadbench.plots import plot_all
    from uadbench.records import scan_records

    records, unreadable = scan_records(results_dir)
    board = build_leaderboard(records)
    if not any(r.auroc_mean is not None for r in board.rows):
        _exit(f"no finished runs under {results_dir / 'runs'} to plot; run `uadbench run` first")
    for path in plot_all(board, records, out_dir or results_dir / "figures"):
        out.print(f"wrote {path}")
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
    from uadbench.report import write_report

    with _user_errors():
        written = write_report(results_dir, out_dir or results_dir / "report", title)
    for path in written[:2]:
        out.print(f"wrote {path}")


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
            profiles = ", ".join(f"{p} {v.image_size}px" for p, v in cls.profiles.items())
            origin = registry.methods.origin(name).split(" (")[0]
            table.add_row(name, profiles, origin, cls.describe())
    out.print(table)


@app.command()
def datasets(plugin: PluginOption = [], data_root: DataRootOption = None) -> None:  # noqa: B006
    """List the registered data sets: where each is looked for, found or not, and its counts."""
    from rich.table import Table

    from uadbench import registry
    from uadbench.dataset import validate_split_table

    with _user_errors():
        registry.load_plugins(plugin)
    table = Table(title="Data sets")
    for column in ("name", "status", "split", "train", "val", "test N/A"):
        table.add_column(column, no_wrap=column != "split", overflow="fold")
    notes = []
    for name in registry.datasets.names():
        cls = registry.datasets.get(name)
        dataset = cls.from_settings(data_root)
        where = "generated in memory" if not cls.needs_root else str(dataset.root)
        try:
            dataset.check_present()
            split = validate_split_table(dataset.split_table(), name)
        except Exception as error:  # every data set is listed, whatever is wrong with it
            table.add_row(name, "[red]missing[/]", "", "", "", "")
            notes.append(f"[bold]{name}[/]: {cls.describe()}\n{error}")
            continue
        count = split.groupby(["split", "label"]).size()
        table.add_row(
            name,
            "[green]generated[/]" if not cls.needs_root else "[green]found[/]",
            dataset.split_version,
            str(count.get(("train", 0), 0)),
            str(count.get(("val", 0), 0)),
            f"{count.get(('test', 0), 0)}/{count.get(('test', 1), 0)}",
        )
        notes.append(f"[bold]{name}[/]: {cls.describe()} ({where})")
    out.print(table)
    out.print("test N/A: normal/abnormal test images\n")
    for note in notes:
        out.print(note, highlight=False)


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
    data_option: Annotated[
        list[str], typer.Option("--data-option", help="Data set option key=value.")
    ] = [],  # noqa: B006
    data_root: DataRootOption = None,
    plugin: PluginOption = [],  # noqa: B006
) -> None:
    """Save a grid of prepared images: for test, a row of normals then one of abnormals (by
    finding); for train and val, two rows."""
    from uadbench import lung_mask, registry  # noqa: F401  (lung_mask registers its extra)
    from uadbench.plots import plot_contact_sheet
    from uadbench.prepare import default_cache_dir, prepare
    from uadbench.progress import RichProgress

    with _user_errors():
        registry.load_plugins(plugin)
        data = registry.datasets.get(dataset).from_settings(
            data_root, _pairs(data_option, "--data-option")
        )
        prepared = prepare(data, image_size, default_cache_dir(), RichProgress())
        chosen = prepared.table.iloc[prepared.rows(split)]
        kind = (
            chosen["finding"]
            if "finding" in chosen
            else chosen["label"].map({0: "normal", 1: "abnormal"})
        )
        if split == "test":
            picked = []
            for label in (0, 1):
                group = chosen[chosen["label"] == label]
                # interleave findings so that every kind shows up
                order = group.groupby(kind[group.index]).cumcount().sort_values(kind="stable").index
                picked += list(order[:count])
        else:
            picked = list(chosen.index[: 2 * count])
        positions = [prepared.table.index.get_loc(i) for i in picked]
        masks = None
        if overlay:
            extra = prepared.split(split, extras=[overlay]).extras[overlay]
            where = {row: j for j, row in enumerate(prepared.rows(split))}
            masks = extra[[where[p] for p in positions]]
    titles = [
        str(prepared.table["id"].iat[p]).split("/")[-1][:18] if split != "test" else str(kind[i])
        for p, i in zip(positions, picked, strict=True)
    ]
    path = plot_contact_sheet(prepared.images[positions], titles, out_file, count, masks)
    out.print(f"wrote {path}")


def main() -> None:
    """Entry point of the ``uadbench`` console script."""
    app()
