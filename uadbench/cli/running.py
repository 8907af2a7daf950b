"""``uadbench run`` and ``uadbench sweep``: plan, execute, print what became of each run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from uadbench.cli.boards import left_out, show_leaderboard
from uadbench.cli.common import (
    DEFAULT_DATASET,
    DEFAULT_METHOD,
    DEFAULT_RESULTS,
    FLAG,
    CacheOption,
    DataOptionOption,
    DataRootOption,
    DeviceOption,
    ParamOption,
    PluginOption,
    ResultsOption,
    SeedsOption,
    SkipOption,
    choices,
    err,
    fail,
    out,
    profile_names,
    say,
    sigterm_stops,
    user_errors,
)
from uadbench.running.executors import EXECUTORS, executor_named

ExecutorName = choices("ExecutorName", tuple(EXECUTORS))
"""The executors' names (``uadbench.running.executors.EXECUTORS``)."""

if TYPE_CHECKING:
    from uadbench.running.grid import Grid
    from uadbench.running.planning import PlannedRun, RunRequest
    from uadbench.running.runner import Outcome
    from uadbench.running.sweep import SweepStatus


def run(
    ctx: typer.Context,
    method: Annotated[
        str, typer.Option(help="Method name (see `uadbench methods`).")
    ] = DEFAULT_METHOD,
    dataset: Annotated[
        str, typer.Option(help="Data set name (see `uadbench datasets`).")
    ] = DEFAULT_DATASET,
    seed: Annotated[
        str | None, typer.Option(help="Seed of the run (default 0); --seeds for several.")
    ] = None,
    seeds: SeedsOption = None,
    profile: Annotated[
        str,
        typer.Option(
            help="quick (this CPU) or paper (published recipe); a plugin may add its own "
            "(uadbench methods NAME lists them).",
            autocompletion=profile_names,
        ),
    ] = "quick",
    image_size: Annotated[
        int | None, typer.Option(help="Image side in pixels (default: the profile's).")
    ] = None,
    device: DeviceOption = "auto",
    param: ParamOption = [],  # noqa: B006
    data_option: DataOptionOption = [],  # noqa: B006
    results_dir: ResultsOption = DEFAULT_RESULTS,
    data_root: DataRootOption = None,
    cache_dir: CacheOption = None,
    plugin: PluginOption = [],  # noqa: B006
    force: Annotated[
        bool, typer.Option("--force", help="Run again over a finished record.", metavar=FLAG)
    ] = False,
    skip_unreadable: SkipOption = False,
    config: Annotated[
        Path | None,
        typer.Option(help="A TOML or YAML run file (a sweep cell's keys); options override it."),
    ] = None,
) -> None:
    """Run a method on a data set for one or more seeds, record it, print the leaderboard."""
    from uadbench import registry
    from uadbench.data.prepare import default_cache_dir
    from uadbench.running.planning import plan

    cache = cache_dir or default_cache_dir()
    with user_errors():
        request = _request(ctx)
        registry.load_plugins(plugin)
        runs = plan(request, cache)
    with user_errors(), sigterm_stops():
        outcomes = [_execute(planned, cache, force) for planned in runs]
    left_out(show_leaderboard([request.results_dir], "table", {request.dataset}), strict=False)
    ended = zip(runs, outcomes, strict=True)
    finished = [(p, o) for p, o in ended if o.status in ("ok", "skipped")]
    for label, warning in [(p.label, w) for p, o in finished for w in o.record.warnings]:
        say("bold yellow", f"warning: {label}: ", warning)
    if len(finished) < len(runs):
        fail(f"{len(runs) - len(finished)} of {len(runs)} run(s) did not finish; see above", code=1)


def _request(ctx: typer.Context) -> RunRequest:
    """The request of ``run``'s options, or of its ``--config`` file with the options given
    on the command line in place of the file's values."""
    from uadbench.running.grid import load_run_file
    from uadbench.running.planning import RunRequest, chosen_seeds, parse_pairs

    o = ctx.params
    seeds = chosen_seeds(o["seed"], o["seeds"])
    params = parse_pairs(o["param"], "--param")
    options = parse_pairs(o["data_option"], "--data-option")
    if o["config"] is None:
        return RunRequest(
            o["method"], o["dataset"], seeds, o["profile"], o["image_size"], params, options,
            o["device"], o["data_root"], o["results_dir"], o["skip_unreadable"],
        )  # fmt: skip
    given = {k for k in o if ctx.get_parameter_source(k).name == "COMMANDLINE"}
    overrides = {
        "methods": [o["method"]] if "method" in given else None,
        "datasets": [o["dataset"]] if "dataset" in given else None,
        "seeds": seeds if {"seed", "seeds"} & given else None,
        "profile": o["profile"] if "profile" in given else None,
        "image_sizes": [o["image_size"]] if "image_size" in given else None,
        "params": params or None,
        "data_options": options or None,
        **{k: o[k] for k in ("device", "data_root", "results_dir") if k in given},
        "skip_unreadable": True if "skip_unreadable" in given else None,
    }
    return load_run_file(o["config"], **overrides)


