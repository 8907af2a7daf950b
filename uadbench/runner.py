"""Running one method on one data set for one seed, and recording what happened.

``plan`` turns a request into runs and raises every configuration error before any work
starts. ``execute`` prepares the data, fits the method on the training normals, scores the
validation normals and the test images, and writes the run record: ``ok`` with scores and
metrics, or ``failed`` with the error, never nothing.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from uadbench import registry
from uadbench.dataset import Dataset
from uadbench.history import TrainingHistory
from uadbench.method import LabelledImages, Method, RunContext
from uadbench.metrics import auroc, average_precision, image_metrics
from uadbench.prepare import prepare
from uadbench.progress import ProgressReporter, SilentProgress
from uadbench.records import (
    SCHEMA,
    config_hash,
    process_info,
    read_record,
    record_path,
    write_record,
)
from uadbench.runtime import device_info, package_versions, resolve_device, seed_everything


class ResultsDirError(OSError):
    """The results directory cannot be written."""


@dataclass(frozen=True)
class RunRequest:
    """What a user asks ``uadbench run`` for (every seed of it)."""

    method: str
    dataset: str
    seeds: Sequence[int] = (0,)
    profile: str = "quick"
    image_size: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    data_options: Mapping[str, str] = field(default_factory=dict)
    device: str = "auto"
    data_root: Path | None = None
    results_dir: Path = Path("results")
    skip_unreadable: bool = False


@dataclass(frozen=True)
class PlannedRun:
    """One seed of a request, resolved and validated, with the path of its record."""

    method_cls: type[Method]
    params: Any
    dataset: Dataset
    device: str
    config: dict[str, Any]
    path: Path
    request: RunRequest

    @property
    def seed(self) -> int:
        return int(self.config["seed"])


@dataclass(frozen=True)
class Outcome:
    """What became of a planned run: ``ok``, ``failed`` or ``skipped`` (already recorded)."""

    status: str
    path: Path
    record: dict[str, Any]


def plan(request: RunRequest) -> list[PlannedRun]:
    """Resolve names, parameters, device and record paths; raise before any work on bad input."""
    if not request.seeds:
        raise ValueError("no seeds given; pass --seed N or --seeds 0,1,2")
    if request.image_size is not None and request.image_size < 1:
        raise ValueError(
            f"--image-size must be a positive number of pixels, got {request.image_size}"
        )
    method_cls = registry.methods.get(request.method)
    dataset_cls = registry.datasets.get(request.dataset)
    overrides = dict(request.params)
    if request.image_size is not None:
        overrides["image_size"] = str(request.image_size)
    params = method_cls.params_for(request.profile, overrides)
    method_cls.check_params(params)
    dataset = dataset_cls.from_settings(request.data_root, request.data_options)
    device = resolve_device(request.device)
    ensure_writable(request.results_dir)
    runs = []
    for seed in dict.fromkeys(request.seeds):
        config = {
            "method": request.method,
            "profile": request.profile,
            "params": dataclasses.asdict(params),
            "dataset": request.dataset,
            "dataset_options": dataset.get_options(),
            "split_version": dataset.split_version,
            "image_size": params.image_size,
            "seed": int(seed),
            "label_use": method_cls.label_use(params),
            "skip_unreadable": request.skip_unreadable,
        }
        if method_cls.version != 1:  # version 1 is implied, so older records keep their hash
            config["method_version"] = method_cls.version
        path = record_path(request.results_dir, config)
        runs.append(PlannedRun(method_cls, params, dataset, device, config, path, request))
    return runs


def ensure_writable(results_dir: Path) -> None:
    """Raise ``ResultsDirError`` unless records can be written under ``results_dir``."""
    try:
        Path(results_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".write-check-"):
            pass
    except OSError as error:
        raise ResultsDirError(
            f"cannot write run records in {results_dir}: {error.strerror or error}; "
            "choose another --results-dir"
        ) from error


def finished_record(run: PlannedRun) -> dict[str, Any] | None:
    """The run's existing ``ok`` record, if there is one."""
    try:
        record = read_record(run.path)
    except (OSError, ValueError):
        return None
    return record if record.get("status") == "ok" else None


def execute(
    run: PlannedRun,
    cache_dir: Path,
    progress: ProgressReporter | None = None,
    force: bool = False,
) -> Outcome:
    """Run ``run`` unless an ``ok`` record of it exists (or ``force``); record the result."""
    if not force and (existing := finished_record(run)) is not None:
        return Outcome("skipped", run.path, existing)
    progress = progress or SilentProgress()
    record = _new_record(run)
    write_record(run.path, record)
    started = time.perf_counter()
    history = TrainingHistory()
    try:
        record.update(_fit_and_score(run, cache_dir, progress, history, record["timings"]))
        record["status"] = "ok"
    except KeyboardInterrupt:
        _fail(record, "interrupted by the user (Ctrl-C)", None)
        _finish(run, record, started, history)
        raise
    except SystemExit as stop:  # e.g. Lightning turns SIGTERM into a SystemExit with status 0
        _fail(record, f"stopped before the end (SystemExit {stop.code!r}, a signal?)", None)
        _finish(run, record, started, history)
        raise SystemExit(f"uadbench: run stopped before the end; see {run.path}") from stop
    except Exception as error:
        _fail(record, f"{type(error).__name__}: {error}", traceback.format_exc())
    _finish(run, record, started, history)
    return Outcome(record["status"], run.path, record)


