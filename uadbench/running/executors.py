"""Where the cells of a sweep run: ``local`` (one after another, in this process), ``ray``
(each cell a Ray task, on a local Ray instance or a cluster) or ``slurm`` (one SLURM job array,
each task one cell or a batch of cells). A new executor is one class with ``check``,
``in_flight`` and ``run``, and one entry in ``EXECUTORS``.

Ray and SLURM workers get each cell as plain data and plan it again; its data were prepared
before the cells, in the cache folder, which they must see (on a cluster: a shared file system,
as the results folder).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from uadbench import registry
from uadbench.contracts.progress import ProgressReporter
from uadbench.errors import ParameterError, UserError, one_line

if TYPE_CHECKING:  # the work is imported where it is done: listing the executors stays light
    from uadbench.running.planning import PlannedRun


@dataclass(frozen=True)
class Finished:
    """A cell that has ended: its status (``ok``, ``failed``, ``skipped``, ``busy``), the
    message of a failure, and how many cells are still running; or a cell handed to a cluster
    that is not waited for (``submitted``, the message its job's id)."""

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
        from uadbench.running.runner import execute

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

        from uadbench.running.runner import record_failure

        started_here = not ray.is_initialized()
        if started_here:
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        task = ray.remote(_remote_cell).options(
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
                    record_failure(cell, message, str(error), ended=True)
                yield Finished(cell, status, message, len(pending))
        finally:
            if started_here:
                ray.shutdown()


class SlurmError(UserError):
    """SLURM cannot take the sweep from here: its commands are missing, or it refused the job."""


class SlurmTaskStopped(RuntimeError):
    """SLURM stopped a task a second time (preempted or out of time); it is not requeued again."""


SLURM_COMMANDS = ("sbatch", "squeue", "srun", "scancel")
SLURM_DEFAULT_MINUTES = 60
ENDED_STATES = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "OUT_OF_MEMORY", "TIMEOUT"}
)
"""SLURM job states after which a task does not run again (one that squeue no longer lists
has ended too)."""


@dataclass(frozen=True)
class SlurmExecutor:
    """One SLURM job array per sweep, each task ``cells_per_task`` cells one after another,
    asking for ``cpus_per_cell`` CPUs (rounded up), ``gpus`` GPUs (by default one when the cells
    run on ``cuda``, else none), ``mem`` (e.g. ``16G``; default the cluster's) and ``time``
    (minutes or SLURM's ``D-HH:MM:SS``; default 60 minutes) in ``partition``, with any other
    sbatch ``options``. With ``wait`` it follows the tasks until they end, looking at the queue
    every ``poll_s`` seconds (and cancels them when stopped); without, it hands the cells over
    as ``submitted``. The job's scripts and logs go to ``<cache folder>/slurm/<job id>/``."""

    partition: str | None = None
    time: str | None = None
    gpus: int | None = None
    mem: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    cpus_per_cell: float = 1
    cells_per_task: int = 1
    wait: bool = True
    poll_s: float = 10

    def check(self) -> None:
        _submitit()
        missing = [command for command in SLURM_COMMANDS if shutil.which(command) is None]
        if missing:
            raise SlurmError(
                f"the slurm executor needs SLURM's {', '.join(missing)} on PATH; run the sweep "
                "on a node of the cluster (its login node)"
            )
        slurm_minutes(self.time)
        if self.cells_per_task < 1 or self.cpus_per_cell <= 0:
            raise ParameterError("--slurm-cells-per-task and --cpus-per-cell must be above 0")

    def in_flight(self, cells: int) -> int:
        return cells

    def run(
        self, cells: Sequence[PlannedRun], cache_dir: Path, plugins: list[str]
    ) -> Iterator[Finished]:
        if not cells:
            return
        tasks = self._submitted(cells, cache_dir, plugins)
        job_id = tasks[0][0].job_id.split("_")[0]
        if not self.wait:
            for _, batch in tasks:
                for cell in batch:
                    yield Finished(cell, "submitted", job_id, 0)
            return
        yield from self._followed(tasks, job_id)

    def _submitted(
        self, cells: Sequence[PlannedRun], cache_dir: Path, plugins: list[str]
    ) -> list[tuple[Any, list[PlannedRun]]]:
        """The cells submitted as one job array: each task's submitit job and its cells."""
        submitit = _submitit()
        import torch

        threads = torch.get_num_threads()
        size = self.cells_per_task
        batches = [list(cells[i : i + size]) for i in range(0, len(cells), size)]
        tasks = [
            SlurmTask([(_cell_request(c), c.seed) for c in batch], str(cache_dir), plugins, threads)
            for batch in batches
        ]
        executor = submitit.SlurmExecutor(folder=Path(cache_dir).absolute() / "slurm" / "%j")
        executor.update_parameters(**self._parameters(cells))
        try:
            jobs = executor.submit_array(tasks)
        except (submitit.core.utils.FailedJobError, submitit.core.utils.FailedSubmissionError) as e:
            raise SlurmError(
                f"SLURM refused the sweep's job array: {one_line(str(e))[-400:]}; check "
                "--slurm-partition, --slurm-time, --slurm-gpus, --slurm-mem and --slurm-option"
            ) from None
        return list(zip(jobs, batches, strict=True))

    def _parameters(self, cells: Sequence[PlannedRun]) -> dict[str, Any]:
        """submitit's parameters of each task of the array."""
        gpus = self.gpus
        if gpus is None:
            gpus = int(any(cell.device.startswith("cuda") for cell in cells))
        parameters: dict[str, Any] = {
            "job_name": "uadbench-sweep",
            "time": slurm_minutes(self.time),
            "cpus_per_task": math.ceil(self.cpus_per_cell),
            "additional_parameters": dict(self.options),
        }
        if gpus:
            parameters["gpus_per_node"] = gpus
        if self.partition:
            parameters["partition"] = self.partition
        if self.mem:
            parameters["mem"] = self.mem
        return parameters

    def _followed(
        self, tasks: list[tuple[Any, list[PlannedRun]]], job_id: str
    ) -> Iterator[Finished]:
        """Each cell as its task ends; the job is cancelled if this stops before."""
        before = {cell.path: _stamp(cell.path) for _, batch in tasks for cell in batch}
        pending = list(tasks)
        try:
            while pending:
                queue = _queue(job_id)
                for job, batch in list(pending):
                    state = None if queue is None else _final_state(job, queue)
                    if state is None:
                        continue
                    pending.remove((job, batch))
                    left = sum(len(b) for _, b in pending)
                    for cell, (status, message) in zip(
                        batch, _task_outcomes(job, batch, before, state), strict=True
                    ):
                        yield Finished(cell, status, message, left)
                if pending:
                    time.sleep(self.poll_s)
        finally:
            if pending:
                subprocess.run(["scancel", job_id], capture_output=True, check=False)