def _execute(planned: PlannedRun, cache: Path, force: bool) -> Outcome:
    """Execute one run and say what became of it."""
    from uadbench.contracts.progress import RichProgress
    from uadbench.running.runner import execute

    outcome = execute(planned, cache, RichProgress(), force=force)
    _tell(planned, outcome)
    return outcome


def _tell(planned: PlannedRun, outcome: Outcome) -> None:
    """One line on what became of a run."""
    if outcome.status == "skipped":
        line = f"{planned.label}: already recorded in {outcome.path}; --force runs it again"
        err.print(Text(line, style="dim"), soft_wrap=True)
    elif outcome.status == "ok":
        auroc = outcome.record.metrics["auroc"]
        say("green", f"{planned.label}: AUROC {100 * auroc:.1f} -> ", str(outcome.path))
    else:
        say("bold red", f"{planned.label} {outcome.status.upper()}: ", outcome.message)
        if outcome.status == "failed":
            err.print(f"  failure record: {outcome.path}", highlight=False, markup=False)


def sweep(
    grid_file: Annotated[
        Path | None, typer.Argument(help="TOML or YAML grid file (options below override it).")
    ] = None,
    method: Annotated[list[str], typer.Option("--method", help="Method (repeatable).")] = [],  # noqa: B006
    dataset: Annotated[list[str], typer.Option("--dataset", help="Data set (repeatable).")] = [],  # noqa: B006
    seeds: SeedsOption = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="quick (this CPU) or paper (published recipe) for every method of the grid.",
            autocompletion=profile_names,
        ),
    ] = None,
    image_size: Annotated[
        list[int], typer.Option("--image-size", help="Image size (repeatable).")
    ] = [],  # noqa: B006
    param: ParamOption = [],  # noqa: B006
    data_option: DataOptionOption = [],  # noqa: B006
    results_dir: Annotated[Path | None, typer.Option(help="Folder of run records.")] = None,
    data_root: DataRootOption = None,
    cache_dir: CacheOption = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
    executor: Annotated[
        ExecutorName,
        typer.Option(help="Where cells run: local (one after another), ray or slurm."),
    ] = ExecutorName.local,
    ray_address: Annotated[
        str | None, typer.Option(help="Join this Ray cluster (default: start a local instance).")
    ] = None,
    cpus_per_cell: Annotated[
        float, typer.Option(help="CPUs a Ray cell or a SLURM task asks for.")
    ] = 1,
    gpus_per_cell: Annotated[float, typer.Option(help="GPUs a Ray cell asks for.")] = 0,
    slurm_partition: Annotated[
        str | None, typer.Option(help="SLURM partition of the tasks (default: the cluster's).")
    ] = None,
    slurm_time: Annotated[
        str | None,
        typer.Option(help="Time limit of a SLURM task: minutes or D-HH:MM:SS (default 60)."),
    ] = None,
    slurm_gpus: Annotated[
        int | None,
        typer.Option(help="GPUs of a SLURM task (default: 1 with --device cuda, else 0)."),
    ] = None,
    slurm_mem: Annotated[
        str | None, typer.Option(help="Memory of a SLURM task, e.g. 16G (default: the cluster's).")
    ] = None,
    slurm_option: Annotated[
        list[str],
        typer.Option(
            "--slurm-option", help="Any other sbatch option as key=value, e.g. account=lab."
        ),
    ] = [],  # noqa: B006
    slurm_cells_per_task: Annotated[
        int, typer.Option(help="Cells one SLURM task runs, one after another.")
    ] = 1,
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", help="SLURM: submit, print the job id and return.", metavar=FLAG),
    ] = False,
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="Show where each cell stands (done, running, failed, not started) from the "
            "records; run nothing.",
            metavar=FLAG,
        ),
    ] = False,
    plugin: PluginOption = [],  # noqa: B006
    skip_unreadable: SkipOption = False,
) -> None:
    """Run every cell of a grid (methods x data sets x seeds) that has no finished record."""
    from uadbench.errors import ParameterError
    from uadbench.running.grid import grid_from
    from uadbench.running.planning import parse_pairs, parse_seeds

    with user_errors():
        grid = grid_from(
            grid_file,
            methods=method or None,
            datasets=dataset or None,
            seeds=parse_seeds(seeds) if seeds else None,
            profile=profile,
            image_sizes=image_size or None,
            params=parse_pairs(param, "--param") or None,
            data_options=parse_pairs(data_option, "--data-option") or None,
            results_dir=results_dir,
            data_root=data_root,
            device=device,
            plugins=plugin or None,
            skip_unreadable=skip_unreadable or None,
        )
        if status:
            _show_states(grid)
            return
        if no_wait and executor is not ExecutorName.slurm:
            raise ParameterError("--no-wait is for --executor slurm; drop it or add that")
        options = {"address": ray_address, "cpus_per_cell": cpus_per_cell}
        options["gpus_per_cell"] = gpus_per_cell
        options |= {"partition": slurm_partition, "time": slurm_time, "gpus": slurm_gpus}
        options |= {"mem": slurm_mem, "options": parse_pairs(slurm_option, "--slurm-option")}
        options |= {"cells_per_task": slurm_cells_per_task, "wait": not no_wait}
        executor_named(executor.value, **options)  # its options are checked before any work
    _sweep(grid, executor.value, options, cache_dir)


