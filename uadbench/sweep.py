"""Benchmark grids: methods x data sets x seeds (x image sizes), run locally or on Ray.

A grid comes from options or from a TOML/YAML file::

    methods = ["ae", "anatpaste"]
    datasets = ["synthetic"]
    seeds = [0, 1, 2]
    profile = "quick"
    image_sizes = []          # empty: each method's own size
    [params]                  # --param for every method (optional) ...
    [params.ae]               # ... or for one method
    epochs = 5
    [data_options]            # --data-option for every data set (optional)

Every cell is one ``uadbench run`` (same planning, same record); cells with a finished record
are skipped, so a killed sweep resumes where it stopped. Names are checked before any cell
starts. Data are prepared once per (data set, split version, size), before the cells. A failed
cell (including a worker killed for memory) gets a failure record and is reported at the end;
the other cells still run.

Executors: ``local`` runs the cells one after another in this process; ``ray`` submits each
cell as a Ray task asking for ``cpus_per_cell`` CPUs and ``gpus_per_cell`` GPUs, on a local Ray
instance or the cluster at ``ray_address``.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from uadbench import registry
from uadbench.prepare import prepare
from uadbench.records import read_record, write_record
from uadbench.registry import PluginError, UnknownNameError
from uadbench.runner import Outcome, PlannedRun, RunRequest, execute, failure_record, plan


@dataclass(frozen=True)
class Grid:
    """What a sweep covers."""

    methods: Sequence[str]
    datasets: Sequence[str]
    seeds: Sequence[int] = (0,)
    profile: str = "quick"
    image_sizes: Sequence[int] = ()
    params: dict[str, Any] = field(default_factory=dict)
    """``key: value`` for every method, or ``method: {key: value}`` for one."""
    data_options: dict[str, str] = field(default_factory=dict)
    data_root: Path | None = None
    results_dir: Path = Path("results")
    device: str = "auto"
    plugins: Sequence[str] = ()

    def requests(self) -> list[RunRequest]:
        """One request per (method, data set, size), each with all the seeds."""
        return [
            RunRequest(
                method=method,
                dataset=dataset,
                seeds=tuple(self.seeds),
                profile=self.profile,
                image_size=size,
                params=self.params_for(method),
                data_options=dict(self.data_options),
                device=self.device,
                data_root=self.data_root,
                results_dir=self.results_dir,
            )
            for dataset in self.datasets
            for method in self.methods
            for size in (self.image_sizes or [None])
        ]

    def params_for(self, method: str) -> dict[str, str]:
        """The parameters for every method, updated by those for ``method``."""
        shared = {k: str(v) for k, v in self.params.items() if not isinstance(v, dict)}
        own = {k: str(v) for k, v in self.params.get(method, {}).items()}
        return {**shared, **own}


def load_grid(path: Path, **overrides: Any) -> Grid:
    """A grid from a TOML or YAML file; ``overrides`` (not None) replace its values."""
    path = Path(path)
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        values = yaml.safe_load(text) or {}
    else:
        values = tomllib.loads(text)
    known = {f.name for f in dataclasses.fields(Grid)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"grid file {path}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    if "data_options" in values:
        values["data_options"] = {k: str(v) for k, v in values["data_options"].items()}
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("results_dir", "data_root"):
        if values.get(key) is not None:
            values[key] = Path(values[key])
    return Grid(**values)


def plan_grid(grid: Grid) -> list[PlannedRun]:
    """Every cell of the grid, planned; one error listing every bad name or setting."""
    registry.load_plugins(grid.plugins)
    problems = []
    for kind, names, known in (
        ("method", grid.methods, registry.methods),
        ("data set", grid.datasets, registry.datasets),
    ):
        for name in names:
            try:
                known.get(name)
            except (UnknownNameError, PluginError) as error:
                problems.append(f"{kind} {name!r}: {error}")
    if not grid.methods or not grid.datasets or not grid.seeds:
        problems.append("a grid needs at least one method, one data set and one seed")
    if problems:
        raise ValueError(
            "the grid has bad entries, no cell was started:\n  " + "\n  ".join(problems)
        )
    cells = []
    for request in grid.requests():
        try:
            cells += plan(request)
        except ValueError as error:
            problems.append(f"{request.method} on {request.dataset}: {error}")
    if problems:
        raise ValueError(
            "the grid has bad entries, no cell was started:\n  " + "\n  ".join(problems)
        )
    return cells


def prepare_once(cells: Sequence[PlannedRun], cache_dir: Path, progress: Any = None) -> None:
    """Prepare the data of every cell before any cell starts, once per data set and size."""
    done = set()
    for cell in cells:
        key = (cell.dataset.name, cell.dataset.split_version, cell.params.image_size)
        if key not in done:
            prepare(
                cell.dataset,
                cell.params.image_size,
                cache_dir,
                progress,
                cell.config["skip_unreadable"],
            )
            done.add(key)


@dataclass
class SweepStatus:
    """Cells done, running, failed and left; and the failures."""

    total: int
    done: int = 0
    skipped: int = 0
    running: int = 0
    failed: list[tuple[PlannedRun, str]] = field(default_factory=list)

    @property
    def left(self) -> int:
        return self.total - self.done - self.skipped - self.running - len(self.failed)

    def line(self) -> str:
        return (
            f"done {self.done}  skipped {self.skipped}  running {self.running}  "
            f"failed {len(self.failed)}  left {self.left}"
        )


def run_sweep(
    grid: Grid,
    cache_dir: Path,
    executor: str = "local",
    ray_address: str | None = None,
    cpus_per_cell: float = 1,
    gpus_per_cell: float = 0,
    on_change: Callable[[SweepStatus], None] | None = None,
) -> SweepStatus:
    """Run every cell without a finished record; return how it went."""
    cells = plan_grid(grid)
    status = SweepStatus(total=len(cells))
    todo = []
    for cell in cells:
        if _finished(cell):
            status.skipped += 1
        else:
            todo.append(cell)
    notify = on_change or (lambda _: None)
    notify(status)
    if todo:
        prepare_once(todo, cache_dir)
    if executor == "local":
        for cell in todo:
            status.running = 1
            notify(status)
            _count(status, cell, execute(cell, cache_dir))
            status.running = 0
            notify(status)
    elif executor == "ray":
        _run_on_ray(
            grid, todo, cache_dir, status, notify, ray_address, cpus_per_cell, gpus_per_cell
        )
    else:
        raise ValueError(f"unknown executor {executor!r}; choose local or ray")
    return status


def _finished(cell: PlannedRun) -> bool:
    try:
        return read_record(cell.path).get("status") == "ok"
    except (OSError, ValueError):
        return False


def _count(status: SweepStatus, cell: PlannedRun, outcome: Outcome) -> None:
    if outcome.status == "failed":
        status.failed.append((cell, outcome.record["error"]["message"]))
    else:
        status.done += 1


def _run_on_ray(
    grid: Grid,
    todo: list[PlannedRun],
    cache_dir: Path,
    status: SweepStatus,
    notify: Callable[[SweepStatus], None],
    address: str | None,
    cpus: float,
    gpus: float,
) -> None:
    try:
        import ray
    except ImportError:
        raise ValueError("the ray executor needs Ray: pip install 'uadbench[ray]'") from None
    import torch

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=address, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
    task = ray.remote(_ray_cell).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
    threads = torch.get_num_threads()
    pending = {
        task.remote(
            _cell_request(cell), cell.seed, str(cache_dir), list(grid.plugins), threads
        ): cell
        for cell in todo
    }
    status.running = len(pending)
    notify(status)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            cell = pending.pop(ready[0])
            status.running = len(pending)
            try:
                outcome_status, message = ray.get(ready[0])
            except Exception as error:  # the worker died: out of memory, killed, crashed
                outcome_status, message = (
                    "failed",
                    f"the worker running this cell died: {type(error).__name__}: {error}",
                )
                write_record(cell.path, failure_record(cell, message))
            if outcome_status == "failed":
                status.failed.append((cell, message))
            else:
                status.done += 1
            notify(status)
    finally:
        if started_here:
            ray.shutdown()


def _cell_request(cell: PlannedRun) -> dict[str, Any]:
    """A cell as plain data (sent to a worker, which plans it again)."""
    request = cell.request
    return {**dataclasses.asdict(request), "seeds": [cell.seed]}


def _ray_cell(
    request: dict[str, Any], seed: int, cache_dir: str, plugins: list[str], threads: int
) -> tuple[str, str]:
    """One cell in a Ray worker, with the driver's torch thread count (same numbers as local)."""
    import torch

    torch.set_num_threads(threads)
    registry.load_plugins(plugins)
    values = {**request, "seeds": (seed,)}
    for key in ("data_root", "results_dir"):
        if values[key] is not None:
            values[key] = Path(values[key])
    [planned] = plan(RunRequest(**values))
    try:
        outcome = execute(planned, Path(cache_dir))
    except Exception:  # execute records failures itself; this is a bug in uadbench
        return "failed", traceback.format_exc()
    message = (
        outcome.record.get("error", {}).get("message", "") if outcome.status == "failed" else ""
    )
    return outcome.status, message
