"""The data-set plugin contract: a split table and a way to read its images.

A data set is a class registered in the ``uadbench.datasets`` entry-point group (or given with
``--plugin``). It knows where its release lives on disk and turns it into a *split table*: one row
per image with its ``id``, ``source`` (a path relative to the data set's root, or any string its
``read_image`` understands), ``label`` (0 normal, 1 abnormal) and ``split`` (``train``, ``val``,
``test``). Training and validation rows are normal; the validation rows are carved from the
training normals. Extra columns (patient, view, finding) are kept and recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from uadbench.contracts.method import Range, check_ranges, replace_params
from uadbench.errors import ParameterError, UserError
from uadbench.image_files import INTENSITY_RULES, read_image_file

SPLITS = ("train", "val", "test")
TABLE_COLUMNS = ("id", "source", "label", "split")
DATA_ROOT_ENV = "UADBENCH_DATA_ROOT"


class SplitTableError(UserError, ValueError):
    """A split table (or the file it came from) of the wrong shape or content."""


class DataNotFoundError(UserError, FileNotFoundError):
    """The data set's files are not where uadbench looks for them."""


@dataclass(frozen=True)
class NoOptions:
    """A data set without options."""


def default_data_root() -> Path:
    """``$UADBENCH_DATA_ROOT``, else ``~/uadbench-data``: one folder per data set inside."""
    return Path(os.environ.get(DATA_ROOT_ENV) or Path.home() / "uadbench-data").expanduser()