def _show_states(grid: Grid) -> None:
    """A table of the grid's cells and where each stands by its record, then the counts."""
    from rich.table import Table

    from uadbench.running.sweep import CELL_STATES, cell_states

    states = cell_states(grid)
    table = Table("method", "data set", "size", "seed", "state", "detail", "record")
    styles = {"done": "green", "running": "cyan", "failed": "bold red", "not started": "dim"}
    for one in states:
        config = one.cell.config
        table.add_row(
            config.method, config.dataset, str(config.image_size), str(config.seed),
            Text(one.state, style=styles[one.state]), Text(one.detail), Text(str(one.cell.path)),
        )  # fmt: skip
    out.print(table)
    counts = {name: sum(one.state == name for one in states) for name in CELL_STATES}
    out.print("  ".join(f"{name} {n}" for name, n in counts.items()), highlight=False)


def _sweep(grid: Grid, executor: str, options: dict, cache_dir: Path | None) -> None:
    """Run the grid with a bar of cells (and, run here, each cell's own bars beneath it), then
    print the board (or, for cells submitted and not waited for, their job's id on stdout) and
    every failed cell."""
    from uadbench.contracts.progress import RichProgress, rich_bars
    from uadbench.data.prepare import default_cache_dir
    from uadbench.running.sweep import run_sweep

    bar = rich_bars(err)
    cells_run_on = executor_named(executor, progress=RichProgress(into=bar), **options)
    with user_errors(), sigterm_stops(), bar:
        task = bar.add_task("sweep", total=None, info="")

        def show(status: SweepStatus) -> None:
            finished = status.done + status.skipped + len(status.failed)
            bar.update(task, total=status.total, completed=finished, info=status.line())

        status = run_sweep(grid, cache_dir or default_cache_dir(), cells_run_on, show)
    if status.submitted:
        jobs = sorted({job for _, job in status.submitted})
        out.print(" ".join(jobs), highlight=False)
        say(
            "green",
            f"submitted {len(status.submitted)} cell(s) as SLURM job {', '.join(jobs)}: ",
            "the same `uadbench sweep` with --status shows how they go; scancel stops them",
        )
    else:
        left_out(show_leaderboard([grid.results_dir], "table", set(grid.datasets)), strict=False)
    err.print(status.line(), highlight=False, markup=False)
    for cell, message in status.failed:
        say("bold red", f"FAILED {cell.label}: ", f"{message} (record: {cell.path})")
    if status.failed:
        fail(f"{len(status.failed)} of {status.total} cell(s) failed", code=1)


def rerun(
    record_file: Annotated[Path, typer.Argument(help="The run record to reproduce.")],
    results_dir: Annotated[
        Path | None,
        typer.Option(help="Where the new record goes (default: the record's own results folder)."),
    ] = None,
    data_root: DataRootOption = None,
    cache_dir: CacheOption = None,
    device: DeviceOption = "auto",
    plugin: PluginOption = [],  # noqa: B006
    force: Annotated[
        bool, typer.Option("--force", help="Run again over a finished record.", metavar=FLAG)
    ] = False,
) -> None:
    """Run a recorded run again from its record: the same method, data set, seed, profile,
    parameters and data options; then print both AUROCs."""
    from uadbench import registry
    from uadbench.data.prepare import default_cache_dir
    from uadbench.running.planning import plan
    from uadbench.running.record_store import read_record, results_dir_of
    from uadbench.running.reproduce import request_from_record

    cache = cache_dir or default_cache_dir()
    with user_errors():
        if not record_file.is_file():
            fail(f"no record file {record_file}; give the path of a run record (.json)")
        original = read_record(record_file)
        registry.load_plugins(plugin or original.plugins)
        target = results_dir or results_dir_of(record_file.resolve())
        if target is None:
            fail(
                f"{record_file} is not in a results folder (<folder>/runs/<data set>/<method>/); "
                "say where the new record goes with --results-dir"
            )
        [planned] = plan(request_from_record(original, target, data_root, device), cache)
    with user_errors(), sigterm_stops():
        outcome = _execute(planned, cache, force)
    if outcome.status not in ("ok", "skipped"):
        fail(f"the rerun did not finish; see {outcome.path}", code=1)
    if original.ok and outcome.record.ok:
        was, now = original.metrics["auroc"], outcome.record.metrics["auroc"]
        say("green", "AUROC ", f"{100 * was:.1f} recorded, {100 * now:.1f} now ({outcome.path})")
        for when, record in (("recorded", original), ("now", outcome.record)):
            err.print(f"  {when} on: {record.cpu_model}", highlight=False, markup=False)
        if original.cpu_model != outcome.record.cpu_model:
            err.print(
                "  other CPU models: a trained method's scores may differ in the last digits, "
                "and training can carry that further (README, 'Reproducing a number')",
                highlight=False,
                markup=False,
            )
