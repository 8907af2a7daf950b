"""Where the cells of a sweep run: ``local`` (one after another, in this process) or ``ray``
(each cell a Ray task, on a local Ray instance or a cluster). A new executor is one class with
``check``, ``in_flight`` and ``run``, and one entry in ``EXECUTORS``.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from uadbench import registry
from uadbench.contracts.progress import ProgressReporter
from uadbench.errors import ParameterError, UserError, one_line
from uadbench.running.planning import PlannedRun, RunRequest, plan
from uadbench.running.runner import execute, record_failure


@dataclass(frozen=True)
class Finished:
    """A cell that has ended: its status (``ok``, ``failed``, ``skipped``, ``busy``), the
    message of a failure, and how many cells are still running."""

    cell: PlannedRun
    status: str
    message: str
    running: int


class Executor(Protocol):
    """Runs planned cells whose data are prepared, and says as each one ends."""

    def check(self) -> None:
        """Raise a ``UserError`` before any cell if this executor cannot run here."""

    def in_flight(self, cells: int) -> int:
        """How many of ``cells`` run at once at the start."""

    def run(
        self, cells: Sequence[PlannedRun], cache_dir: Path, plugins: list[str]
    ) -> Iterator[Finished]:
        """Run ``cells``; yield each as it ends (its failures recorded in its record)."""


@dataclass(frozen=True)
class LocalExecutor:
    """One cell after another, in this process (each cell's bars shown by ``progress``)."""

    progress: ProgressReporter | None = None

    def check(self) -> None:
        pass

    def in_flight(self, cells: int) -> int:
        return min(cells, 1)

    def run(
        self, cells: Sequence[PlannedRun], cache_dir: Path, plugins: list[str]
    ) -> Iterator[Finished]:
        for i, cell in enumerate(cells):
            outcome = execute(cell, cache_dir, self.progress)
            yield Finished(cell, outcome.status, outcome.message, int(i + 1 < len(cells)))


@dataclass(frozen=True)
class RayExecutor:
    """Each cell a Ray task asking for ``cpus_per_cell`` CPUs and ``gpus_per_cell`` GPUs, on a
    local Ray instance or the cluster at ``address``."""

    address: str | None = None
    cpus_per_cell: float = 1
    gpus_per_cell: float = 0

    def check(self) -> None:
        _ray()

    def in_flight(self, cells: int) -> int:
        return cells

    def run(
        self, cells: Sequence[PlannedRun], cache_dir: Path, plugins: list[str]
    ) -> Iterator[Finished]:
        ray = _ray()
        import torch

        started_here = not ray.is_initialized()
        if started_here:
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        task = ray.remote(_ray_cell).options(
            num_cpus=self.cpus_per_cell, num_gpus=self.gpus_per_cell, max_retries=0
        )
        threads = torch.get_num_threads()
        pending = {
            task.remote(_cell_request(cell), cell.seed, str(cache_dir), plugins, threads): cell
            for cell in cells
        }
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                cell = pending.pop(ready[0])
                try:
                    status, message = ray.get(ready[0])
                except Exception as error:  # the worker died: out of memory, killed, crashed
                    cause = one_line(str(error).strip().splitlines()[-1] if str(error) else "")
                    status = "failed"
                    message = (
                        f"the worker running this cell died: {type(error).__name__}: {cause[:300]}"
                    )
                    record_failure(cell, message, str(error))
                yield Finished(cell, status, message, len(pending))
        finally:
            if started_here:
                ray.shutdown()


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": LocalExecutor, "ray": RayExecutor}
"""Executor names (``--executor``) and what makes one from its options."""


def executor_named(name: str, **options: Any) -> Executor:
    """The executor ``name`` with those of ``options`` it takes (the others are ignored:
    ``--ray-address`` means nothing to ``local``)."""
    if name not in EXECUTORS:
        raise ParameterError(f"unknown executor {name!r}; choose {' or '.join(EXECUTORS)}")
    make = EXECUTORS[name]
    fields = {f.name for f in dataclasses.fields(make)} if dataclasses.is_dataclass(make) else set()
    return make(**{k: v for k, v in options.items() if k in fields})


def _ray() -> Any:
    """The ``ray`` module; ``ParameterError`` saying how to install it when it is missing."""
    try:
        import ray
    except ImportError:
        raise ParameterError("the ray executor needs Ray: pip install 'uadbench[ray]'") from None
    return ray


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