@dataclass
class SlurmTask:
    """One task of a sweep's SLURM job array: its cells run one after another (``__call__``);
    requeued once when SLURM preempts it or its time runs out (``checkpoint``, called by
    submitit), and the requeued task resumes from the records (finished cells are skipped)."""

    cells: list[tuple[dict[str, Any], int]]
    cache_dir: str
    plugins: list[str]
    threads: int
    """Torch threads where SLURM does not say how many CPUs the task has (the submitter's)."""
    requeued: bool = False
    stopped: bool = field(default=False, init=False)

    def __call__(self) -> list[tuple[str, str]]:
        """Each cell's status and message, until SLURM stops the task for good."""
        outcomes = []
        threads = int(os.environ.get("SLURM_CPUS_PER_TASK") or self.threads)  # what it was given
        for request, seed in self.cells:
            if self.stopped:
                break
            outcomes.append(_remote_cell(request, seed, self.cache_dir, self.plugins, threads))
        return outcomes

    def checkpoint(self) -> Any:
        """The task again (submitit requeues it), unless it was requeued before: then the cell
        it is running fails with ``SlurmTaskStopped`` and the task ends."""
        from submitit.helpers import DelayedSubmission

        if self.requeued:
            self.stopped = True
            raise SlurmTaskStopped(
                "SLURM stopped this task (out of time or preempted) after it had been requeued "
                "once; give it more --slurm-time, then run the sweep again"
            )
        return DelayedSubmission(dataclasses.replace(self, requeued=True))


EXECUTORS: dict[str, Callable[..., Executor]] = {
    "local": LocalExecutor,
    "ray": RayExecutor,
    "slurm": SlurmExecutor,
}
"""Executor names (``--executor``) and what makes one from its options."""


def executor_named(name: str, **options: Any) -> Executor:
    """The executor ``name`` with those of ``options`` it takes (the others are ignored:
    ``--ray-address`` means nothing to ``local``)."""
    if name not in EXECUTORS:
        raise ParameterError(f"unknown executor {name!r}; choose {', '.join(EXECUTORS)}")
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


