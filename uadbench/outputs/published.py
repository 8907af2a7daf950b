"""Published AUROCs, shown beside measured ones only where the split is the same.

The table ``results/reference/published_auroc.csv`` lists each published number with the data
set, the uadbench split version that reproduces the publication's split (``official`` for
ZhangLab's official partition, ``medad`` for the Med-AD files; other names such as ``squid``,
``bmad`` or ``anatpaste-paper`` have no uadbench equivalent and are never matched), the
uadbench method it corresponds to (blank if none), the number in percent and its source.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from uadbench.data.package_data import package_data

TABLE = package_data("uadbench.reference", "results/reference") / "published_auroc.csv"
"""The repository's ``results/reference/published_auroc.csv``, installed as package data."""


@dataclass(frozen=True)
class PublishedResult:
    """One published AUROC (percent) and where it comes from."""

    dataset: str
    split_version: str
    method: str
    published_name: str
    auroc: float
    auroc_std: float | None
    source: str


@functools.cache
def published_results(table: Path = TABLE) -> tuple[PublishedResult, ...]:
    """Every row of the reference table (none if the table is not there)."""
    if not table.is_file():
        return ()
    with open(table, newline="") as handle:
        return tuple(
            PublishedResult(
                row["dataset"],
                row["split_version"],
                row["method"],
                row["published_name"],
                float(row["auroc"]),
                float(row["auroc_std"]) if row["auroc_std"] else None,
                row["source"],
            )
            for row in csv.DictReader(handle)
        )


def published_for(dataset: str, split_version: str, method: str) -> PublishedResult | None:
    """The published AUROC of ``method`` on exactly this split, if there is one."""
    return next(
        (
            r
            for r in published_results()
            if (r.dataset, r.split_version, r.method) == (dataset, split_version, method)
        ),
        None,
    )
