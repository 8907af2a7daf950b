"""Executing a planned run and recording what happened.

``execute`` prepares the data, fits the method on the training normals, scores the validation
normals and the test images, and writes the run record: ``ok`` with scores and metrics, or
``failed`` with the error, never nothing. A finished record is never replaced by anything but
a finished record of the same cell (see ``uadbench.running.records``), and a final write that
fails (a full disk) keeps what it can elsewhere and says where.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from uadbench.atomic import interrupts_deferred
from uadbench.contracts.history import TrainingHistory
from uadbench.contracts.method import ImageSet, LabelledImages, RunContext
from uadbench.contracts.progress import ProgressReporter, SilentProgress
from uadbench.data.fingerprint import DataSource, resolve
from uadbench.data.prepare import PreparedData, prepare
from uadbench.errors import UserError, one_line
from uadbench.processes import process_info
from uadbench.running import runtime
from uadbench.running.cells import is_ok, settle, take_finished
from uadbench.running.planning import PlannedRun, ResultsDirError
from uadbench.running.records import (
    CellBusyError,
    claim,
    existing_record,
    rerun_path,
    write_record,
)
from uadbench.running.run_record import DataUsed, RunRecord, TestScores, ValScores
from uadbench.running.score_checks import checked_variants, score_warnings
from uadbench.statistics.metrics import record_metrics


@dataclass(frozen=True)
class Outcome:
    """What became of a planned run: ``ok``, ``failed``, ``skipped`` (already recorded) or
    ``busy`` (another process is running it, and ``record`` is None)."""

    status: str
    path: Path
    record: RunRecord | None
    busy_message: str = ""

    @property
    def message(self) -> str:
        """The error of a failed or busy run."""
        return self.record.message if self.record else self.busy_message


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
        return Outcome("busy", run.path, None, str(error))


def _execute(run: PlannedRun, cache_dir: Path, progress: ProgressReporter, force: bool) -> Outcome:
    settle(run)
    try:
        source = run.source or resolve(run.dataset, cache_dir, progress)
    except UserError as error:  # a data problem of this cell, found before any work
        return record_failure(run, one_line(str(error)))
    if source.split_version != run.config.split_version:
        return record_failure(
            run,
            f"the split changed since the run was planned ({run.config.split_version}, now "
            f"{source.split_version}); run it again",
        )
    current = take_finished(run, source)
    if current is not None and not force:
        return Outcome("skipped", run.path, current)
    path = rerun_path(run.path) if current is not None else run.path
    record = _new_record(run)
    record.data = _data_used(run, source)
    if current is not None:
        record.rerun_of = run.path.name
    _write_before_work(path, record)
    started, memory = time.perf_counter(), runtime.PeakMemory()
    history = TrainingHistory()
    try:
        _fit_and_score(run, source, cache_dir, progress, history, record)
        record.status = "ok"
    except KeyboardInterrupt:
        record.fail("interrupted by the user (Ctrl-C)")
        _finish(run, path, record, started, memory, history)
        raise
    except SystemExit as stop:  # e.g. Lightning turns SIGTERM into a SystemExit with status 0
        record.fail(f"stopped before the end (SystemExit {stop.code!r}, a signal?)")
        _finish(run, path, record, started, memory, history)
        raise SystemExit(f"uadbench: run stopped before the end; see {path}") from stop
    except Exception as error:
        record.fail(f"{type(error).__name__}: {one_line(str(error))}", traceback.format_exc())
    return _finish(run, path, record, started, memory, history)


def _data_used(run: PlannedRun, source: DataSource) -> DataUsed:
    """The images' identity and where they were found."""
    root = run.dataset.root
    given = run.request.data_root
    return DataUsed(
        source.checksum,
        source.fingerprint,
        root=str(root.resolve()) if root is not None else None,
        data_root=str(given) if given is not None else None,
    )


def record_failure(run: PlannedRun, message: str, trace: str | None = None) -> Outcome:
    """Record ``run`` as failed with ``message`` (a data problem found before any work, a dead
    worker), beside its finished record if it has one."""
    settle(run)
    record = _new_record(run)
    record.fail(message, trace)
    record.finished_at = _now()
    path = run.path
    if is_ok(existing_record(run.path)):
        path, record.rerun_of = rerun_path(run.path), run.path.name
    _write_before_work(path, record)
    return Outcome("failed", path, record)


def _write_before_work(path: Path, record: RunRecord) -> None:
    """Write a record that holds no result yet; a disk that refuses it is the user's to fix."""
    try:
        write_record(path, record)
    except OSError as error:
        raise ResultsDirError(
            f"cannot write the run record {path}: {error.strerror or error}; free space there "
            "or choose another --results-dir"
        ) from None


