"""Run records as MLflow runs, for the tracking tool researchers already use.

Each cell (the record's configuration hash, seed included) on its data (the data fingerprint)
becomes one live run in the experiment (default ``uadbench``), made from the record that stands
for it as on the leaderboard (a finished one before a forced rerun still running or failed
beside it, else the latest): its settings as parameters (the method's, and the data set, split,
profile, image size, seed, data options and fingerprint), its metrics (AUROC, average precision,
timings, peak memory), its training curves as step metrics (``train/<name>``, their units in the
tag ``uadbench.curve_units``; each point is dated at the run's start, as the record keeps no
time per step), its state and warnings as tags, its test ids, labels and scores as the artifact
``test_scores.json``, and its start and end as the record's ``started_at`` and ``finished_at``.

A record is exported once (its run is tagged with the SHA-256 of its file), so exporting again
changes nothing. When a cell's record has been replaced (a forced rerun, a running record that
finished), the run of the old one is tagged ``uadbench.superseded_by`` and deleted: MLflow hides
it and keeps it restorable until ``mlflow gc``.

Where to: ``sqlite:///mlflow.db`` by default (MLflow 3's own default, which ``mlflow ui`` opens
in that folder), artifacts in ``mlartifacts/`` beside the database; a folder or a ``file://``
URI is MLflow's file store (in maintenance mode: MLflow opens it with
``MLFLOW_ALLOW_FILE_STORE=true``); ``http(s)://`` is a tracking server, passed to MLflow as
typed. Needs the ``mlflow`` extra: ``pip install 'uadbench[mlflow]'``.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from uadbench.contracts.history import curve_unit
from uadbench.errors import UserError, one_line
from uadbench.running.run_record import RunRecord

DEFAULT_URI = "sqlite:///mlflow.db"
EXPERIMENT = "uadbench"
RECORD_TAG = "uadbench.record_sha256"
PATH_TAG = "uadbench.record"
CELL_TAG = "uadbench.cell"
SUPERSEDED_TAG = "uadbench.superseded_by"
SQLITE = "sqlite:///"
ARTIFACTS_FOLDER = "mlartifacts"
FIRST_CONTACT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
"""MLflow's HTTP settings for the first request: an unreachable server is named at once rather
than after minutes of retries (a user's own settings of these stand)."""


class MLflowMissingError(UserError, ImportError):
    """MLflow, or a module its store needs, is not installed."""


class TrackingStoreError(UserError):
    """The tracking URI names no store that MLflow can open or reach."""


@dataclass(frozen=True)
class Exported:
    """What an export did: where to, runs made, records already there, runs superseded."""

    uri: str
    made: list[str]
    already: int
    superseded: int


def export_records(
    records: list[RunRecord], tracking_uri: str = DEFAULT_URI, experiment: str = EXPERIMENT
) -> Exported:
    """One live MLflow run under ``tracking_uri`` for each cell of ``records``, superseding
    the runs of records replaced since."""
    uri = resolve_uri(tracking_uri)
    client, experiment_id = _open(uri, experiment)
    runs = _all_runs(client, experiment_id)
    by_sha = {run.data.tags.get(RECORD_TAG): run for run in runs}
    live = defaultdict(list)
    for run in runs:
        if run.info.lifecycle_stage == "active" and CELL_TAG in run.data.tags:
            live[run.data.tags[CELL_TAG]].append(run)
    made, already, superseded = [], 0, 0
    for cell, record in standing(records).items():
        sha = hashlib.sha256(Path(record.path).read_bytes()).hexdigest()
        run = by_sha.get(sha)
        if run is None:
            run_id = _export(client, experiment_id, record, sha, cell)
            made.append(run_id)
        else:
            run_id = run.info.run_id
            already += 1
            if run.info.lifecycle_stage != "active":  # its record is back
                client.restore_run(run_id)
                client.delete_tag(run_id, SUPERSEDED_TAG)
            for tag, value in {PATH_TAG: str(record.path), CELL_TAG: cell}.items():
                if run.data.tags.get(tag) != value:  # a moved record, an older export
                    client.set_tag(run_id, tag, value)
        for old in live[cell]:
            if old.info.run_id != run_id:
                client.set_tag(old.info.run_id, SUPERSEDED_TAG, run_id)
                client.delete_run(old.info.run_id)
                superseded += 1
    return Exported(uri, made, already, superseded)


def standing(records: list[RunRecord]) -> dict[str, RunRecord]:
    """The record that stands for each cell on its data: a finished one first, then the
    latest."""
    out: dict[str, RunRecord] = {}
    for record in sorted(records, key=lambda r: (r.ok, r.finished_at or r.started_at)):
        out[f"{record.config.hash}/{record.fingerprint}"] = record
    return out


def resolve_uri(tracking_uri: str) -> str:
    """The MLflow tracking URI for what a user typed: a folder as a ``file://`` URI, a SQLite
    database by its absolute path, any other URI unchanged."""
    if "://" not in tracking_uri:
        return Path(tracking_uri).expanduser().resolve().as_uri()
    if tracking_uri.startswith(SQLITE):
        return SQLITE + str(_database(tracking_uri))
    return tracking_uri


def viewer(uri: str) -> str:
    """How to look at the runs exported to ``uri``."""
    if uri.startswith(("http://", "https://")):
        return f"open {uri}"
    prefix = "MLFLOW_ALLOW_FILE_STORE=true " if uri.startswith("file:") else ""
    return f"{prefix}mlflow ui --backend-store-uri {uri}"


def _database(uri: str) -> Path:
    return Path(uri[len(SQLITE) :]).expanduser().resolve()


def _open(uri: str, experiment: str) -> tuple[Any, str]:
    """A client of the store at ``uri`` and the id of ``experiment`` there (made if new)."""
    try:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MLflowMissingError(
            "exporting to MLflow needs it installed: pip install 'uadbench[mlflow]'"
        ) from None
    if uri.startswith("file:"):  # the user asked for the file store
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # two lines a run
    try:
        with _first_contact():
            client = MlflowClient(uri)
            found = client.get_experiment_by_name(experiment)
            if found is not None:
                return client, found.experiment_id
            artifacts = _database(uri).parent / ARTIFACTS_FOLDER if uri.startswith(SQLITE) else None
            return client, client.create_experiment(
                experiment, artifact_location=artifacts.as_uri() if artifacts else None
            )
    except ImportError as error:
        raise MLflowMissingError(
            f"the MLflow store {uri} needs the module {error.name}, which is not installed: "
            "pip install 'uadbench[mlflow]' (MLflow with SQLite), or that database's driver"
        ) from None
    except (MlflowException, OSError) as error:
        raise TrackingStoreError(
            f"cannot export to MLflow at {uri} ({_root_cause(error)}); start its server, or "
            "give --tracking-uri a folder, file://, sqlite:/// or http(s):// URI that works"
        ) from None


@contextmanager
def _first_contact() -> Iterator[None]:
    """MLflow's HTTP settings for the first request (``FIRST_CONTACT``) in the block."""
    added = {k: v for k, v in FIRST_CONTACT.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _root_cause(error: BaseException) -> str:
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    return one_line(str(error)) or type(error).__name__


def _all_runs(client: Any, experiment_id: str) -> list[Any]:
    """Every run of the experiment, deleted ones too."""
    from mlflow.entities import ViewType

    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        runs += page
        token = page.token
        if not token:
            return runs


def _export(client: Any, experiment_id: str, record: RunRecord, sha: str, cell: str) -> str:
    from mlflow.entities import Metric, Param

    c = record.config
    start = _millis(record.started_at)
    end = _millis(record.finished_at) if record.finished_at else None
    run = client.create_run(
        experiment_id,
        start_time=start,
        tags=_tags(record, sha, cell),
        run_name=f"{c.method}/{c.dataset}/seed{c.seed}",
    )
    run_id = run.info.run_id
    curves = [
        Metric(f"train/{name}", float(value), start, int(step))
        for name, curve in record.history.items()
        for step, value in zip(curve["step"], curve["value"], strict=True)
    ]
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), end or start, 0) for k, v in _metrics(record).items()]
        + curves,
        params=[Param(k, str(v)) for k, v in _settings(record).items()],
    )
    if (test := record.test) is not None:
        scores = {"ids": test.ids, "labels": test.labels, "scores": test.scores}
        client.log_dict(run_id, scores, "test_scores.json")
    status = {"ok": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}.get(record.state)
    if status is not None and end is not None:
        client.set_terminated(run_id, status, end_time=end)
    elif status is not None:  # killed before it could say when: no end time
        client.update_run(run_id, status=status)
    return run_id


