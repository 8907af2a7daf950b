"""The leaderboard: run records grouped by configuration and summarised over seeds.

A row is one (data set, split version, data fingerprint, image size, method, profile,
hyperparameters): runs that differ in anything but the seed, their images included, are never
pooled. Its name says what it is: the method, its profile unless ``quick``, the parameters
changed from that profile (``anatpaste [steps=20]``), and whether it used labels; a row whose
runs carry warnings is marked. A row gives, over its seeds:

- AUROC and average precision: mean, sample standard deviation and the number of seeds, and a
  stratified bootstrap 95% interval of the mean AUROC (each resample draws the same test images
  for every seed);
- sensitivity, specificity and F1 at an honest operating point: the threshold is the 95th
  percentile of the run's scores on its *validation normals*; no test label sets it;
- DeLong's test of its mean AUROC against the best row on the same test images (same data set,
  split version and data fingerprint), Holm-adjusted over the rows compared; rows not
  significantly worse than the best at the 5% level are marked;
- a published AUROC, only where the publication used exactly this split.
A row whose seeds all gave the same test scores is *deterministic*: its mean is one measurement
and it has no seed spread (not a spread of 0). A row whose seeds ran on different CPU models is
marked with a warning (a trained result can differ by machine). Failed and interrupted runs are
listed beside the rows, never dropped.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uadbench.errors import RecordError
from uadbench.outputs.published import PublishedResult, published_for
from uadbench.running.run_record import RunRecord
from uadbench.statistics.delong import compare, holm
from uadbench.statistics.metrics import INTERVAL, METRICS, PRIMARY, auroc_interval
from uadbench.statistics.operating_point import VAL_PERCENTILE, val_threshold

ALPHA = 0.05
COSTS = ("fit_s", "score_s", "peak_memory_mb")
"""What a run cost, as its record's timings name it."""
WARNING_MARK = "⚠"
"""Marks a row whose runs carry warnings, in every table and figure."""
VALUES = f"seed_values:1:{','.join(m.name for m in METRICS)}:{VAL_PERCENTILE}"
COMPARISON = "delong_p:1"
"""Name how a row's per-seed metrics and its DeLong p-value against the best row are computed:
values kept under these names (a board's memo) are used only while they hold. Bumped when the
computation changes."""