def failure_record(run: PlannedRun, message: str) -> dict[str, Any]:
    """A ``failed`` record for a run that could not record its own failure (a dead worker)."""
    record = _new_record(run)
    _fail(record, message, None)
    record["finished_at"] = _now()
    return record


def _new_record(run: PlannedRun) -> dict[str, Any]:
    config = run.config
    return {
        "schema": SCHEMA,
        "status": "running",
        "method": config["method"],
        "dataset": config["dataset"],
        "split_version": config["split_version"],
        "profile": config["profile"],
        "image_size": config["image_size"],
        "seed": config["seed"],
        "label_use": config["label_use"],
        "config": config,
        "config_hash": config_hash(config),
        "started_at": _now(),
        "process": process_info(),
        "versions": package_versions(),
        "hardware": device_info(run.device),
        "timings": {},
        "warnings": [],
    }


def _fit_and_score(
    run: PlannedRun,
    cache_dir: Path,
    progress: ProgressReporter,
    history: TrainingHistory,
    timings: dict[str, float],
) -> dict[str, Any]:
    clock = time.perf_counter()
    data = prepare(
        run.dataset, run.params.image_size, cache_dir, progress, run.config["skip_unreadable"]
    )
    train = data.split("train", extras=run.method_cls.requires)
    val = data.split("val", extras=run.method_cls.requires)
    test = data.split("test")
    labels = data.labels("test")
    timings["prepare_s"] = round(time.perf_counter() - clock, 3)

    seed_everything(run.seed)
    peek = LabelledImages(test.images, labels) if run.config["label_use"] else None
    with tempfile.TemporaryDirectory(prefix="uadbench-scratch-") as scratch:
        context = RunContext(run.device, run.seed, Path(scratch), progress, history, peek)
        method = run.method_cls(run.params, context)
        clock = time.perf_counter()
        method.fit(train, val if len(val) else None)
        timings["fit_s"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        variants = _checked_variants(method.score_variants(test.images), len(test), "test")
        timings["score_s"] = round(time.perf_counter() - clock, 3)
        val_variants = (
            _checked_variants(method.score_variants(val.images), len(val), "val")
            if len(val)
            else {}
        )
    reported = next(iter(variants))
    test_scores = variants[reported]
    warnings = []
    if data.skipped:
        warnings.append(
            f"{len(data.skipped)} unreadable image(s) were left out (--skip-unreadable); "
            "they are listed under data.skipped"
        )
    if np.ptp(test_scores) == 0:
        warnings.append(
            "the method gave every test image the same score (a collapsed model?): its AUROC "
            "of 0.5 says nothing about the method"
        )
    return {
        "data": {
            "checksum": data.checksum,
            "cache": str(data.folder),
            "n_train": len(train),
            "n_val": len(val),
            "n_test": len(test),
            "skipped": data.skipped,
        },
        "test": {
            "ids": list(test.ids),
            "labels": labels.tolist(),
            "scores": test_scores.tolist(),
            "reported_score": reported,
            "score_variants": {name: s.tolist() for name, s in variants.items()},
        },
        "val": {
            "ids": list(val.ids),
            "scores": val_variants[reported].tolist() if val_variants else [],
        },
        "metrics": {
            **image_metrics(labels, test_scores),
            "variants": {
                name: {"auroc": auroc(labels, s), "average_precision": average_precision(labels, s)}
                for name, s in variants.items()
            },
        },
        "warnings": warnings,
    }


def _checked_variants(variants: Any, expected: int, split: str) -> dict[str, np.ndarray]:
    if not isinstance(variants, dict) or not variants:
        raise TypeError("score_variants() must return a non-empty dict of name -> scores")
    checked = {}
    for name, scores in variants.items():
        scores = np.asarray(scores, dtype=float).reshape(-1)
        if scores.shape != (expected,):
            raise ValueError(
                f"score {name!r} has {scores.size} values for {expected} {split} images"
            )
        bad = int((~np.isfinite(scores)).sum())
        if bad:
            raise FloatingPointError(
                f"score {name!r} has {bad} non-finite value(s) among {expected} {split} images"
            )
        checked[name] = scores
    return checked


def _fail(record: dict[str, Any], message: str, trace: str | None) -> None:
    record["status"] = "failed"
    record["error"] = {"message": message, "traceback": trace}


def _finish(
    run: PlannedRun, record: dict[str, Any], started: float, history: TrainingHistory
) -> None:
    record["history"] = history.as_dict()
    record["notes"] = history.notes
    record["warnings"] = [*record.get("warnings", []), *history.warnings]
    record["timings"]["wall_s"] = round(time.perf_counter() - started, 3)
    record["finished_at"] = _now()
    write_record(run.path, record)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
