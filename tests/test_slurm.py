"""The slurm executor: against a real single-node SLURM (``.ci/slurm-up``) when
``UADBENCH_SLURM`` is set, the same board as local and Ray, a task cancelled midway, a task
requeued, ``--no-wait`` and ``--status``, failed tasks; and without SLURM, what needs none."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from uadbench.running.executors import (
    SlurmError,
    SlurmExecutor,
    SlurmTask,
    SlurmTaskStopped,
    slurm_minutes,
)
from uadbench.running.grid import Grid
from uadbench.running.sweep import cell_states, run_sweep

from .commands import FAULTS, TINY, invoke
from .test_sweep import SWEEP_PLUGINS, grid, scores

SLURM_ENV = "UADBENCH_SLURM"
SLURM_COMMANDS = ("sbatch", "sinfo", "squeue", "srun", "scancel", "scontrol")
UP = ("idle", "mixed", "allocated", "completing")
QUICK = {"poll_s": 1}  # look at the queue every second: the cells here take seconds


@pytest.fixture(scope="module")
def slurm() -> None:
    """A SLURM node that is up. Skips when UADBENCH_SLURM is unset (a machine without SLURM);
    fails when it is set and SLURM's commands are missing or no node is up (CI)."""
    if not os.environ.get(SLURM_ENV):
        pytest.skip(f"{SLURM_ENV} is unset; `export SLURM_CONF=$(.ci/slurm-up) {SLURM_ENV}=1`")
    missing = [command for command in SLURM_COMMANDS if shutil.which(command) is None]
    if missing:
        pytest.fail(f"{SLURM_ENV} is set, but {', '.join(missing)} are not on PATH")
    nodes = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if nodes.returncode or not any(state.startswith(UP) for state in nodes.stdout.split()):
        pytest.fail(f"{SLURM_ENV} is set, but no SLURM node is up: {nodes.stdout}{nodes.stderr}")


def queued(job: str) -> str:
    """The job's states that squeue lists ("" when it lists none)."""
    listed = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True)
    return listed.stdout.strip()


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.5)


