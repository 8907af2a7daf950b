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
of the same data are skipped, so a killed sweep resumes where it stopped. Planning errors (a
name, a parameter, a value of the wrong type in the grid file) are all listed before any cell
starts. Data are read and prepared once per (data set, options, size), before the cells; a data
problem (a missing data set, an unreadable image, a full disk) fails only the cells it touches,
each with a failure record. A failed cell (including a worker killed for memory) is reported at
the end; the other cells still run.

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
from uadbench.errors import ParameterError, UserError, one_line
from uadbench.fingerprint import DataSource, resolve
from uadbench.prepare import check_cache_dir, prepare
from uadbench.runner import (
    Outcome,
    PlannedRun,
    RunRequest,
    execute,
    finished_record,
    parse_seeds,
    plan,
    record_failure,
)

EXECUTORS = ("local", "ray")


class GridError(ParameterError):
    """A grid (file or options) that cannot be run; no cell was started."""


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
    skip_unreadable: bool = False

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
                skip_unreadable=self.skip_unreadable,
            )
            for dataset in self.datasets
            for method in self.methods
            for size in (self.image_sizes or [None])
        ]

    def params_for(self, method: str) -> dict[str, str]:
        """The parameters for every method, updated by those for ``method``."""
        shared = {k: str(v) for k, v in self.params.items() if not isinstance(v, dict)}
        table = self.params.get(method)
        own = {k: str(v) for k, v in table.items()} if isinstance(table, dict) else {}
        return {**shared, **own}


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


NAMES = ("methods", "datasets", "plugins")
TEXTS = ("profile", "device", "results_dir", "data_root")


def load_grid(path: Path, **overrides: Any) -> Grid:
    """A grid from a TOML or YAML file; ``overrides`` (not None) replace its values."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise GridError(f"cannot read grid file {path}: {error.strerror or error}") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = tomllib.loads(text)
    except Exception as error:  # each parser has its own error types
        raise GridError(f"grid file {path} does not parse: {one_line(str(error))}") from None
    if not isinstance(values, dict):
        raise GridError(f'grid file {path} must hold keys and values, e.g. methods = ["ae"]')
    known = {f.name for f in dataclasses.fields(Grid)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise GridError(
            f"grid file {path}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    values = _checked_values(values, path)
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("results_dir", "data_root"):
        if values.get(key) is not None:
            values[key] = Path(values[key])
    return Grid(**values)


def _checked_values(values: dict[str, Any], path: Path) -> dict[str, Any]:
    """The grid file's values in the types ``Grid`` takes; ``GridError`` naming each one that
    is of another type (a plain string for a list would be read letter by letter)."""
    problems, out = [], dict(values)
    for key in NAMES:
        value = values.get(key)
        if key in values and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            problems.append(f"{key} must be a list of names, e.g. {key} = [{value!r}]")
    if "seeds" in values:
        seeds = values["seeds"]
        if isinstance(seeds, str):
            try:
                out["seeds"] = parse_seeds(seeds, "seeds")
            except ParameterError as error:
                problems.append(str(error))
        elif not (isinstance(seeds, list) and all(_is_int(s) for s in seeds)):
            problems.append('seeds must be a list of whole numbers, e.g. [0, 1, 2], or "0-2"')
    sizes = values.get("image_sizes", [])
    if not (isinstance(sizes, list) and all(_is_int(s) for s in sizes)):
        problems.append("image_sizes must be a list of whole numbers, e.g. [64, 128]")
    for key in TEXTS:
        if key in values and not isinstance(values[key], str):
            problems.append(f'{key} must be a string, e.g. {key} = "..."')
    if "skip_unreadable" in values and not isinstance(values["skip_unreadable"], bool):
        problems.append("skip_unreadable must be true or false")
    for key in ("params", "data_options"):
        table = values.get(key, {})
        if not isinstance(table, dict):
            problems.append(f"{key} must be a table of key = value")
            continue
        for name, value in table.items():
            inner = value if key == "params" and isinstance(value, dict) else {name: value}
            if any(isinstance(v, list | dict) for v in inner.values()):
                problems.append(f"{key}.{name} must be a single value (or, in params, a table)")
        if key == "data_options" and isinstance(table, dict):
            out[key] = {k: str(v) for k, v in table.items()}
    if problems:
        raise GridError(f"grid file {path}: " + "; ".join(problems))
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def plan_grid(grid: Grid) -> list[PlannedRun]:
    """Every cell of the grid, planned; one ``GridError`` listing every bad name or setting.
    The data are not read here: their problems fail only their own cells (``run_sweep``)."""
    registry.load_plugins(grid.plugins)
    problems = []
    for kind, names, known in (
        ("method", grid.methods, registry.methods),
        ("data set", grid.datasets, registry.datasets),
    ):
        for name in names:
            try:
                known.get(name)
            except UserError as error:
                problems.append(f"{kind} {name!r}: {error}")
    if not grid.methods or not grid.datasets or not grid.seeds:
        problems.append("a grid needs at least one method, one data set and one seed")
    if not problems:
        cells = []
        for request in grid.requests():
            try:
                cells += plan(request)
            except UserError as error:
                problems.append(f"{request.method} on {request.dataset}: {error}")
    if problems:
        raise GridError("the grid has bad entries, no cell was started: " + "; ".join(problems))
    return cells


def _data_key(cell: PlannedRun) -> tuple[str, str, str]:
    """What identifies a cell's data before it is read: data set, options and root."""
    options = repr(sorted(cell.request.data_options.items()))
    return cell.dataset.name, options, str(cell.dataset.root)