@dataclass
class Row:
    """One configuration's results over its seeds."""

    dataset: str
    split_version: str
    image_size: int
    method: str
    profile: str
    config: str
    label_use: str | None
    seeds: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=lambda: {m.name: [] for m in METRICS})
    auroc_ci95: tuple[float, float] | None = None
    failed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    """The method's parameters (and its version), to tell apart rows of one method."""
    p_value: float | None = None
    p_holm: float | None = None
    verdict: str | None = None
    """``best``, ``not worse`` (than the best, Holm-adjusted p >= 0.05) or ``worse``."""
    published: PublishedResult | None = None
    fingerprint: str | None = None
    """The data fingerprint of the row's runs (None for records made before there was one)."""
    changes: dict[str, Any] = field(default_factory=dict)
    """The parameters that differ from the profile's."""
    warnings: list[str] = field(default_factory=list)
    """Every warning of the row's finished runs, once each."""
    labels: np.ndarray | None = field(default=None, repr=False)
    scores: np.ndarray | None = field(default=None, repr=False)
    """Test scores ``(seeds, images)``, images in ``test_ids`` order."""
    test_ids: list[str] = field(default_factory=list, repr=False)
    costs: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in COSTS})
    """Per finished seed: training and scoring seconds and peak resident memory (MiB), where
    recorded."""
    runs: list[RunRecord] = field(default_factory=list, repr=False)
    """The finished record of each seed (the latest), in ``seeds`` order."""

    @property
    def n(self) -> int:
        return len(self.seeds)

    def mean(self, metric: str) -> float | None:
        """The mean over seeds; None unless every seed has the metric (a localisation metric
        of runs made before maps were kept)."""
        values = self.values[metric]
        return float(np.mean(values)) if values and len(values) == self.n else None

    def std(self, metric: str) -> float | None:
        """Sample standard deviation over seeds; None where no seed spread was measured: fewer
        than two seeds, or a deterministic row (its seeds are one measurement, not a spread of
        0)."""
        values = self.values[metric]
        spread = len(values) > 1 and len(values) == self.n and not self.deterministic
        return float(np.std(values, ddof=1)) if spread else None

    @property
    def deterministic(self) -> bool:
        """Whether the row's seeds (two or more) all gave the same test scores: the seed changed
        nothing, so its mean is one measurement."""
        scores = self.scores
        return self.n > 1 and scores is not None and bool((scores == scores[0]).all())

    @property
    def cpu_models(self) -> dict[str, list[int]]:
        """The CPU models the row's seeds ran on (where their records name one), each with its
        seeds: more than one, and a trained result may differ by machine."""
        return self.seeds_by(lambda run: run.hardware.get("cpu_model"))

    @property
    def mkl_settings(self) -> dict[str, list[int]]:
        """The Intel MKL reproducibility settings the row's seeds ran under (``MKL_CBWR``;
        records made before it was recorded: ``not recorded``), each with its seeds."""
        return self.seeds_by(
            lambda run: run.hardware.get("mkl_reproducibility", "not recorded") or "off"
        )

    def seeds_by(self, value_of: Callable[[RunRecord], str | None]) -> dict[str, list[int]]:
        """The row's seeds by ``value_of`` their record (seeds whose value is None left out)."""
        found: dict[str, list[int]] = defaultdict(list)
        for seed, run in zip(self.seeds, self.runs, strict=True):
            if (value := value_of(run)) is not None:
                found[value].append(seed)
        return dict(found)

    @property
    def scored(self) -> list[bytes]:
        """The row's test labels and score matrix as bytes: what the values derived from them
        (intervals, p-values, curves) are kept under in a board's memo."""
        assert self.labels is not None and self.scores is not None, "a row with finished runs"
        return [self.labels.astype(np.int8).tobytes(), self.scores.tobytes()]

    @property
    def auroc_mean(self) -> float | None:
        return self.mean(PRIMARY)

    @property
    def test_set(self) -> tuple[str, str, str | None]:
        """The test images the row was scored on: data set, split version, data fingerprint."""
        return self.dataset, self.split_version, self.fingerprint

    @property
    def name(self) -> str:
        """The method, its profile unless ``quick``, the parameters changed from that profile
        and whether it used labels: ``anatpaste (paper) [steps=20]``."""
        name = self.method if self.profile == "quick" else f"{self.method} ({self.profile})"
        if self.changes:
            name += " [" + ", ".join(f"{k}={v}" for k, v in self.changes.items()) + "]"
        return f"{name} (uses labels)" if self.label_use else name

    @property
    def label(self) -> str:
        """``name``, marked when the row has warnings: what every table and figure shows."""
        return f"{self.name} {WARNING_MARK}" if self.warnings else self.name


@dataclass(frozen=True)
class Problem:
    """A run that did not finish: failed, interrupted or still running."""

    dataset: str
    method: str
    profile: str
    image_size: int
    seed: int
    status: str
    message: str
    path: str


Memo = Callable[[str, Iterable[bytes], Callable[[], Any]], Any]
"""Keeps a value computed from records under what it was computed from (``RecordSet.memo``)."""


def computed_now(kind: str, content: Iterable[bytes], compute: Callable[[], Any]) -> Any:
    """A ``Memo`` that keeps nothing."""
    return compute()


@dataclass
class Leaderboard:
    """Rows sorted by data set, split and mean AUROC, and the runs that did not finish."""

    rows: list[Row]
    problems: list[Problem]
    memo: Memo = field(default=computed_now, repr=False)
    """Keeps values computed from the rows' scores (their figures' data) where the records'
    folder can (``RecordSet.memo``)."""

    def datasets(self) -> list[str]:
        return sorted({row.dataset for row in self.rows})

    def test_set_title(self, row: Row) -> str:
        """``<dataset> · split <version>``, with the data fingerprint where one data set and
        split have rows on several versions of their images."""
        title = f"{row.dataset} · split {row.split_version}"
        several = len(self._versions[row.test_set[:2]]) > 1
        return f"{title} · data {row.fingerprint or 'unknown'}" if several else title

    @functools.cached_property
    def _versions(self) -> dict[tuple[str, str], set[str | None]]:
        """The data fingerprints of each data set and split's rows."""
        versions: dict[tuple[str, str], set[str | None]] = defaultdict(set)
        for r in self.rows:
            versions[r.test_set[:2]].add(r.fingerprint)
        return versions