def record(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def csv_board(results: Path) -> str:
    board = invoke("leaderboard", "--results-dir", results, "--format", "csv")
    assert board.exit_code == 0, board.output
    return board.stdout


@pytest.mark.slurm
def test_local_ray_and_slurm_give_the_same_board(tmp_path, slurm):
    import ray

    cache, cells = tmp_path / "cache", dict(methods=["mean-distance"], seeds=(0, 1, 2, 3))
    local = run_sweep(grid(tmp_path / "local", **cells), cache)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        on_ray = run_sweep(grid(tmp_path / "ray", **cells), cache, executor="ray")
    finally:
        ray.shutdown()
    on_slurm = run_sweep(grid(tmp_path / "slurm", **cells), cache, SlurmExecutor(**QUICK))
    assert local.done == on_ray.done == on_slurm.done == 4
    assert on_slurm.failed == []
    boards = [csv_board(tmp_path / where / "results") for where in ("local", "ray", "slurm")]
    assert boards[0].count("\n") == 2 and boards[0] == boards[1] == boards[2]
    assert scores(tmp_path / "local" / "results") == scores(tmp_path / "slurm" / "results")
    again = run_sweep(grid(tmp_path / "slurm", **cells), cache, SlurmExecutor(**QUICK))
    assert (again.done, again.skipped) == (0, 4)


def held_at_fit(tmp_path: Path, marker: Path, hold: int, monkeypatch) -> Grid:
    """A grid of one ``steady`` cell whose run touches ``marker`` at fit and waits ``hold`` s."""
    settings = {"FAULTS_STAGE": "fit", "FAULTS_MARKER": marker, "FAULTS_HOLD": hold}
    for name, value in settings.items():
        monkeypatch.setenv(name, str(value))
    return grid(tmp_path, ["steady"], seeds=(0,), plugins=[FAULTS], image_sizes=[16])


@pytest.mark.slurm
def test_a_task_cancelled_midway_is_rerun_by_the_next_sweep(tmp_path, slurm, monkeypatch):
    marker, cache = tmp_path / "reached-fit", tmp_path / "cache"
    held = held_at_fit(tmp_path, marker, 300, monkeypatch)
    status = run_sweep(held, cache, SlurmExecutor(wait=False))
    [(cell, job)] = status.submitted
    wait_for(marker.exists, 180, "the task to reach fit")
    assert record(cell.path)["status"] == "running"
    subprocess.run(["scancel", job], check=True)
    wait_for(lambda: queued(job) in ("", "CANCELLED"), 120, "the cancelled task to end")
    written = [p for p in cell.path.parent.iterdir() if not p.name.startswith(".")]
    assert written == [cell.path]  # no temporary file beside it
    [left] = cell_states(held)  # the record reads whole, and as no longer running
    assert (left.state, left.detail.split(":")[0]) == ("failed", "interrupted")
    monkeypatch.delenv("FAULTS_STAGE")
    rerun = run_sweep(held, cache, SlurmExecutor(**QUICK))
    assert (rerun.done, rerun.failed) == (1, [])
    assert record(cell.path)["status"] == "ok"


@pytest.mark.slurm
def test_a_preempted_task_is_requeued_and_resumes_from_the_records(tmp_path, slurm, monkeypatch):
    marker, cache = tmp_path / "reached-fit", tmp_path / "cache"
    held = held_at_fit(tmp_path, marker, 20, monkeypatch)
    [(cell, job)] = run_sweep(held, cache, SlurmExecutor(wait=False)).submitted
    wait_for(marker.exists, 180, "the task to reach fit")
    marker.unlink()
    for signal in ("TERM", "USR2"):  # what SLURM sends a task it preempts (submitit's way)
        subprocess.run(["scancel", f"--signal={signal}", job], check=True)
    wait_for(lambda: record(cell.path).get("status") == "failed", 60, "the stop recorded")
    assert "stopped before the end" in record(cell.path)["error"]["message"]
    wait_for(lambda: queued(job) == "PENDING", 60, "the task to be requeued")
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    wait_for(lambda: record(cell.path).get("status") == "ok", 180, "the requeued task")
    assert marker.exists()  # it ran the cell again, from the start


@pytest.mark.slurm
def test_no_wait_prints_the_job_id_and_status_shows_each_cell(tmp_path, slurm):
    args = [
        "sweep", "--method", "mean-distance", "--dataset", "synthetic", "--seeds", "0-1",
        "--image-size", "32", "--device", "cpu", "--results-dir", tmp_path / "results",
        "--cache-dir", tmp_path / "cache", *(a for p in SWEEP_PLUGINS for a in ("--plugin", p)),
        *TINY,
    ]  # fmt: skip
    submitted = invoke(*args, "--executor", "slurm", "--no-wait")
    assert submitted.exit_code == 0, submitted.output
    job = submitted.stdout.strip()
    assert job.isdigit()
    counts = r"done (\d)  running (\d)  failed (\d)  not started (\d)"
    first = re.search(counts, invoke(*args, "--status").stdout)
    assert first and sum(map(int, first.groups())) == 2 and first[3] == "0"
    wait_for(lambda: queued(job) in ("", "COMPLETED"), 180, "the job to end")
    last = invoke(*args, "--status")
    assert "done 2  running 0  failed 0  not started 0" in last.stdout


@pytest.mark.slurm
def test_failed_tasks_record_why(tmp_path, slurm):
    status = run_sweep(
        grid(tmp_path, ["broken", "kills-its-worker"], seeds=(0,)),
        tmp_path / "cache",
        SlurmExecutor(**QUICK),
    )
    assert status.done == 0 and len(status.failed) == 2
    why = {cell.config.method: message for cell, message in status.failed}
    assert "meant to fail" in why["broken"]
    killed = r"SLURM task \S+ ended \(FAILED\) before the cell finished"
    assert re.search(killed, why["kills-its-worker"])
    for cell, message in status.failed:
        written = record(cell.path)
        assert written["status"] == "failed" and written["error"]["message"] == message


def test_a_task_is_requeued_once(tmp_path):
    pytest.importorskip("submitit")
    task = SlurmTask([({"method": "steady"}, 0)], str(tmp_path), [], 1)
    again = task.checkpoint()
    assert again.function.requeued and not task.stopped
    with pytest.raises(SlurmTaskStopped, match="requeued once; give it more --slurm-time"):
        again.function.checkpoint()
    assert again.function.stopped and again.function() == []


def test_slurm_times_and_a_missing_sbatch(monkeypatch):
    assert [slurm_minutes(t) for t in (None, "90", "5:30", "4:00:00", "1-12", "1-0:30")] == [
        60, 90, 6, 240, 2160, 1470,
    ]  # fmt: skip
    for wrong in ("1h", "1:2:3:4", "0", "-1"):
        with pytest.raises(ValueError, match="--slurm-time"):
            slurm_minutes(wrong)
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(SlurmError, match="needs SLURM's sbatch, squeue, srun, scancel on PATH"):
        SlurmExecutor().check()
