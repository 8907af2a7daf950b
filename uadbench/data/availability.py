"""Whether a data set is on this machine, complete, and usable with its split: `datasets`.

A data set is one of: generated (nothing to download); found with all the files its split
lists; incomplete (found with some of them missing); missing (no folder, or none of the files);
layout not recognised (a folder, but not this release's); split refused (the release is
there, but its split cannot be used); or, when every file is there, codec missing or image
unreadable (its first image does not decode). Never "found" for a partial copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uadbench.contracts.dataset import (
    DataNotFoundError,
    Dataset,
    SplitTableError,
    validate_split_table,
)
from uadbench.data.image_files import CODEC_EXTRA, ImageReadError
from uadbench.errors import UserError, one_line


@dataclass(frozen=True)
class Availability:
    """What ``check_availability`` found for one data set."""

    state: str
    """``generated``, ``found``, ``incomplete``, ``missing``, ``layout not recognised``,
    ``split refused``, ``codec missing`` or ``image unreadable``."""
    reason: str = ""
    """Why, for every state but ``generated`` and ``found``."""
    counts: dict[str, int] = field(default_factory=dict)
    """Images per ``train``, ``val``, ``test normal`` and ``test abnormal``, when readable."""
    missing: int = 0
    total: int = 0

    @property
    def usable(self) -> bool:
        return self.state in ("generated", "found")


def check_availability(dataset: Dataset) -> Availability:
    """Look for ``dataset``'s release and every file its split lists (stat only)."""
    if dataset.needs_root and (dataset.root is None or not dataset.root.is_dir()):
        return Availability("missing", f"no folder {dataset.root}")
    try:
        table = validate_split_table(dataset.split_table(), dataset.name)
    except DataNotFoundError as error:
        return Availability("layout not recognised", one_line(str(error)))
    except SplitTableError as error:
        return Availability("split refused", one_line(str(error)))
    except UserError as error:  # e.g. an option that does not apply
        return Availability("split refused", one_line(str(error)))
    counts = _counts(table)
    if not dataset.needs_root:
        return Availability("generated", counts=counts, total=len(table))
    missing = dataset.missing_files(table)
    if len(missing) == len(table):
        return Availability(
            "missing",
            f"none of the {len(table)} files of split {dataset.split_version} is under "
            f"{dataset.root}, e.g. {missing[0]}",
            counts,
            len(missing),
            len(table),
        )
    if missing:
        return Availability(
            "incomplete",
            f"{len(missing)} of {len(table)} files of split {dataset.split_version} are missing, "
            f"e.g. {missing[0]}",
            counts,
            len(missing),
            len(table),
        )
    return _first_image_decodes(dataset, table, counts)


def _first_image_decodes(dataset: Dataset, table: Any, counts: dict[str, int]) -> Availability:
    """``found`` when the table's first image decodes, else why it does not."""
    try:
        dataset.read_image(table["source"].iloc[0], 64)
    except ImageReadError as error:
        state = "codec missing" if CODEC_EXTRA in error.reason else "image unreadable"
        return Availability(state, one_line(str(error)), counts, 0, len(table))
    return Availability("found", counts=counts, total=len(table))


def _counts(table: Any) -> dict[str, int]:
    count = table.groupby(["split", "label"]).size()
    return {
        "train": int(count.get(("train", 0), 0)),
        "val": int(count.get(("val", 0), 0)),
        "test normal": int(count.get(("test", 0), 0)),
        "test abnormal": int(count.get(("test", 1), 0)),
    }