def _seeds_of(found: dict[str, list[int]]) -> str:
    return "; ".join(
        f"{value} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
        for value, seeds in found.items()
    )


def build_leaderboard(records: Iterable[RunRecord], memo: Memo = computed_now) -> Leaderboard:
    """Group records into rows, summarise them, and compare rows on the same test images;
    ``memo`` keeps the rows' bootstrap intervals (and, through the board, their figures'
    data)."""
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    problems = []
    for record in records:
        groups[record.row_key].append(record)
        if not record.ok:
            problems.append(_problem(record))
    rows = [_row(key, members, memo) for key, members in groups.items()]
    for (dataset, split, _), members in _by_test_set(rows).items():
        _compare_with_best(members, memo)
        for row in members:
            row.published = published_for(dataset, split, row.method)
    rows.sort(key=lambda r: (*r.test_set[:2], r.fingerprint or "", -(r.auroc_mean or -1), r.method))
    return Leaderboard(rows, problems, memo)


def _problem(record: RunRecord) -> Problem:
    config = record.config
    state = record.state
    unsaid = "still running" if state == "running" else "no error recorded (killed?)"
    return Problem(
        config.dataset,
        config.method,
        config.profile,
        config.image_size,
        config.seed,
        state,
        ("forced rerun, the finished record stands: " if record.rerun_of else "")
        + (record.message or unsaid),
        str(record.path or ""),
    )


def _row(key: str, records: list[RunRecord], memo: Memo) -> Row:
    config = records[0].config
    row = Row(
        config.dataset,
        config.split_version,
        config.image_size,
        config.method,
        config.profile,
        key[:8],
        config.label_use,
        settings={
            **config.params,
            "method_version": config.method_version,
            **({"skip_unreadable": True} if config.skip_unreadable else {}),
        },
        fingerprint=records[0].fingerprint,
        changes=dict(records[0].changed_params),
    )
    latest: dict[int, RunRecord] = {}
    for record in sorted(records, key=lambda r: r.finished_at or ""):
        if record.ok:
            latest[record.config.seed] = record
    finished = [latest[seed] for seed in sorted(latest)]
    ok = sum(r.ok for r in records)
    row.failed = len(records) - ok
    row.warnings = list(dict.fromkeys(w for r in finished for w in r.warnings))
    if ok > len(finished):  # copies of one seed's record: each seed counts once
        row.warnings.append(
            f"{ok - len(finished)} more finished record(s) of a seed already counted were "
            "left out (the latest of each seed counts)"
        )
    row.runs = finished
    per_seed: list[dict[str, float]] = []
    if finished:
        row.test_ids = list(finished[0].test.ids)
        row.labels, row.scores = aligned_scores(finished)
        content = row.scored
        for record in finished:
            val_scores = record.val.scores if record.val else []
            stored = [record.metrics.get(m.name) for m in METRICS if not m.at_threshold]
            kept = record.localisation
            stored += [kept.truth, kept.metrics] if kept else []
            content += [np.asarray(val_scores, float).tobytes(), repr(stored).encode()]
        per_seed = memo(VALUES, content, lambda: [seed_values(r) for r in finished])
    for record, values in zip(finished, per_seed, strict=True):
        row.seeds.append(record.config.seed)
        for metric, value in values.items():
            row.values[metric].append(value)
        for cost in COSTS:
            if (spent := record.timings.get(cost)) is not None:
                row.costs[cost].append(spent)
    if len(models := row.cpu_models) > 1:
        row.warnings.append(
            f"seeds ran on different CPU models: {_seeds_of(models)}; a trained method's scores "
            "can differ by machine for the same seed"
        )
    if len(settings := row.mkl_settings) > 1:
        row.warnings.append(
            f"seeds ran under different Intel MKL reproducibility settings (MKL_CBWR): "
            f"{_seeds_of(settings)}; a trained method's scores can differ by setting"
        )
    if finished:
        row.auroc_ci95 = tuple(
            memo(
                f"auroc_interval:{INTERVAL}",
                row.scored,
                lambda: auroc_interval(row.labels, row.scores),
            )
        )
    return row