def _new_record(run: PlannedRun) -> RunRecord:
    return RunRecord(
        status="running",
        config=run.config,
        started_at=_now(),
        changed_params=dict(run.changed_params),
        process=process_info(),
        versions=runtime.package_versions(),
        code=dict(runtime.code_version()),
        hardware=runtime.device_info(run.device),
        plugins=list(run.plugins),
        warnings=list(run.warnings),
    )


def _fit_and_score(
    run: PlannedRun,
    source: DataSource,
    cache_dir: Path,
    progress: ProgressReporter,
    history: TrainingHistory,
    record: RunRecord,
) -> None:
    """Prepare, fit and score, filling ``record``'s data, test, val, metrics and warnings, and
    its timings as they are measured."""
    clock = time.perf_counter()
    data = prepare(
        run.dataset, run.params.image_size, cache_dir, progress, run.config.skip_unreadable, source
    )
    extras = run.method_cls.required_extras(run.params)
    train = data.split("train", extras=extras)
    val = data.split("val", extras=extras)
    test = data.split("test")
    labels = data.labels("test")
    record.timings["prepare_s"] = _since(clock)

    runtime.seed_everything(run.seed)
    peek = LabelledImages(test.images, labels) if run.config.label_use else None
    with tempfile.TemporaryDirectory(prefix="uadbench-scratch-") as scratch:
        context = RunContext(run.device, run.seed, Path(scratch), progress, history, peek)
        method = run.method_cls(run.params, context)
        clock = time.perf_counter()
        method.fit(train, val if len(val) else None)
        record.timings["fit_s"] = _since(clock)
        clock = time.perf_counter()
        variants = checked_variants(method.score_variants(test.images), len(test), "test")
        record.timings["score_s"] = _since(clock)
        val_variants = (
            checked_variants(method.score_variants(val.images), len(val), "val") if len(val) else {}
        )
    reported = method.reported_variant()
    _record_scores(record, data, train, val, test, reported, variants, val_variants)


def _record_scores(
    record: RunRecord,
    data: PreparedData,
    train: ImageSet,
    val: ImageSet,
    test: ImageSet,
    reported: str,
    variants: dict[str, np.ndarray],
    val_variants: dict[str, np.ndarray],
) -> None:
    """Put the data used, the scores, the metrics and the warnings in ``record``."""
    if reported not in variants:
        raise TypeError(
            f"the reported score {reported!r} is not among the score variants "
            f"({', '.join(variants)})"
        )
    labels, scores = data.labels("test"), variants[reported]
    metrics = record_metrics(labels, scores, variants)  # first: a failure here records no scores
    record.data = dataclasses.replace(
        record.data,
        cache=str(data.folder),
        n_train=len(train),
        n_val=len(val),
        n_test=len(test),
        skipped=data.skipped,
    )
    record.test = TestScores(
        list(test.ids),
        labels.tolist(),
        scores.tolist(),
        reported,
        {name: s.tolist() for name, s in variants.items()},
    )
    record.val = ValScores(list(val.ids), val_variants[reported].tolist() if val_variants else [])
    record.metrics = metrics
    record.warnings += score_warnings(len(data.skipped), scores)


def _finish(
    run: PlannedRun,
    path: Path,
    record: RunRecord,
    started: float,
    memory: runtime.PeakMemory,
    history: TrainingHistory,
) -> Outcome:
    """Complete ``record`` and write it to ``path``; a finished rerun then replaces the cell's
    earlier record."""
    record.history = history.as_dict()
    record.notes = history.notes
    record.warnings += history.warnings
    record.timings["wall_s"] = _since(started)
    record.timings |= memory.timings()
    record.finished_at = _now()
    with interrupts_deferred():  # a Ctrl-C now stops the command after the record is written
        try:
            write_record(path, record)
        except OSError as error:
            return _unsaved(run, path, record, error)
        if record.ok and path != run.path:
            os.replace(path, run.path)
            path = run.path
    return Outcome(record.status, path, record)


UNSAVED_FOLDERS = (Path(tempfile.gettempdir()), Path.home())
"""Where a record that could not be written to the results folder is saved instead."""


def _unsaved(run: PlannedRun, path: Path, record: RunRecord, error: OSError) -> Outcome:
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
    result = f"AUROC {100 * record.metrics['auroc']:.1f}" if record.ok else "failed"
    message = (
        f"the run ended ({result}) but its record could not be written to {path}: "
        f"{error.strerror or error}; "
        + (
            f"the whole record was saved to {saved}: free space, then move it to {run.path}"
            if saved
            else "no other folder had room either, so this message is all that is left of it"
        )
    )
    small = dataclasses.replace(
        record, test=None, val=None, history={}, metrics=None, metrics_unsaved=record.metrics
    )
    small.fail(message)
    small.unsaved_record = str(saved) if saved else None
    with contextlib.suppress(OSError):  # else the running record stays; the message says why
        write_record(path, small)
    return Outcome("failed", path, small)


def _since(clock: float) -> float:
    return round(time.perf_counter() - clock, 3)  # seconds, to the millisecond


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
