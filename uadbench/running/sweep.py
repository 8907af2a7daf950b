"""Sweeps: every cell of a grid (``uadbench.running.grid``) run locally, on Ray or on SLURM.

Every cell is one ``uadbench run`` (same planning, same record); cells with a finished record
of the same data are skipped, so a killed sweep resumes where it stopped. Planning errors (a
name, a parameter, a value of the wrong type in the grid file) are all listed before any cell
starts. Data are read and prepared once per (data set, options, size), before the cells; a data
problem (a missing data set, an unreadable image, a full disk) fails only the cells it touches,
each with a failure record. A failed cell (including a worker killed for memory) is reported at
the end; the other cells still run.

Where the cells run is an executor (``uadbench.running.executors``): ``local``, one after another in
this process, ``ray``, each cell a Ray task, or ``slurm``, a SLURM job array (waited for, or
only submitted). ``cell_states`` says where each cell of a grid stands, from its record alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uadbench import registry
from uadbench.data.fingerprint import DataSource, resolve
from uadbench.data.prepare import check_cache_dir, prepare
from uadbench.errors import UserError, one_line
from uadbench.processes import this_host
from uadbench.running.executors import Executor, executor_named
from uadbench.running.grid import Grid, GridError
from uadbench.running.planning import PlannedRun, plan
from uadbench.running.record_store import existing_record
from uadbench.running.runner import Outcome, record_failure


@dataclass
class SweepStatus:
    """Cells done, running, failed and left; the failures; and the cells handed to a cluster
    that is not waited for, each with its job's id."""

    total: int
    done: int = 0
    skipped: int = 0
    running: int = 0
    failed: list[tuple[PlannedRun, str]] = field(default_factory=list)
    submitted: list[tuple[PlannedRun, str]] = field(default_factory=list)

    @property
    def left(self) -> int:
        seen = self.done + self.skipped + self.running + len(self.failed) + len(self.submitted)
        return self.total - seen

    def line(self) -> str:
        submitted = f"submitted {len(self.submitted)}  " if self.submitted else ""
        return (
            f"done {self.done}  skipped {self.skipped}  running {self.running}  "
            f"failed {len(self.failed)}  {submitted}left {self.left}"
        )


@dataclass(frozen=True)
class CellState:
    """Where a cell stands by its record: ``done``, ``running``, ``failed`` or ``not started``,
    and a detail (the AUROC, the host running it, why it failed)."""

    cell: PlannedRun
    state: str
    detail: str = ""


CELL_STATES = ("done", "running", "failed", "not started")


def cell_states(grid: Grid) -> list[CellState]:
    """Where each cell of the grid stands, from its record alone (nothing is run or read but
    the records): a ``running`` record counts as running while its process lives; on another
    host that cannot be looked at from here, and it says which host."""
    return [_state(cell) for cell in plan_grid(grid)]


def _state(cell: PlannedRun) -> CellState:
    try:
        record = existing_record(cell.path)
    except UserError as error:
        return CellState(cell, "failed", one_line(str(error)))
    if record is None:
        return CellState(cell, "not started")
    if record.ok:
        return CellState(cell, "done", f"AUROC {100 * record.metrics['auroc']:.1f}")
    if record.status == "failed":
        return CellState(cell, "failed", record.message)
    host, pid = record.process.get("host", "?"), record.process.get("pid", "?")
    if record.state == "interrupted":
        return CellState(cell, "failed", f"interrupted: its process ({pid} on {host}) is gone")
    return CellState(cell, "running", f"on {host}" if host != this_host() else f"pid {pid}")


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
            done = cell.cell.finished((source.fingerprint, source.earlier)) is not None
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
    notify(status)  # the number of cells, from the start
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
    elif outcome == "submitted":
        status.submitted.append((cell, message))
    elif outcome == "skipped":
        status.skipped += 1
    else:
        status.done += 1


def _status_of(outcome: Outcome) -> tuple[str, str]:
    return outcome.status, outcome.message
