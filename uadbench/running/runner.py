"""Executing a planned run: prepare the data, fit the method on the training normals, score
the validation normals and the test images, and fill the run record with what came of it.

The record's life around the work (claimed, skipped when done, written before the work,
finished, kept elsewhere when the disk refuses it) is its cell's: ``Cell.run`` in
``uadbench.running.record_store``. This module makes the record and does the work.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from uadbench.contracts.dataset import Dataset
from uadbench.contracts.history import TrainingHistory
from uadbench.contracts.method import ImageSet, LabelledImages, Method, RunContext
from uadbench.contracts.progress import ProgressReporter, SilentProgress
from uadbench.data.fingerprint import DataSource, resolve
from uadbench.data.prepare import PreparedData, prepare
from uadbench.errors import UserError, one_line
from uadbench.processes import process_info
from uadbench.running import runtime
from uadbench.running.kept_maps import KeptMaps, kept_side, localisation, reduced
from uadbench.running.planning import PlannedRun
from uadbench.running.record_store import Outcome
from uadbench.running.run_record import DataUsed, RunRecord, TestScores, ValScores
from uadbench.running.score_checks import checked_variants, score_warnings
from uadbench.statistics.metrics import record_metrics


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
        source = run.source or resolve(run.dataset, cache_dir, progress)
    except UserError as error:  # a data problem of this cell, found before any work
        return record_failure(run, one_line(str(error)))
    if source.split_version != run.config.split_version:
        return record_failure(
            run,
            f"the split changed since the run was planned ({run.config.split_version}, now "
            f"{source.split_version}); run it again",
        )
    record = _new_record(run)
    record.data = _data_used(run, source)
    record.warnings += source.warnings
    fingerprints = tuple(f for f in (source.fingerprint, source.earlier) if f)

    def work(record: RunRecord) -> None:
        _work(run, source, cache_dir, progress, record)

    return run.cell.run(record, fingerprints, work, force)


def record_failure(
    run: PlannedRun, message: str, trace: str | None = None, ended: bool = False
) -> Outcome:
    """Record ``run`` as failed with ``message`` (a data problem found before any work, a dead
    worker: ``ended``, whose claim is ended first), beside its finished record if it has one."""
    return run.cell.fail(_new_record(run), message, trace, ended)


def _data_used(run: PlannedRun, source: DataSource) -> DataUsed:
    """The images' identity, where they were found and the files there left out."""
    root = run.dataset.root
    given = run.request.data_root
    return DataUsed(
        source.checksum,
        source.fingerprint,
        earlier_fingerprint=source.earlier,
        root=str(root.resolve()) if root is not None else None,
        data_root=str(given) if given is not None else None,
        left_out=run.dataset.left_out(),
    )


def _new_record(run: PlannedRun) -> RunRecord:
    return RunRecord(
        status="running",
        config=run.config,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        changed_params=dict(run.changed_params),
        process=process_info(),
        versions=runtime.package_versions(),
        code=dict(runtime.code_version()),
        hardware=runtime.device_info(run.device),
        plugins=list(run.plugins),
        warnings=list(run.warnings),
    )


def _work(
    run: PlannedRun,
    source: DataSource,
    cache_dir: Path,
    progress: ProgressReporter,
    record: RunRecord,
) -> None:
    """Prepare, fit and score into ``record``; however it ends, the record gets the training
    curves, notes and warnings so far, the wall time and the peak memory."""
    started, memory, history = time.perf_counter(), runtime.PeakMemory(), TrainingHistory()
    try:
        _fit_and_score(run, source, cache_dir, progress, history, record)
    finally:
        record.history = history.as_dict()
        record.notes = history.notes
        record.warnings += history.warnings
        record.timings["wall_s"] = _since(started)
        record.timings |= memory.timings()


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

    runtime.seed_everything(run.config.seed)
    peek = LabelledImages(test.images, labels) if run.config.label_use else None
    with tempfile.TemporaryDirectory(prefix="uadbench-scratch-") as scratch:
        context = RunContext(run.device, run.config.seed, Path(scratch), progress, history, peek)
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
        if method.has_anomaly_map() and run.dataset.lesion_truth:  # after every score
            clock = time.perf_counter()
            _localise(record, method, run.dataset, data, test, val)
            record.timings["map_s"] = _since(clock)
    reported = method.reported_variant()
    _record_scores(record, data, train, val, test, reported, variants, val_variants)


def _localise(
    record: RunRecord,
    method: Method,
    dataset: Dataset,
    data: PreparedData,
    test: ImageSet,
    val: ImageSet,
) -> None:
    """Keep the test images' anomaly maps in ``record`` with where they point against the data
    set's lesion truth (``kept_maps``; against masks, the validation normals' maps too, which
    set the Dice's threshold); maps that cannot be scored leave a warning instead."""
    side = kept_side(data.image_size)
    regions = dataset.lesion_regions(data.table.iloc[data.rows("test")], side)
    if regions is None:
        return
    wanted = [("test", test)]
    if dataset.lesion_truth == "mask" and len(val):
        wanted.append(("validation", val))
    kept = []
    for name, images in wanted:
        maps = np.asarray(method.anomaly_map(images.images))
        if maps.shape != images.images.shape or not np.isfinite(maps).all():
            test_maps = name == "test"
            record.warnings.append(
                f"{'anomaly' if test_maps else 'validation'} maps not kept: {method.name} gave "
                f"maps of shape {maps.shape} for the {name} images (one finite map per image of "
                f"{images.images.shape} is needed); "
                + ("the image scores stand" if test_maps else "no Dice, which needs them")
            )
            break
        kept.append(reduced(maps, side))
    if not kept:
        return
    maps = KeptMaps(kept[0], regions, kept[1] if len(kept) > 1 else None)
    try:
        record.localisation = localisation(maps, dataset.lesion_truth)
    except ValueError as error:  # e.g. no lesion pixel among the test images
        record.warnings.append(f"anomaly maps not scored: {error}")
        return
    record.anomaly_maps = maps


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


def _since(clock: float) -> float:
    return round(time.perf_counter() - clock, 3)  # seconds, to the millisecond
