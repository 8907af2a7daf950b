"""``uadbench export mlflow``: round trips through each local store kind, one live run per
cell across forced reruns, and one line for a store that cannot be used."""

import hashlib
import json
import os
import shutil
import socket
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from uadbench import registry
from uadbench.cli import app
from uadbench.running.planning import RunRequest, plan
from uadbench.running.record_store import read_record, scan_records, write_record
from uadbench.running.runner import execute

from .conftest import TINY_SYNTHETIC, ZHANGLAB_RESULTS

cli = CliRunner()
SETTINGS = ("MLFLOW_ALLOW_FILE_STORE", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT")


@pytest.fixture(autouse=True)
def _mlflow_settings_undone():
    """The MLflow settings an export makes for its process end with each test."""
    before = {name: os.environ.get(name) for name in SETTINGS}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def export(results: Path, *options: str):
    """``uadbench export mlflow`` of ``results``; fails the test unless it exits 0."""
    result = cli.invoke(app, ["export", "mlflow", "--results-dir", str(results), *options])
    assert result.exit_code == 0, result.output
    return result


def live_runs(client: MlflowClient, view: int = ViewType.ACTIVE_ONLY) -> list:
    experiment = client.get_experiment_by_name("uadbench")
    return client.search_runs([experiment.experiment_id], run_view_type=view, max_results=1000)


def millis(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp()) * 1000


@pytest.fixture
def committed(tmp_path) -> Path:
    """A results folder with two committed ZhangLab records: an epoch curve (ae) and two step
    curves (anatpaste)."""
    results = tmp_path / "results"
    for method in ("ae", "anatpaste"):
        source = sorted((ZHANGLAB_RESULTS / "runs" / "zhanglab" / method).glob("*.json"))[0]
        target = results / source.relative_to(ZHANGLAB_RESULTS)
        target.parent.mkdir(parents=True)
        shutil.copy(source, target)
    return results


@pytest.mark.parametrize("store", ["folder", "file", "sqlite", "default"])
def test_round_trip_through_each_local_store(committed, tmp_path, monkeypatch, store):
    monkeypatch.chdir(tmp_path)
    option, uri = {
        "folder": (["--tracking-uri", "store"], (tmp_path / "store").as_uri()),
        "file": (["--tracking-uri", (tmp_path / "store").as_uri()], (tmp_path / "store").as_uri()),
        "sqlite": (["--tracking-uri", "sqlite:///db/runs.db"], f"sqlite:///{tmp_path}/db/runs.db"),
        "default": ([], f"sqlite:///{tmp_path}/mlflow.db"),
    }[store]
    result = export(committed, *option)
    assert f"exported 2 run(s) to {uri} " in result.stderr
    client = MlflowClient(uri)
    runs = {run.data.tags["uadbench.record"]: run for run in live_runs(client)}
    records = scan_records(committed).records
    assert len(runs) == len(records) == 2
    for record in records:
        run = runs[str(record.path)]
        assert run.info.status == "FINISHED"
        assert run.info.start_time == millis(record.started_at)
        assert run.info.end_time == millis(record.finished_at)
        assert run.data.params["method"] == record.config.method
        assert run.data.params["seed"] == str(record.config.seed)
        assert run.data.params["param.image_size"] == str(record.config.image_size)
        assert run.data.params["data_fingerprint"] == record.fingerprint
        assert run.data.metrics["auroc"] == record.metrics["auroc"]
        assert run.data.metrics["average_precision"] == record.metrics["average_precision"]
        assert run.data.metrics["fit_s"] == record.timings["fit_s"]
        assert run.data.metrics["peak_memory_mb"] == record.timings["peak_memory_mb"]
        assert set(record.history) and all(len(c["step"]) > 1 for c in record.history.values())
        for name, curve in record.history.items():
            points = client.get_metric_history(run.info.run_id, f"train/{name}")
            assert [(p.step, p.value) for p in points] == list(
                zip(curve["step"], curve["value"], strict=True)
            )
            assert f"{name}: {curve['unit']}" in run.data.tags["uadbench.curve_units"]
        artifact = client.download_artifacts(run.info.run_id, "test_scores.json", str(tmp_path))
        assert json.loads(Path(artifact).read_text())["scores"] == record.test.scores
        if store in ("sqlite", "default"):  # artifacts beside the database
            assert run.info.artifact_uri.startswith(Path(uri[10:]).parent.as_uri() + "/mlartifacts")
    assert "exported 0 run(s)" in export(committed, *option).stderr  # exported once
    assert len(live_runs(client, ViewType.ALL)) == 2


@pytest.fixture
def two_cells(tmp_path, plugin_file) -> tuple[Path, list]:
    """A results folder with mean-distance seeds 0 and 1, and their planned runs."""
    registry.load_plugin(str(plugin_file))
    request = RunRequest(
        method="mean-distance",
        dataset="synthetic",
        seeds=(0, 1),
        data_options=TINY_SYNTHETIC,
        device="cpu",
        results_dir=tmp_path / "results",
    )
    planned = plan(request)
    for run in planned:
        assert execute(run, tmp_path / "cache").status == "ok"
    return tmp_path / "results", planned


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_forced_rerun_supersedes_the_replaced_records_run(two_cells, tmp_path):
    results, planned = two_cells
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    export(results, "--tracking-uri", uri)
    client = MlflowClient(uri)
    before = {run.data.tags["uadbench.record"]: run.info.run_id for run in live_runs(client)}
    replaced = planned[0].path
    old_sha, old_text = sha(replaced), replaced.read_bytes()
    assert execute(planned[0], tmp_path / "cache", force=True).status == "ok"
    assert sha(replaced) != old_sha  # the cell's record is a new one
    result = export(results, "--tracking-uri", uri)
    assert "1 run(s)" in result.stderr and "1 were there already; 1 superseded" in result.stderr
    live = live_runs(client)
    assert len(live) == 2 and len({run.data.tags["uadbench.cell"] for run in live}) == 2
    new = next(run for run in live if run.data.tags["uadbench.record"] == str(replaced))
    assert new.data.tags["uadbench.record_sha256"] == sha(replaced)
    (gone,) = live_runs(client, ViewType.DELETED_ONLY)
    assert gone.info.run_id == before[str(replaced)]
    assert gone.data.tags["uadbench.superseded_by"] == new.info.run_id
    again = export(results, "--tracking-uri", uri)
    assert "0 run(s)" in again.stderr and "2 were there already; 0 superseded" in again.stderr
    assert len(live_runs(client, ViewType.ALL)) == 3
    replaced.write_bytes(old_text)  # the old record back: its run is live again, alone
    back = export(results, "--tracking-uri", uri)
    assert "0 run(s)" in back.stderr and "2 were there already; 1 superseded" in back.stderr
    restored = next(r for r in live_runs(client) if r.data.tags["uadbench.record"] == str(replaced))
    assert restored.info.run_id == gone.info.run_id
    assert "uadbench.superseded_by" not in restored.data.tags


def test_a_failed_rerun_beside_the_finished_record_is_no_second_live_run(two_cells, tmp_path):
    results, planned = two_cells
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    export(results, "--tracking-uri", uri)
    failed = read_record(planned[1].path)
    failed.fail("killed", None)
    failed.rerun_of, failed.started_at = planned[1].path.name, "2100-01-01T00:00:00+00:00"
    write_record(planned[1].cell.rerun, failed)
    assert len(scan_records(results).records) == 3
    result = export(results, "--tracking-uri", uri)
    assert "0 run(s)" in result.stderr and "0 superseded" in result.stderr
    live = live_runs(MlflowClient(uri))
    assert sorted(run.data.tags["uadbench.record"] for run in live) == sorted(
        str(run.path) for run in planned
    )


def test_an_http_uri_goes_to_mlflow_as_typed(committed, monkeypatch):
    import mlflow.tracking
    from mlflow.exceptions import MlflowException

    built = []

    class Client:
        def __init__(self, uri: str) -> None:
            built.append(uri)

        def get_experiment_by_name(self, name: str) -> None:
            raise MlflowException("401 Unauthorized")

    monkeypatch.setattr(mlflow.tracking, "MlflowClient", Client)
    uri = "https://mlflow.example.org:8443/base?x=1"
    result = cli.invoke(app, ["export", "mlflow", "--results-dir", str(committed),
                              "--tracking-uri", uri])  # fmt: skip
    assert built == [uri]
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: cannot export to MLflow at {uri} (401 Unauthorized); start its server, or give "
        "--tracking-uri a folder, file://, sqlite:/// or http(s):// URI that works"
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("mistake", ["unreachable", "scheme", "no mlflow"])
def test_a_store_that_cannot_be_used_is_one_line(committed, monkeypatch, mistake):
    uri = {
        "unreachable": f"http://127.0.0.1:{closed_port()}",
        "scheme": "mlfow://typo",
        "no mlflow": "sqlite:///mlflow.db",
    }[mistake]
    if mistake == "no mlflow":
        monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    started = time.monotonic()
    result = cli.invoke(app, ["export", "mlflow", "--results-dir", str(committed),
                              "--tracking-uri", uri])  # fmt: skip
    assert time.monotonic() - started < 60  # not MLflow's minutes of retries
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.output
    expected = {
        "unreachable": f"cannot export to MLflow at {uri} ([Errno 111] Connection refused)",
        "scheme": f"cannot export to MLflow at {uri} (",
        "no mlflow": "exporting to MLflow needs it installed: pip install 'uadbench[mlflow]'",
    }[mistake]
    assert expected in line


def test_a_moved_record_or_an_older_export_keeps_its_run(committed, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    export(committed, "--tracking-uri", uri)
    client = MlflowClient(uri)
    older = live_runs(client)[0]
    client.delete_tag(older.info.run_id, "uadbench.cell")  # as exports before cells were
    moved = shutil.move(committed, tmp_path / "moved")
    result = export(moved, "--tracking-uri", uri)
    assert "0 run(s)" in result.stderr and "2 were there already" in result.stderr
    runs = live_runs(client)
    paths = {run.data.tags["uadbench.record"] for run in runs}
    assert paths == {str(record.path) for record in scan_records(moved).records}
    assert all("uadbench.cell" in run.data.tags for run in runs)
