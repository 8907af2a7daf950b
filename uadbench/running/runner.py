"""Running one method on one data set for one seed, and recording what happened.

``plan`` turns a request into runs and raises every configuration error before any work
starts (a ``UserError``: no record is written). ``execute`` prepares the data, fits the method
on the training normals, scores the validation normals and the test images, and writes the run
record: ``ok`` with scores and metrics, or ``failed`` with the error, never nothing. A finished
record is never replaced by anything but a finished record of the same cell (see
``uadbench.running.records``), and a final write that fails (a full disk) keeps what it can
elsewhere and says where.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from uadbench import registry
from uadbench.atomic import interrupts_deferred, unwritable
from uadbench.contracts.dataset import Dataset
from uadbench.contracts.extras import get_extra
from uadbench.contracts.history import TrainingHistory
from uadbench.contracts.method import DefaultParams, LabelledImages, Method, RunContext
from uadbench.contracts.progress import ProgressReporter, SilentProgress
from uadbench.data.fingerprint import DataSource, resolve
from uadbench.data.prepare import check_cache_dir, prepare
from uadbench.errors import ParameterError, UserError, one_line
from uadbench.processes import process_info
from uadbench.running.records import (
    SCHEMA,
    CellBusyError,
    claim,
    config_hash,
    existing_record,
    record_path,
    rerun_path,
    set_aside_path,
    write_record,
)
from uadbench.running.runtime import device_info, package_versions, resolve_device, seed_everything
from uadbench.statistics.metrics import auroc, average_precision, image_metrics

MAX_SEED = 2**32 - 1
"""Seeds are whole numbers from 0 to this (what every random generator of the stack takes)."""


class ResultsDirError(UserError, OSError):
    """The results directory cannot be written."""


def parse_seeds(text: str, option: str = "--seeds") -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` (or a mix) as a list of seeds; ``ParameterError`` for any part
    that is not a seed or an ascending range of seeds."""
    seeds: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        if not (low.strip().isdigit() and (not dash or high.strip().isdigit())):
            raise ParameterError(
                f"{option} wants seeds (whole numbers from 0) like 0,1,2 or ranges like 0-4; "
                f"{part!r} in {text!r} is neither"
            )
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ParameterError(
                f"{option}: the range {part!r} runs backwards; write {last}-{first}"
            )
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise ParameterError(f"{option} is empty; give at least one seed, e.g. {option} 0,1,2")
    return seeds


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
    changed_params: dict[str, Any] = field(default_factory=dict)
    """The parameters that differ from the profile's."""
    warnings: tuple[str, ...] = ()
    """What the parameters alone make worth knowing (e.g. no training at all)."""
    source: DataSource | None = None
    """The data, when it was resolved at planning."""

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def label(self) -> str:
        """``<method> on <dataset> (seed <n>)``, for messages."""
        return f"{self.config['method']} on {self.config['dataset']} (seed {self.seed})"


@dataclass(frozen=True)
class Outcome:
    """What became of a planned run: ``ok``, ``failed``, ``skipped`` (already recorded) or
    ``busy`` (another process is running it)."""

    status: str
    path: Path
    record: dict[str, Any]

    @property
    def message(self) -> str:
        """The error of a failed or busy run."""
        return (self.record.get("error") or {}).get("message", "")


def check_seeds(seeds: Sequence[int]) -> None:
    """Raise ``ParameterError`` unless ``seeds`` are seeds."""
    if not seeds:
        raise ParameterError("no seeds given; pass --seed N or --seeds 0,1,2")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ParameterError(f"seed {seed!r} is not a whole number from 0 to {MAX_SEED}")