def seed_values(record: RunRecord) -> dict[str, float]:
    """Every metric of one finished run: those stored in its record (computed from its scores
    when the record predates the metric), those at the operating point its validation normals
    set (none when it has no validation scores), and where its kept maps point (none when it
    kept none)."""
    labels, scores = np.asarray(record.test.labels), np.asarray(record.test.scores)
    stored = record.metrics
    values = {
        m.name: stored[m.name] if m.name in stored else m.compute(labels, scores, None)
        for m in METRICS
        if not m.at_threshold and not m.localisation
    }
    kept = record.localisation
    for m in METRICS:
        if m.localisation and kept and kept.truth == m.localisation and m.name in kept.metrics:
            values[m.name] = kept.metrics[m.name]
    val_scores = record.val.scores if record.val else []
    if val_scores:
        threshold = val_threshold(val_scores)
        for m in METRICS:
            if m.at_threshold:
                values[m.name] = m.compute(labels, scores, threshold)
    return values


def distinctions(rows: list[Row]) -> dict[int, str]:
    """For rows of one method on one test set: the settings that tell them apart, by ``id``."""
    siblings: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        siblings[(*row.test_set, row.name)].append(row)
    out = {}
    for group in siblings.values():
        if len(group) < 2:
            continue
        settings = [
            {"profile": r.profile, "size": f"{r.image_size}px", **r.settings} for r in group
        ]
        keys = sorted({k for s in settings for k in s})
        differing = [k for k in keys if len({repr(s.get(k)) for s in settings}) > 1]
        for row, s in zip(group, settings, strict=True):
            out[id(row)] = ", ".join(f"{k}={s.get(k)}" for k in differing) or f"config {row.config}"
    return out


def _by_test_set(rows: list[Row]) -> dict[tuple[str, str, str | None], list[Row]]:
    groups: dict[tuple[str, str, str | None], list[Row]] = defaultdict(list)
    for row in rows:
        groups[row.test_set].append(row)
    return groups


def _compare_with_best(rows: list[Row], memo: Memo) -> None:
    """DeLong p-values of every row against the best (Holm-adjusted), where the test images
    are the same; ``memo`` keeps each p-value under the scores compared."""
    scored = [r for r in rows if r.scores is not None]
    if len(scored) < 2:
        return
    best = max(scored, key=lambda r: r.auroc_mean or -1)
    best.verdict = "best"
    others = [r for r in scored if r is not best and set(r.test_ids) == set(best.test_ids)]
    for row in others:
        scores = row.scores
        if row.test_ids != best.test_ids:  # the same images in another order
            position = {image_id: j for j, image_id in enumerate(row.test_ids)}
            scores = scores[:, [position[image_id] for image_id in best.test_ids]]
        row.p_value = memo(
            COMPARISON,
            [*best.scored, scores.tobytes()],
            functools.partial(_p_value, best.labels, best.scores, scores),
        )
    for row, adjusted in zip(others, holm([r.p_value for r in others]), strict=True):
        row.p_holm = adjusted
        row.verdict = "not worse" if adjusted >= ALPHA else "worse"


def _p_value(labels: np.ndarray, best: np.ndarray, other: np.ndarray) -> float:
    return compare(labels, best, other).p_value


def aligned_scores(records: list[RunRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Test labels and a ``(seeds, images)`` score matrix, images in the first record's order."""
    ids = records[0].test.ids
    labels = np.asarray(records[0].test.labels)
    matrix = np.empty((len(records), len(ids)))
    for i, record in enumerate(records):
        if record.test.ids is ids or record.test.ids == ids:  # the usual case: one order
            matrix[i] = record.test.scores
            continue
        position = {image_id: j for j, image_id in enumerate(record.test.ids)}
        if set(position) != set(ids):
            raise RecordError(
                f"{record.path or 'a record'} and {records[0].path or 'another'} are runs of one "
                f"{record.config.method} setting on {record.config.dataset} that scored "
                "different test images (records made before data fingerprints); move the stale "
                "one out of the results folder"
            )
        matrix[i] = np.asarray(record.test.scores)[[position[x] for x in ids]]
    return labels, matrix
