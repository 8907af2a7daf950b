"""Run records as MLflow runs, for the tracking tool researchers already use.

Each readable record becomes one run in the experiment (default ``uadbench``): its settings as
parameters (the method's, and the data set, split, profile, image size, seed, data options and
fingerprint), its metrics (AUROC, average precision, timings, peak memory), its state and
warnings as tags, and its test ids, labels and scores as the artifact ``test_scores.json``.
A record already exported to the experiment (tagged with the SHA-256 of its file) is not
exported again. The default store is ``./mlruns``, MLflow's file store (kept on for this
export: newer MLflow asks for a database by default); any tracking URI works.

Needs the ``mlflow`` extra: ``pip install 'uadbench[mlflow]'`` (``mlflow-skinny``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uadbench.errors import UserError
from uadbench.running.run_record import RunRecord

DEFAULT_URI = "./mlruns"
EXPERIMENT = "uadbench"
RECORD_TAG = "uadbench.record_sha256"


class MLflowMissingError(UserError, ImportError):
    """The MLflow client is not installed."""


@dataclass(frozen=True)
class Exported:
    """What an export did: runs made, and records already there."""

    made: list[str]
    already: int


def export_records(
    records: list[RunRecord], tracking_uri: str = DEFAULT_URI, experiment: str = EXPERIMENT
) -> Exported:
    """Every record in ``records`` as an MLflow run under ``tracking_uri``; returns the new
    run ids and how many records were there already."""
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    done = {r.data.tags.get(RECORD_TAG) for r in client.search_runs([experiment_id])}
    made, already = [], 0
    for record in records:
        sha = hashlib.sha256(Path(record.path).read_bytes()).hexdigest()
        if sha in done:
            already += 1
            continue
        made.append(_export(client, experiment_id, record, sha))
    return Exported(made, already)


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MLflowMissingError(
            "exporting to MLflow needs its client: pip install 'uadbench[mlflow]'"
        ) from None
    if "://" not in tracking_uri:  # a folder: MLflow's file store
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        tracking_uri = Path(tracking_uri).resolve().as_uri()
    return MlflowClient(tracking_uri)


def _export(client: Any, experiment_id: str, record: RunRecord, sha: str) -> str:
    from mlflow.entities import Metric, Param

    c = record.config
    name = f"{c.method}/{c.dataset}/seed{c.seed}"
    run = client.create_run(experiment_id, run_name=name, tags=_tags(record, sha))
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in _metrics(record).items()],
        params=[Param(k, str(v)[:500]) for k, v in _settings(record).items()],
    )
    if (test := record.test) is not None:
        scores = {"ids": test.ids, "labels": test.labels, "scores": test.scores}
        client.log_dict(run.info.run_id, scores, "test_scores.json")
    client.set_terminated(run.info.run_id, "FINISHED" if record.ok else "FAILED")
    return run.info.run_id


def _tags(record: RunRecord, sha: str) -> dict[str, str]:
    tags = {
        RECORD_TAG: sha,
        "uadbench.record": str(record.path),
        "uadbench.state": record.state,
        "uadbench.row": record.row_key[:8],
        "uadbench.warnings": "; ".join(record.warnings),
        "uadbench.changed_params": ", ".join(f"{k}={v}" for k, v in record.changed_params.items()),
    }
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
