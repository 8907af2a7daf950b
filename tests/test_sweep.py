"""Benchmark grids: validation, local and Ray executors, failures, resuming."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uadbench.running.grid import Grid, load_grid
from uadbench.running.sweep import run_sweep

from .conftest import PLUGINS, TINY_SYNTHETIC

SWEEP_PLUGINS = [str(PLUGINS / "mean_distance.py"), str(PLUGINS / "sweep_methods.py")]


def grid(tmp_path: Path, methods, seeds=(0, 1), **changes) -> Grid:
    values = dict(
        methods=methods,
        datasets=["synthetic"],
        seeds=seeds,
        data_options=TINY_SYNTHETIC,
        params={"ae": {"epochs": "1"}},
        results_dir=tmp_path / "results",
        device="cpu",
        plugins=SWEEP_PLUGINS,
        image_sizes=[32],
    )
    values.update(changes)
    return Grid(**values)


def scores(results: Path) -> dict[str, list[float]]:
    return {p.name: json.loads(p.read_text())["test"]["scores"] for p in results.rglob("*.json")}


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_bad_names_are_all_listed_before_any_cell(tmp_path):
    with pytest.raises(ValueError, match=r"(?s)no cell was started.*'nope'.*'nada'"):
        run_sweep(
            grid(tmp_path, ["ae", "nope"], datasets=["synthetic", "nada"]), tmp_path / "cache"
        )
    assert not (tmp_path / "results").exists()


def test_local_sweep_runs_every_cell_then_skips_them(tmp_path):
    first = run_sweep(grid(tmp_path, ["ae", "mean-distance"]), tmp_path / "cache")
    assert (first.done, first.skipped, first.failed) == (4, 0, [])
    again = run_sweep(grid(tmp_path, ["ae", "mean-distance"]), tmp_path / "cache")
    assert (again.done, again.skipped) == (0, 4)


def test_a_failed_cell_is_reported_and_the_others_complete(tmp_path):
    status = run_sweep(grid(tmp_path, ["broken", "mean-distance"]), tmp_path / "cache")
    assert status.done == 2 and len(status.failed) == 2
    assert all("meant to fail" in message for _, message in status.failed)


def test_grid_files_in_toml_and_yaml(tmp_path):
    (tmp_path / "g.toml").write_text(
        'methods = ["ae"]\ndatasets = ["synthetic"]\nseeds = [3]\n[params.ae]\nepochs = 2\n'
    )
    (tmp_path / "g.yaml").write_text(
        "methods: [ae]\ndatasets: [synthetic]\nseeds: [3]\nparams: {ae: {epochs: 2}}\n"
    )
    toml, yaml = load_grid(tmp_path / "g.toml"), load_grid(tmp_path / "g.yaml")
    assert toml == yaml and toml.params_for("ae") == {"epochs": "2"}
    (tmp_path / "bad.toml").write_text('method = ["ae"]\n')
    with pytest.raises(ValueError, match=r"unknown key.*method"):
        load_grid(tmp_path / "bad.toml")


@pytest.mark.slow
def test_ray_gives_the_same_records_as_local(tmp_path, ray_instance):
    local = run_sweep(grid(tmp_path / "local", ["ae", "mean-distance"]), tmp_path / "cache")
    remote = run_sweep(
        grid(tmp_path / "ray", ["ae", "mean-distance"]), tmp_path / "cache", executor="ray"
    )
    assert local.done == remote.done == 4
    assert scores(tmp_path / "local" / "results") == scores(tmp_path / "ray" / "results")


@pytest.mark.slow
def test_a_cell_that_kills_its_worker_is_a_failed_cell(tmp_path, ray_instance):
    status = run_sweep(
        grid(tmp_path, ["kills-its-worker", "mean-distance"], seeds=(0,)),
        tmp_path / "cache",
        executor="ray",
    )
    assert status.done == 1 and len(status.failed) == 1
    cell, message = status.failed[0]
    assert "worker running this cell died" in message
    assert json.loads(cell.path.read_text())["status"] == "failed"


@pytest.mark.slow
def test_a_killed_ray_sweep_restarts_with_the_missing_cells_only(tmp_path):
    results = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "uadbench",
        "sweep",
        "--method",
        "slow",
        "--dataset",
        "synthetic",
        "--seeds",
        "0-5",
        "--image-size",
        "16",
        "--executor",
        "ray",
        "--cpus-per-cell",
        "2",
        "--results-dir",
        str(results),
        *(a for p in SWEEP_PLUGINS for a in ("--plugin", p)),
        *(a for k, v in TINY_SYNTHETIC.items() for a in ("--data-option", f"{k}={v}")),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline, finished = time.time() + 240, []
    while time.time() < deadline and len(finished) < 2:
        time.sleep(0.5)
        finished = [
            p
            for p in results.rglob("*.json")
            if json.loads(p.read_text() or "{}").get("status") == "ok"
        ]
    assert len(finished) >= 2, "the sweep did not get going"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {p.name: json.loads(p.read_text())["started_at"] for p in finished}
    assert len(list(results.rglob("*.json"))) < 6 or any(
        json.loads(p.read_text())["status"] != "ok" for p in results.rglob("*.json")
    )
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    records = {p.name: json.loads(p.read_text()) for p in results.rglob("*.json")}
    assert len(records) == 6 and all(r["status"] == "ok" for r in records.values())
    assert all(records[name]["started_at"] == started for name, started in before.items())
    assert f"skipped {len(before)}" in rerun.stderr


def test_an_executor_of_ones_own_runs_the_cells(tmp_path):
    from uadbench.running.executors import LocalExecutor

    class Backwards(LocalExecutor):
        """The cells last to first: an executor is a class with check, in_flight and run."""

        def run(self, cells, cache_dir, plugins):
            for finished in super().run(list(reversed(cells)), cache_dir, plugins):
                order.append(finished.cell.seed)
                yield finished

    order: list[int] = []
    status = run_sweep(
        grid(tmp_path, ["mean-distance"], seeds=(0, 1, 2)), tmp_path / "c", Backwards()
    )
    assert (status.done, status.failed) == (3, []) and order == [2, 1, 0]


def test_status_says_where_each_cell_stands_from_its_record(tmp_path):
    from uadbench.running.claims import claim_path
    from uadbench.running.sweep import cell_states

    both = grid(tmp_path, ["mean-distance", "broken"], seeds=(0, 1))
    run_sweep(grid(tmp_path, ["mean-distance", "broken"], seeds=(0,)), tmp_path / "cache")
    cells = {(s.cell.config.method, s.cell.seed): s.cell for s in cell_states(both)}
    running = json.loads(cells["broken", 0].path.read_text())
    del running["error"], running["finished_at"]
    running |= {"status": "running", "process": {"pid": 1, "host": "node7"}}
    cells["mean-distance", 1].path.write_text(json.dumps(running))
    claim = claim_path(cells["mean-distance", 1].path)  # node7's claim, its heartbeat fresh
    claim.write_text(json.dumps({"pid": 1, "host": "node7", "token": "t"}))
    states = {(s.cell.config.method, s.cell.seed): (s.state, s.detail) for s in cell_states(both)}
    assert states["mean-distance", 0][0] == "done"
    assert states["broken", 0] == ("failed", "RuntimeError: this cell is meant to fail")
    assert states["mean-distance", 1] == ("running", "on node7")
    assert states["broken", 1] == ("not started", "")
    claim.unlink()  # no claim, no heartbeat: nobody runs it any more
    states = {(s.cell.config.method, s.cell.seed): s.state for s in cell_states(both)}
    assert states["mean-distance", 1] == "failed"
