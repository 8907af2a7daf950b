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

Where the cells run is an executor (``uadbench.running.executors``): ``local``, one after another in
this process, or ``ray``, each cell a Ray task.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from uadbench import registry
from uadbench.data.fingerprint import DataSource, resolve
from uadbench.data.prepare import check_cache_dir, prepare
from uadbench.errors import ParameterError, UserError, one_line
from uadbench.running.executors import Executor, executor_named
from uadbench.running.planning import PlannedRun, RunRequest, parse_seeds, plan
from uadbench.running.runner import Outcome, finished_record, record_failure


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


def grid_from(path: Path | None, **overrides: Any) -> Grid:
    """The grid of the file at ``path`` with ``overrides`` (None: keep the file's), or, with no
    file, of the overrides alone (at least one method and one data set)."""
    if path is not None:
        return load_grid(path, **overrides)
    if overrides.get("methods") and overrides.get("datasets"):
        return Grid(**{k: v for k, v in overrides.items() if v is not None})
    raise GridError(
        "give a grid file (uadbench sweep grid.toml) or at least one --method and one --dataset"
    )


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
            _count(status, cell, *_status_of(record_failure(cell, source)))
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
        key = (*_data_key(cell), cell.params.image_size, cell.config.skip_unreadable)
        if key not in outcomes:
            try:
                prepare(
                    cell.dataset,
                    cell.params.image_size,
                    cache_dir,
                    progress,
                    cell.config.skip_unreadable,
                    cell.source,
                )
                outcomes[key] = None
            except UserError as error:
                outcomes[key] = one_line(str(error))
        if outcomes[key] is None:
            ready.append(cell)
        else:
            _count(
                status,
                cell,
                *_status_of(record_failure(cell, f"preparing the data: {outcomes[key]}")),
            )
    return ready


def run_sweep(
    grid: Grid,
    cache_dir: Path,
    executor: Executor | str = "local",
    on_change: Callable[[SweepStatus], None] | None = None,
) -> SweepStatus:
    """Run every cell without a finished record on ``executor`` (one, or a name of
    ``EXECUTORS`` with its default options); return how it went."""
    if isinstance(executor, str):
        executor = executor_named(executor)
    executor.check()
    check_cache_dir(cache_dir)
    cells = plan_grid(grid)
    status = SweepStatus(total=len(cells))
    notify = on_change or (lambda _: None)
    todo = _resolved(cells, cache_dir, status)
    notify(status)
    todo = prepare_once(todo, cache_dir, status)
    status.running = executor.in_flight(len(todo))
    notify(status)
    for finished in executor.run(todo, cache_dir, list(grid.plugins)):
        _count(status, finished.cell, finished.status, finished.message)
        status.running = finished.running
        notify(status)
    return status


def _count(status: SweepStatus, cell: PlannedRun, outcome: str, message: str = "") -> None:
    if outcome in ("failed", "busy"):
        status.failed.append((cell, message))
    elif outcome == "skipped":
        status.skipped += 1
    else:
        status.done += 1


def _status_of(outcome: Outcome) -> tuple[str, str]:
    return outcome.status, outcome.message
