"""Whether a data set is on this machine, complete, and usable with its split: `datasets`.

A data set is one of: generated (nothing to download); found with all the files its split
lists; incomplete (found with some of them missing); missing (no folder, or none of the files);
layout not recognised (a folder, but not this release's); split refused (the release is
there, but its split cannot be used); or, when every file is there, codec missing or image
unreadable (its first image does not decode). Never "found" for a partial copy.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from uadbench.contracts.dataset import (
    DataNotFoundError,
    Dataset,
    validate_split_table,
)
from uadbench.data.split_files import AVAILABLE
from uadbench.errors import UserError, one_line
from uadbench.image_files import CODEC_EXTRA, ImageReadError


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
    split_version: str = ""
    """The split checked, when its table could be read."""
    available: Availability | None = None
    """For a refused split or an incomplete copy: what ``--data-option split=available`` gives
    instead (None for a data set without a ``split`` option)."""

    @property
    def usable(self) -> bool:
        return self.state in ("generated", "found")


def check_availability(dataset: Dataset) -> Availability:
    """Look for ``dataset``'s release and every file its split lists (stat only); for a copy
    whose split is refused or incomplete, also what ``split=available`` gives."""
    if dataset.needs_root and (dataset.root is None or not dataset.root.is_dir()):
        return Availability("missing", f"no folder {dataset.root}")
    try:
        table = validate_split_table(dataset.split_table(), dataset.name)
    except DataNotFoundError as error:
        return Availability("layout not recognised", one_line(str(error)))
    except UserError as error:  # a refused split, or an option that does not apply
        reason = one_line(str(error))
        return Availability("split refused", reason, available=_of_available(dataset))
    counts, version = _counts(table), dataset.split_version
    found = functools.partial(Availability, counts=counts, total=len(table), split_version=version)
    if not dataset.needs_root:
        return found("generated")
    missing = dataset.missing_files(table)
    if missing:
        some = len(missing) < len(table)
        return found(
            "incomplete" if some else "missing",
            f"{len(missing)} of {len(table)} files of split {version} are missing, e.g. "
            f"{missing[0]}"
            if some
            else f"none of the {len(table)} files of split {version} is under {dataset.root}, "
            f"e.g. {missing[0]}",
            missing=len(missing),
            available=_of_available(dataset),
        )
    try:
        dataset.read_image(table["source"].iloc[0], 64)
    except ImageReadError as error:
        state = "codec missing" if CODEC_EXTRA in error.reason else "image unreadable"
        return found(state, one_line(str(error)))
    return found("found")


def _of_available(dataset: Dataset) -> Availability | None:
    """``check_availability`` of the same copy with ``split=available``; None for a data set
    without a ``split`` option, or already on that split."""
    options = dataset.options
    if getattr(options, "split", AVAILABLE) == AVAILABLE:
        return None
    return check_availability(
        type(dataset)(dataset.root, dataclasses.replace(options, split=AVAILABLE))
    )


def _counts(table: Any) -> dict[str, int]:
    count = table.groupby(["split", "label"]).size()
    return {
        "train": int(count.get(("train", 0), 0)),
        "val": int(count.get(("val", 0), 0)),
        "test normal": int(count.get(("test", 0), 0)),
        "test abnormal": int(count.get(("test", 1), 0)),
    }