class Dataset(ABC):
    """Base class of every data set (see the module docstring)."""

    name: ClassVar[str]
    """The name users type: ``uadbench run --dataset <name>``."""

    folder_names: ClassVar[tuple[str, ...]] = ()
    """Other folders under the data root that a download unpacks to (beside ``<name>``)."""

    Options: ClassVar[type] = NoOptions
    """A dataclass of the data set's options (``--data-option key=value``)."""

    needs_root: ClassVar[bool] = True
    """False for data generated in memory."""

    homepage: ClassVar[str] = ""
    """Where a user downloads the release."""

    layout: ClassVar[str] = ""
    """The files expected under the root, shown when they are missing."""

    option_ranges: ClassVar[Mapping[str, Range]] = {}
    """The allowed values of numeric options, checked before any work."""

    default_image_size: ClassVar[int | None] = None
    """The image side for a method that names none (a method without ``Params``); None: 64."""

    lesion_truth: ClassVar[str | None] = None
    """What the release says about where findings lie, one of ``LESION_TRUTHS``: ``"mask"``
    (their outline), ``"boxes"`` (rectangles drawn by readers), or None (nothing)."""

    def __init__(self, root: Path | None = None, options: Any = None) -> None:
        self.root = Path(root) if root is not None else None
        self.options = options if options is not None else self.Options()

    @classmethod
    def describe(cls) -> str:
        """The first paragraph of the class docstring, as plain text on one line."""
        from uadbench.contracts.param_docs import first_paragraph

        return first_paragraph(cls.__doc__)

    @classmethod
    def from_settings(
        cls, data_root: Path | None = None, overrides: Mapping[str, str] | None = None
    ) -> Dataset:
        """An instance whose root is found under ``data_root`` and whose options are parsed.

        The root is ``data_root`` itself when it holds this data set's release, else the first
        of ``data_root/<name>`` and ``data_root/<f>`` for ``f`` in ``folder_names`` that does,
        else ``data_root/<name>``; ``data_root`` defaults to ``default_data_root()``.
        """
        options = replace_params(cls.Options(), overrides or {})
        check_ranges(options, cls.option_ranges, f"data set {cls.name!r}")
        rule = getattr(options, "intensity", "bits")
        if rule not in INTENSITY_RULES:
            raise ParameterError(
                f"data set {cls.name!r}: intensity={rule!r} is none of "
                f"{', '.join(INTENSITY_RULES)} (see datasets/README.md, 'Intensity')"
            )
        if not cls.needs_root:
            return cls(None, options)
        base = Path(data_root).expanduser() if data_root else default_data_root()
        candidates = [base, *(base / f for f in (cls.name, *cls.folder_names))]
        root = next((c for c in candidates if cls.recognises(c)), base / cls.name)
        return cls(root, options)

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        """Whether ``folder`` looks like the root of this data set's release."""
        return False

    def get_options(self) -> dict[str, Any]:
        """The options, as stored in the run record."""
        return dataclasses.asdict(self.options)

    @property
    @abstractmethod
    def split_version(self) -> str:
        """A short name of the split in use; prepared caches and records are keyed by it."""

    @abstractmethod
    def split_table(self) -> Any:
        """The split table (a pandas DataFrame with at least TABLE_COLUMNS)."""

    def check_present(self) -> None:
        """Raise ``DataNotFoundError`` with download and layout help if the root is missing."""
        if self.needs_root and (self.root is None or not self.root.is_dir()):
            raise DataNotFoundError(self.missing_message())

    def missing_message(self) -> str:
        """Where the data set was looked for, where to get it and how to lay it out."""
        return f"data set {self.name!r} not found at {self.root}.\n" + self.where_to_get()

    def where_to_get(self) -> str:
        """Where to get the data set, how to lay it out and how to point uadbench at it."""
        lines = []
        if self.homepage:
            lines.append(f"Download it from {self.homepage}")
        if self.layout:
            lines.append(f"{'and l' if self.homepage else 'L'}ay it out as:\n{self.layout}")
        places = ", ".join(f"DIR/{f}" for f in (self.name, *self.folder_names))
        lines.append(
            f"Point uadbench at it with --data-root DIR (or ${DATA_ROOT_ENV}); the root is DIR "
            f"itself or {places}."
        )
        return "\n".join(lines)

    def read_image(self, source: str, size: int) -> np.ndarray:
        """The image at ``source`` as a 2-D uint8 grayscale array.

        ``size`` is the side it will be resized to; a reader that can draw or decode straight at
        that size may do so, others return the image at its own size.
        """
        assert self.root is not None
        return read_image_file(self.root / source, getattr(self.options, "intensity", "bits"))

    def lesion_regions(self, table: Any, size: int) -> np.ndarray | None:
        """Where the findings of ``table``'s images lie, from the release's own tables, at the
        prepared size: bool ``(N, size, size)``, empty for an image without a finding (a box
        as every pixel it overlaps, ``boxes_mask``). None: the data set has no such truth."""
        return None

    def source_files(self, table: Any) -> list[Path] | None:
        """The file behind each row of ``table``, whose bytes decide its pixels; None for a data
        set whose images are not files (its options and split version must decide them)."""
        if self.root is None:
            return None
        return [self.root / source for source in table["source"]]

    def left_out(self) -> list[dict[str, str]] | None:
        """The files under the root that the split does not use, each as ``file`` (relative to
        the root) and ``why``, for a reader that reads a whole folder (``datasets`` and the run
        record name them); None, the default, for a reader that reads only what its split lists.
        """
        return None

    def missing_files(self, table: Any) -> list[str]:
        """The sources of ``table`` whose file is not there."""
        files = self.source_files(table)
        if files is None:
            return []
        return [s for s, f in zip(table["source"], files, strict=True) if not f.is_file()]

    def check_files(self, table: Any) -> None:
        """Raise ``DataNotFoundError`` naming the files of ``table`` absent under the root."""
        self.check_present()
        missing = self.missing_files(table)
        if missing:
            shown = ", ".join(missing[:3])
            raise DataNotFoundError(
                f"{len(missing)} of {len(table)} images listed in the {self.name!r} split "
                f"({self.split_version}) are absent under {self.root}, e.g. {shown}; check that "
                "--data-root points at the complete release, or use a split that lists only the "
                "images you have"
            )


LESION_TRUTHS = (None, "mask", "boxes")
"""What a release can say about where its findings lie (``Dataset.lesion_truth``)."""

Box = tuple[float, float, float, float]
"""A finding's rectangle as releases give it: ``x, y, width, height`` in the image's pixels."""


def boxes_mask(boxes: list[list[Box]], size: int, original: tuple[int, int]) -> np.ndarray:
    """Each image's ``boxes`` drawn at ``size`` x ``size`` (bool ``(N, size, size)``): every
    pixel a box overlaps once its image of ``original`` ``(height, width)`` pixels is resized
    straight to ``size``, as preparation resizes it."""
    mask = np.zeros((len(boxes), size, size), dtype=bool)
    scale_y, scale_x = size / original[0], size / original[1]
    for i, image_boxes in enumerate(boxes):
        for x, y, width, height in image_boxes:
            left, right = math.floor(x * scale_x), math.ceil((x + width) * scale_x)
            top, bottom = math.floor(y * scale_y), math.ceil((y + height) * scale_y)
            mask[i, max(top, 0) : min(bottom, size), max(left, 0) : min(right, size)] = True
    return mask