def plan(request: RunRequest, cache_dir: Path | None = None) -> list[PlannedRun]:
    """Resolve names, parameters, device and record paths; raise a ``UserError`` before any
    work on bad input. With ``cache_dir`` the data set is read and fingerprinted now too, so a
    missing folder or file, or a refused split, fails here."""
    check_seeds(request.seeds)
    if request.image_size is not None and request.image_size < 1:
        raise ParameterError(
            f"--image-size must be a positive number of pixels, got {request.image_size}"
        )
    method_cls = registry.methods.get(request.method)
    dataset_cls = registry.datasets.get(request.dataset)
    for extra in method_cls.requires:
        get_extra(extra)  # a requirement that nobody registered is named now
    profile = method_cls.profile_name(request.profile)
    overrides = dict(request.params)
    if request.image_size is not None:
        overrides["image_size"] = str(request.image_size)
    elif method_cls.Params is DefaultParams and dataset_cls.default_image_size:
        overrides.setdefault("image_size", str(dataset_cls.default_image_size))
    params = method_cls.params_for(profile, overrides)
    method_cls.check_params(params)
    defaults = dataclasses.asdict(method_cls.profile_table()[profile])
    changed = {k: v for k, v in dataclasses.asdict(params).items() if defaults.get(k) != v}
    dataset = dataset_cls.from_settings(request.data_root, request.data_options)
    device = resolve_device(request.device)
    source = None
    if cache_dir is not None:
        check_cache_dir(cache_dir)
        source = resolve(dataset, cache_dir)
    ensure_writable(request.results_dir)
    runs = []
    for seed in dict.fromkeys(request.seeds):
        config = {
            "method": request.method,
            "profile": profile,
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
        ensure_writable(path.parent)
        for taken in (
            path,
            rerun_path(path),
            *([set_aside_path(path, source.fingerprint)] if source else []),
        ):
            existing_record(taken)  # a newer or unusable record in the way is refused now
        runs.append(
            PlannedRun(
                method_cls,
                params,
                dataset,
                device,
                config,
                path,
                request,
                changed,
                tuple(method_cls.param_warnings(params)),
                source,
            )
        )
    return runs


def ensure_writable(folder: Path) -> None:
    """Raise ``ResultsDirError`` unless records can be written in ``folder``."""
    if (why := unwritable(folder)) is not None:
        raise ResultsDirError(
            f"cannot write run records in {folder}: {why}; make it writable or choose another "
            "--results-dir"
        )


def finished_record(run: PlannedRun, source: DataSource) -> dict[str, Any] | None:
    """The run's ``ok`` record on exactly this data, if there is one."""
    record = existing_record(run.path)
    if _is_ok(record) and _fingerprint(record) == source.fingerprint:
        return record
    kept = existing_record(set_aside_path(run.path, source.fingerprint))
    return kept if _is_ok(kept) else None


def execute(
    run: PlannedRun,
    cache_dir: Path,
    progress: ProgressReporter | None = None,
    force: bool = False,
) -> Outcome:
    """Run ``run`` unless an ``ok`` record of it on the same data exists (or ``force``); record
    the result. ``busy`` when another process is running the same cell."""
    progress = progress or SilentProgress()
    try:
        with claim(run.path):
            return _execute(run, cache_dir, progress, force)
    except CellBusyError as error:
        return Outcome("busy", run.path, {"error": {"message": str(error)}})


def _execute(run: PlannedRun, cache_dir: Path, progress: ProgressReporter, force: bool) -> Outcome:
    _settle(run)
    try:
        source = run.source or resolve(run.dataset, cache_dir, progress)
    except UserError as error:  # a data problem of this cell, found before any work
        return record_failure(run, one_line(str(error)))
    if source.split_version != run.config["split_version"]:
        return record_failure(
            run,
            f"the split changed since the run was planned ({run.config['split_version']}, now "
            f"{source.split_version}); run it again",
        )
    current = _take_finished(run, source)
    if current is not None and not force:
        return Outcome("skipped", run.path, current)
    path = rerun_path(run.path) if current is not None else run.path
    record = _new_record(run)
    record["data"] = {"fingerprint": source.fingerprint, "checksum": source.checksum}
    if current is not None:
        record["rerun_of"] = run.path.name
    _write_before_work(path, record)
    started = time.perf_counter()
    history = TrainingHistory()
    try:
        record.update(_fit_and_score(run, source, cache_dir, progress, history, record))
        record["status"] = "ok"
    except KeyboardInterrupt:
        _fail(record, "interrupted by the user (Ctrl-C)", None)
        _finish(run, path, record, started, history)
        raise
    except SystemExit as stop:  # e.g. Lightning turns SIGTERM into a SystemExit with status 0
        _fail(record, f"stopped before the end (SystemExit {stop.code!r}, a signal?)", None)
        _finish(run, path, record, started, history)
        raise SystemExit(f"uadbench: run stopped before the end; see {path}") from stop
    except Exception as error:
        _fail(record, f"{type(error).__name__}: {one_line(str(error))}", traceback.format_exc())
    return _finish(run, path, record, started, history)


def _settle(run: PlannedRun) -> None:
    """Finish what a killed forced rerun began: its finished record replaces the cell's."""
    rerun = rerun_path(run.path)
    if _is_ok(existing_record(rerun)):
        os.replace(rerun, run.path)


def _take_finished(run: PlannedRun, source: DataSource) -> dict[str, Any] | None:
    """The cell's ``ok`` record on this data, put in place; an ``ok`` record of other data is
    set aside first (kept, never overwritten)."""
    record = existing_record(run.path)
    if _is_ok(record) and _fingerprint(record) != source.fingerprint:
        _set_aside(run.path, _fingerprint(record))
        record = None
    if not _is_ok(record):
        kept = set_aside_path(run.path, source.fingerprint)
        if _is_ok(existing_record(kept)):
            os.replace(kept, run.path)  # the finished record of this data comes back
            record = existing_record(run.path)
    return record if _is_ok(record) else None


def _set_aside(path: Path, fingerprint: str | None) -> None:
    target = set_aside_path(path, fingerprint)
    number = 1
    while target.exists():
        number += 1
        target = target.with_name(f"{set_aside_path(path, fingerprint).stem}-{number}.json")
    os.rename(path, target)


def _is_ok(record: dict[str, Any] | None) -> bool:
    return record is not None and record.get("status") == "ok"


def _fingerprint(record: dict[str, Any]) -> str | None:
    return (record.get("data") or {}).get("fingerprint")


def record_failure(run: PlannedRun, message: str, trace: str | None = None) -> Outcome:
    """Record ``run`` as failed with ``message`` (a data problem found before any work, a dead
    worker), beside its finished record if it has one."""
    _settle(run)
    record = _new_record(run)
    _fail(record, message, trace)
    record["finished_at"] = _now()
    path = run.path
    if _is_ok(existing_record(run.path)):
        path, record["rerun_of"] = rerun_path(run.path), run.path.name
    _write_before_work(path, record)
    return Outcome("failed", path, record)


def _write_before_work(path: Path, record: dict[str, Any]) -> None:
    """Write a record that holds no result yet; a disk that refuses it is the user's to fix."""
    try:
        write_record(path, record)
    except OSError as error:
        raise ResultsDirError(
            f"cannot write the run record {path}: {error.strerror or error}; free space there "
            "or choose another --results-dir"
        ) from None


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
        "changed_params": run.changed_params,
        "started_at": _now(),
        "process": process_info(),
        "versions": package_versions(),
        "hardware": device_info(run.device),
        "timings": {},
        "warnings": list(run.warnings),
    }