def _remote_cell(
    request: dict[str, Any], seed: int, cache_dir: str, plugins: list[str], threads: int
) -> tuple[str, str]:
    """One cell in a Ray worker or a SLURM task, with the driver's torch thread count (same
    numbers as local)."""
    import torch

    from uadbench.running.planning import RunRequest, plan
    from uadbench.running.runner import execute, record_failure

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


def _submitit() -> Any:
    """The ``submitit`` module; ``SlurmError`` saying how to install it when it is missing."""
    try:
        import submitit
    except ImportError:
        raise SlurmError(
            "the slurm executor needs submitit: pip install 'uadbench[slurm]'"
        ) from None
    return submitit


def slurm_minutes(text: str | None) -> int:
    """A SLURM time limit (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``; None for
    the default) in whole minutes; ``ParameterError`` when it is none of these."""
    if text is None:
        return SLURM_DEFAULT_MINUTES
    days, dash, rest = str(text).strip().rpartition("-")
    parts = rest.split(":")
    if not (all(p.isdigit() for p in parts) and len(parts) <= 3 and (days.isdigit() or not dash)):
        raise ParameterError(
            f"--slurm-time wants minutes or SLURM's D-HH:MM:SS (e.g. 90, 4:00:00, 1-12), "
            f"not {text!r}"
        )
    numbers = [int(p) for p in parts]
    if dash:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = [*numbers, 0, 0][:3]
    else:  # M, M:S, H:M:S
        hours, minutes, seconds = numbers if len(numbers) == 3 else [0, *numbers, 0][:3]
    total = int(days or 0) * 24 * 60 + hours * 60 + minutes + math.ceil(seconds / 60)
    if total < 1:
        raise ParameterError(f"--slurm-time must be at least a minute, not {text!r}")
    return total


def _queue(job_id: str) -> dict[str, str] | None:
    """The state of each task of the SLURM job ``job_id`` that the queue still lists (by
    task id, ``<job>_<task>``); None when squeue does not answer now."""
    try:
        listed = subprocess.run(
            ["squeue", "-h", "-r", "-t", "all", "-u", str(os.getuid()), "-o", "%i %T"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    states = dict(line.split(maxsplit=1) for line in listed.splitlines() if " " in line)
    return {task: state for task, state in states.items() if task.split("_")[0] == job_id}


def _final_state(job: Any, queue: dict[str, str]) -> str | None:
    """The state a task ended in (``ENDED`` when the queue no longer lists it), or None while
    it may still run."""
    state = queue.get(job.job_id, "ENDED")
    return state if state in ENDED_STATES or state == "ENDED" or _answered(job) else None


def _answered(job: Any) -> bool:
    """Whether a task's function has returned (or raised): submitit's result file is there."""
    return job.paths.result_pickle.exists()


def _stamp(path: Path) -> tuple[int, int] | None:
    """What tells a record file apart from its next version (None: no file)."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns


def _task_outcomes(
    job: Any, batch: list[PlannedRun], before: dict[Path, Any], state: str
) -> list[tuple[str, str]]:
    """The status and message of each cell of a task that has ended: what the task returned,
    then, for the cells it did not answer for (killed, cancelled), their records; a cell whose
    record the task did not finish gets a failure record."""
    from submitit.core.utils import UncompletedJobError

    from uadbench.running.record_store import existing_record
    from uadbench.running.runner import record_failure

    def written(cell: PlannedRun) -> bool:  # by this task, not left from an earlier sweep
        return _stamp(cell.path) != before[cell.path]

    answered: list[tuple[str, str]] = []
    if _answered(job) or state == "COMPLETED":
        with contextlib.suppress(UncompletedJobError):  # it raised, or its result never came
            answered = list(job.result())
    outcomes = answered[: len(batch)]
    for cell in batch[len(outcomes) :]:
        try:
            record = existing_record(cell.path)
        except UserError as error:
            outcomes.append(("failed", one_line(str(error))))
            continue
        if record is not None and record.ok:
            outcomes.append(("ok", ""))
        elif record is not None and record.status == "failed" and written(cell):
            outcomes.append(("failed", record.message))
        else:
            ended = "ended" if state == "ENDED" else f"ended ({state})"
            message = (
                f"its SLURM task {job.job_id} {ended} before the cell finished (cancelled, or "
                f"killed for memory or time?); its log: {job.paths.stderr}"
            )
            outcome = record_failure(cell, message, ended=True)
            outcomes.append((outcome.status, outcome.message))
    return outcomes