def _millis(timestamp: str) -> int:
    return round(datetime.fromisoformat(timestamp).timestamp() * 1000)


def _tags(record: RunRecord, sha: str, cell: str) -> dict[str, str]:
    tags = {
        RECORD_TAG: sha,
        CELL_TAG: cell,
        PATH_TAG: str(record.path),
        "uadbench.state": record.state,
        "uadbench.row": record.row_key[:8],
        "uadbench.warnings": "; ".join(record.warnings),
        "uadbench.changed_params": ", ".join(f"{k}={v}" for k, v in record.changed_params.items()),
    }
    if record.history:
        units = (f"{name}: {curve_unit(curve)}" for name, curve in record.history.items())
        tags["uadbench.curve_units"] = ", ".join(units)
    if record.config.label_use:
        tags["uadbench.label_use"] = record.config.label_use
    if record.code.get("commit"):
        tags["uadbench.commit"] = record.code["commit"]
    return tags


def _settings(record: RunRecord) -> dict[str, Any]:
    c = record.config
    return {
        **{f"param.{k}": v for k, v in c.params.items()},
        **c.essentials(),
        "data_fingerprint": record.fingerprint,
        **{f"data.{k}": v for k, v in c.dataset_options.items()},
    }


def _metrics(record: RunRecord) -> dict[str, float]:
    values = {k: v for k, v in record.timings.items() if isinstance(v, int | float)}
    if record.ok:
        values["auroc"] = record.metrics["auroc"]
        values["average_precision"] = record.metrics["average_precision"]
    return values
