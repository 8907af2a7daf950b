"""The leaderboard: run records grouped by configuration and summarised over seeds.

A row is one (data set, split version, image size, method, profile, hyperparameters): runs that
differ in anything but the seed are never pooled. A row gives the mean and standard deviation of
the AUROC over seeds, the number of seeds, and a stratified bootstrap 95% interval of the mean
AUROC (each resample draws the same test images for every seed). Failed and interrupted runs are
listed beside the rows, never dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uadbench.metrics import auroc_interval
from uadbench.records import config_hash


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
    auroc: list[float] = field(default_factory=list)
    average_precision: list[float] = field(default_factory=list)
    auroc_ci95: tuple[float, float] | None = None
    failed: int = 0

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def auroc_mean(self) -> float | None:
        return float(np.mean(self.auroc)) if self.auroc else None

    @property
    def auroc_std(self) -> float | None:
        """Sample standard deviation over seeds; None with fewer than two seeds."""
        return float(np.std(self.auroc, ddof=1)) if len(self.auroc) > 1 else None

    @property
    def ap_mean(self) -> float | None:
        return float(np.mean(self.average_precision)) if self.average_precision else None

    @property
    def ap_std(self) -> float | None:
        if len(self.average_precision) < 2:
            return None
        return float(np.std(self.average_precision, ddof=1))


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


@dataclass
class Leaderboard:
    """Rows sorted by data set then mean AUROC, and the runs that did not finish."""

    rows: list[Row]
    problems: list[Problem]

    def datasets(self) -> list[str]:
        return sorted({row.dataset for row in self.rows})


def group_key(config: dict[str, Any]) -> str:
    """What identifies a row: the configuration without its seed."""
    return config_hash({k: v for k, v in config.items() if k != "seed"})


def build_leaderboard(records: Iterable[dict[str, Any]]) -> Leaderboard:
    """Group records into rows; compute the interval of each row's mean AUROC."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    problems = []
    for record in records:
        config = record["config"]
        key = group_key(config)
        groups[key].append(record)
        if record["status"] != "ok":
            problems.append(
                Problem(
                    config["dataset"],
                    config["method"],
                    config["profile"],
                    config["image_size"],
                    config["seed"],
                    record["status"],
                    (record.get("error") or {}).get("message", "no error recorded (killed?)"),
                    record.get("_path", ""),
                )
            )
    rows = [_row(key, members) for key, members in groups.items()]
    rows.sort(key=lambda r: (r.dataset, r.split_version, -(r.auroc_mean or -1), r.method))
    return Leaderboard(rows, problems)


def _row(key: str, records: list[dict[str, Any]]) -> Row:
    config = records[0]["config"]
    row = Row(
        config["dataset"],
        config["split_version"],
        config["image_size"],
        config["method"],
        config["profile"],
        key[:8],
        config.get("label_use"),
    )
    finished = sorted(
        (r for r in records if r["status"] == "ok"), key=lambda r: r["config"]["seed"]
    )
    row.failed = len(records) - len(finished)
    for record in finished:
        row.seeds.append(record["config"]["seed"])
        row.auroc.append(record["metrics"]["auroc"])
        row.average_precision.append(record["metrics"]["average_precision"])
    if finished:
        labels, scores = aligned_scores(finished)
        row.auroc_ci95 = auroc_interval(labels, scores)
    return row


def aligned_scores(records: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Test labels and a ``(seeds, images)`` score matrix, images in the first record's order."""
    ids = records[0]["test"]["ids"]
    labels = np.asarray(records[0]["test"]["labels"])
    matrix = np.empty((len(records), len(ids)))
    for i, record in enumerate(records):
        position = {image_id: j for j, image_id in enumerate(record["test"]["ids"])}
        if set(position) != set(ids):
            raise ValueError(
                f"runs of {record['config']['method']} on {record['config']['dataset']} with the "
                "same split version scored different test images; delete the stale records"
            )
        matrix[i] = np.asarray(record["test"]["scores"])[[position[x] for x in ids]]
    return labels, matrix