def check_dataset_class(cls: type) -> None:
    """Raise a ``TypeError`` that says what is missing if ``cls`` breaks the contract."""
    if not (isinstance(cls, type) and issubclass(cls, Dataset)):
        raise TypeError(f"{cls!r} is not a subclass of uadbench.Dataset")
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        raise TypeError(f"data set class {cls.__qualname__} needs a class attribute `name` (str)")
    if not dataclasses.is_dataclass(cls.Options):
        raise TypeError(f"data set class {cls.__qualname__}: `Options` must be a dataclass")
    if cls.lesion_truth not in LESION_TRUTHS:
        raise TypeError(
            f"data set class {cls.__qualname__}: `lesion_truth` must be one of "
            f"{', '.join(map(repr, LESION_TRUTHS))}; got {cls.lesion_truth!r}"
        )
    if cls.lesion_truth and cls.lesion_regions is Dataset.lesion_regions:
        raise TypeError(
            f"data set class {cls.__qualname__} says its release has lesion {cls.lesion_truth} "
            "but gives no `lesion_regions`"
        )


def validate_split_table(table: Any, dataset: str) -> Any:
    """Check a split table's columns and content; return it with normalised dtypes."""
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise SplitTableError(
            f"split table of {dataset!r} lacks column(s) {', '.join(missing)}; "
            f"it needs {', '.join(TABLE_COLUMNS)}"
        )
    table = table.reset_index(drop=True).copy()
    table["id"] = table["id"].astype(str)
    table["source"] = table["source"].astype(str)
    duplicated = table["id"][table["id"].duplicated()]
    if len(duplicated):
        raise SplitTableError(
            f"split table of {dataset!r} repeats {len(duplicated)} id(s), e.g. "
            f"{', '.join(duplicated.iloc[:3])}"
        )
    bad_split = sorted(set(table["split"].astype(str)) - set(SPLITS))
    if bad_split:
        raise SplitTableError(
            f"split table of {dataset!r} has split value(s) {bad_split}; valid: {', '.join(SPLITS)}"
        )
    labels = set(table["label"].tolist())
    if not labels <= {0, 1}:
        raise SplitTableError(
            f"split table of {dataset!r} has label value(s) {sorted(labels - {0, 1})}; "
            "labels are 0 (normal) or 1 (abnormal)"
        )
    table["label"] = table["label"].astype(np.int8)
    leaked = table[(table["split"] != "test") & (table["label"] != 0)]
    if len(leaked):
        raise SplitTableError(
            f"split table of {dataset!r} puts {len(leaked)} abnormal image(s) in train/val "
            f"(e.g. {leaked['id'].iloc[0]}); training and validation hold normal images only"
        )
    if not (table["split"] == "train").any():
        raise SplitTableError(f"split table of {dataset!r} has no training images")
    test_labels = set(table.loc[table["split"] == "test", "label"].tolist())
    if test_labels != {0, 1}:
        raise SplitTableError(
            f"split table of {dataset!r} needs normal and abnormal test images; "
            f"it has labels {sorted(test_labels)} in test"
        )
    if "patient" in table.columns:
        known = table[table["patient"].notna()]
        test = known["split"] == "test"
        shared = sorted(
            set(known.loc[test, "patient"].astype(str))
            & set(known.loc[~test, "patient"].astype(str))
        )
        if shared:
            raise SplitTableError(
                f"split table of {dataset!r} puts {len(shared)} patient(s) in test and in "
                f"train/val (e.g. {shared[0]}); keep each patient's images on one side, or the "
                "test set measures recall of patients seen in training"
            )
    return table


SPLIT_COLUMNS = ("id", "label", "split")
"""What a split is: which image, its label, its side. Not where its file lies under the data
root (``source``): the same files under a root one level up or down are the same split."""


def table_checksum(table: Any, columns: tuple[str, ...] = SPLIT_COLUMNS) -> str:
    """SHA-256 of the split's ``columns`` (by default ``SPLIT_COLUMNS``), identifying its exact
    content."""
    text = table[list(columns)].to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode()).hexdigest()