def _resolved(
    cells: Sequence[PlannedRun], cache_dir: Path, status: SweepStatus
) -> list[PlannedRun]:
    """The cells with their data resolved (once per data set and options), without those whose
    data cannot be read (each recorded as failed) or whose finished record exists (skipped)."""
    sources: dict[tuple[str, str, str], DataSource | str] = {}
    todo = []
    for cell in cells:
        key = _data_key(cell)
        if key not in sources:
            try:
                sources[key] = resolve(cell.dataset, cache_dir)
            except UserError as error:
                sources[key] = one_line(str(error))
        source = sources[key]
        if isinstance(source, str):
            _count(status, cell, record_failure(cell, source))
            continue
        try:
            done = finished_record(cell, source) is not None
        except UserError as error:  # a record in the way: this cell cannot be run
            status.failed.append((cell, one_line(str(error))))
            continue
        if done:
            status.skipped += 1
        else:
            todo.append(dataclasses.replace(cell, source=source))
    return todo


def prepare_once(
    cells: Sequence[PlannedRun], cache_dir: Path, status: SweepStatus, progress: Any = None
) -> list[PlannedRun]:
    """Prepare the data of every cell before any cell starts, once per data set and size; the
    cells whose data cannot be prepared (an unreadable image, a full disk) are recorded as
    failed and left out of the list returned."""
    outcomes: dict[tuple[Any, ...], str | None] = {}
    ready = []
    for cell in cells:
        assert cell.source is not None
        key = (*_data_key(cell), cell.params.image_size, cell.config["skip_unreadable"])
        if key not in outcomes:
            try:
                prepare(
                    cell.dataset,
                    cell.params.image_size,
                    cache_dir,
                    progress,
                    cell.config["skip_unreadable"],
                    cell.source,
                )
                outcomes[key] = None
            except UserError as error:
                outcomes[key] = one_line(str(error))
        if outcomes[key] is None:
            ready.append(cell)
        else:
            _count(status, cell, record_failure(cell, f"preparing the data: {outcomes[key]}"))
    return ready


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
    if executor not in EXECUTORS:
        raise GridError(f"unknown executor {executor!r}; choose {' or '.join(EXECUTORS)}")
    if executor == "ray":
        _ray()
    check_cache_dir(cache_dir)
    cells = plan_grid(grid)
    status = SweepStatus(total=len(cells))
    notify = on_change or (lambda _: None)
    todo = _resolved(cells, cache_dir, status)
    notify(status)
    todo = prepare_once(todo, cache_dir, status)
    notify(status)
    if executor == "local":
        for cell in todo:
            status.running = 1
            notify(status)
            _count(status, cell, execute(cell, cache_dir))
            status.running = 0
            notify(status)
    else:
        _run_on_ray(
            grid, todo, cache_dir, status, notify, ray_address, cpus_per_cell, gpus_per_cell
        )
    return status


def _count(status: SweepStatus, cell: PlannedRun, outcome: Outcome) -> None:
    if outcome.status in ("failed", "busy"):
        status.failed.append((cell, outcome.message))
    elif outcome.status == "skipped":
        status.skipped += 1
    else:
        status.done += 1


def _ray() -> Any:
    """The ``ray`` module; ``GridError`` saying how to install it when it is missing."""
    try:
        import ray
    except ImportError:
        raise GridError("the ray executor needs Ray: pip install 'uadbench[ray]'") from None
    return ray


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
    ray = _ray()
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
                cause = one_line(str(error).strip().splitlines()[-1] if str(error) else "")
                outcome_status, message = (
                    "failed",
                    f"the worker running this cell died: {type(error).__name__}: {cause[:300]}",
                )
                record_failure(cell, message, str(error))
            if outcome_status in ("failed", "busy"):
                status.failed.append((cell, message))
            elif outcome_status == "skipped":
                status.skipped += 1
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
    try:
        [planned] = plan(RunRequest(**values))
    except UserError as error:  # e.g. a plugin that this worker cannot import
        return "failed", f"planning the cell on its worker: {one_line(str(error))}"
    try:
        outcome = execute(planned, Path(cache_dir))
    except Exception as error:  # execute records failures itself: this is a bug in uadbench
        trace = traceback.format_exc()
        record_failure(planned, f"a uadbench bug: {type(error).__name__}: {error}", trace)
        return "failed", f"a uadbench bug, traceback in {planned.path}: {type(error).__name__}"
    return outcome.status, outcome.message