def _fit_and_score(
    run: PlannedRun,
    source: DataSource,
    cache_dir: Path,
    progress: ProgressReporter,
    history: TrainingHistory,
    record: dict[str, Any],
) -> dict[str, Any]:
    """Prepare, fit and score; the record fields this adds (``data``, ``test``, ``val``,
    ``metrics``, ``warnings``), the timings go into ``record`` as they are measured."""
    timings = record["timings"]
    clock = time.perf_counter()
    data = prepare(
        run.dataset,
        run.params.image_size,
        cache_dir,
        progress,
        run.config["skip_unreadable"],
        source,
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
    reported = method.reported_variant()
    if reported not in variants:
        raise TypeError(
            f"the reported score {reported!r} is not among the score variants "
            f"({', '.join(variants)})"
        )
    test_scores = variants[reported]
    warnings = list(record["warnings"])
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
            **record["data"],
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
    run: PlannedRun,
    path: Path,
    record: dict[str, Any],
    started: float,
    history: TrainingHistory,
) -> Outcome:
    """Complete ``record`` and write it to ``path``; a finished rerun then replaces the cell's
    earlier record."""
    record["history"] = history.as_dict()
    record["notes"] = history.notes
    record["warnings"] = [*record.get("warnings", []), *history.warnings]
    record["timings"]["wall_s"] = round(time.perf_counter() - started, 3)
    record["finished_at"] = _now()
    with interrupts_deferred():  # a Ctrl-C now stops the command after the record is written
        try:
            write_record(path, record)
        except OSError as error:
            return _unsaved(run, path, record, error)
        if record["status"] == "ok" and path != run.path:
            os.replace(path, run.path)
            path = run.path
    return Outcome(record["status"], path, record)


UNSAVED_FOLDERS = (Path(tempfile.gettempdir()), Path.home())
"""Where a record that could not be written to the results folder is saved instead."""

BULKY = ("test", "val", "history")


def _unsaved(run: PlannedRun, path: Path, record: dict[str, Any], error: OSError) -> Outcome:
    """The final record could not be written (a full disk): save it elsewhere if any folder
    has room, and leave a small failure record in its place that says where it went."""
    saved = None
    stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    for folder in UNSAVED_FOLDERS:
        target = folder / f"uadbench-unsaved-{run.path.parent.name}-{run.path.stem}-{stamp}.json"
        try:
            write_record(target, record)
        except OSError:
            continue
        saved = target
        break
    result = (
        f"AUROC {100 * record['metrics']['auroc']:.1f}" if record["status"] == "ok" else "failed"
    )
    message = (
        f"the run ended ({result}) but its record could not be written to {path}: "
        f"{error.strerror or error}; "
        + (
            f"the whole record was saved to {saved}: free space, then move it to {run.path}"
            if saved
            else "no other folder had room either, so this message is all that is left of it"
        )
    )
    small = {k: v for k, v in record.items() if k not in BULKY}
    small["metrics_unsaved"] = small.pop("metrics", None)
    _fail(small, message, None)
    small["unsaved_record"] = str(saved) if saved else None
    with contextlib.suppress(OSError):  # else the running record stays; the message says why
        write_record(path, small)
    return Outcome("failed", path, small)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
