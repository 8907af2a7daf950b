"""Reading the split file of the Med-AD / MedIAnomaly benchmark (``data.json``).

Its shape: ``{"train": {"0": [names], "unlabeled": {"0": [...], "1": [...]}},
"test": {"0": [names], "1": [names]}}``, names being image files such as ``<id>.png`` in the
packaging's ``images/`` folder. ``train["0"]`` are the training normals; the unlabeled pool is
for semi-supervised methods and is not used. The split is reproduced exactly: ``train["0"]``
trains, the test set tests, and there is no validation set (so no operating point), because
published Med-AD numbers are comparable only with exactly this training set.

Only the benchmark's own file is the split ``medad``: it is known by the checksum of what it
lists (``medad_checksum``), whatever its formatting. Any other ``data.json`` is read the same way
but named ``custom-<hash>``, so it never sits beside the published Med-AD numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from uadbench.contracts.dataset import DataNotFoundError, SplitTableError
from uadbench.data.split_files import DEFAULT_VERSION, SplitFileDataset, carve_validation

SECTIONS = (("train", "0", 0, "train"), ("test", "0", 0, "test"), ("test", "1", 1, "test"))
"""(section, key, label, split) of the lists a data.json holds that the split uses."""


def load_medad_json(path: Path) -> Any:
    """The parsed data.json; ``SplitTableError`` when it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SplitTableError(f"Med-AD split file {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise SplitTableError(f"{path} is not a readable JSON file: {error}") from None


def medad_checksum(data: Any) -> str:
    """SHA-256 of the image lists a data.json's split uses, sorted: the same for the same
    split, however the file is formatted."""
    lists = {f"{s}/{k}": sorted(data[s][k]) for s, k, _, _ in SECTIONS}
    return hashlib.sha256(json.dumps(lists, separators=(",", ":")).encode()).hexdigest()


LABELLED_LISTS = (
    *SECTIONS[:1],
    ("unlabeled", "0", 0, None),
    ("unlabeled", "1", 1, None),
    *SECTIONS[1:],
)
"""Every list of a data.json whose images carry a label, the unlabeled pool's included (its
lists are labelled in the file, only withheld from training by the benchmark)."""


def medad_labels(data: Any, path: Path) -> pd.DataFrame:
    """``id``, ``file``, ``label``, ``patient`` of every image a parsed data.json labels."""
    rows = []
    for section, key, label, _ in LABELLED_LISTS:
        try:
            part = data["train"]["unlabeled"] if section == "unlabeled" else data[section]
            names = part[key]
        except (KeyError, TypeError):
            raise SplitTableError(
                f"{path}: no list {section}[{key!r}]; a Med-AD data.json holds train['0'], "
                "train['unlabeled']['0'] and ['1'], test['0'] and test['1']"
            ) from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SplitTableError(f"{path}: {section}[{key!r}] must be a list of image file names")
        rows += [(Path(n).stem, n, label) for n in names]
    table = pd.DataFrame(rows, columns=["id", "file", "label"]).drop_duplicates("id")
    return table.assign(patient=table["id"]).reset_index(drop=True)


def read_medad_json(path: Path, salt: str, val_fraction: float = 0.0) -> pd.DataFrame:
    """The split table (``id``, ``file``, ``label``, ``split``, ``patient``) of a data.json."""
    return medad_table(load_medad_json(path), path, salt, val_fraction)


def medad_table(data: Any, path: Path, salt: str, val_fraction: float = 0.0) -> pd.DataFrame:
    """The split table of the parsed data.json ``data`` (read from ``path``)."""
    rows = []
    for section, key, label, split in SECTIONS:
        part = data.get(section) if isinstance(data, dict) else None
        if not isinstance(part, dict):
            raise SplitTableError(
                f"{path}: expected a top-level key {section!r} holding an object, as in the "
                'Med-AD data.json ({"train": {"0": [...]}, "test": {"0": [...], "1": [...]}})'
            )
        names = part.get(key)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SplitTableError(f"{path}: {section}[{key!r}] must be a list of image file names")
        rows += [(Path(n).stem, n, label, split) for n in names]
    table = pd.DataFrame(rows, columns=["id", "file", "label", "split"])
    table["patient"] = table["id"]
    return carve_validation(table, val_fraction, salt)


class MedADDataset(SplitFileDataset):
    """A data set read either from the Med-AD PNG packaging (``images/`` + ``data.json``) or
    from its original DICOM release, with the Med-AD split available as
    ``--data-option split=medad`` (the packaging's ``data.json``, or ``medad_json=PATH``)."""

    dicom_release: ClassVar[tuple[str, str, str]]
    """(layout name, image folder, file suffix) of the original DICOM release."""

    medad_sha256: ClassVar[str]
    """``medad_checksum`` of the benchmark's own data.json for this data set."""

    @dataclass(frozen=True)
    class Options:
        split: str = DEFAULT_VERSION
        split_file: str | None = None
        medad_json: str | None = None
        intensity: str = "bits"

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        """A Med-AD packaging whose data.json lists this data set's ids, or the DICOM
        release (``is_dicom_release``); never another data set's folder."""
        if (folder / "images").is_dir() and (folder / "data.json").is_file():
            return cls.lists_own_images(folder / "data.json")
        return cls.is_dicom_release(folder)

    @classmethod
    def is_dicom_release(cls, folder: Path) -> bool:
        """Whether ``folder`` holds the original DICOM release of this data set."""
        return (folder / cls.dicom_release[1]).is_dir()

    @classmethod
    def lists_own_images(cls, data_json: Path, sample: int = 20) -> bool:
        """Whether the first training images a data.json lists have this data set's ids; a
        file whose names cannot be read is not another data set's (reading it says why)."""
        try:
            names = load_medad_json(data_json)["train"]["0"][:sample]
            stems = [Path(name).stem for name in names]
        except (SplitTableError, KeyError, TypeError):
            return True
        return all(cls.is_own_id(stem) for stem in stems)

    def detect_layout(self) -> str:
        assert self.root is not None
        layout, images, _ = self.dicom_release
        if (self.root / "images").is_dir():
            return "medad-png"
        if (self.root / images).is_dir():
            return layout
        raise DataNotFoundError(
            f"{self.root} holds neither images/ nor {images}/.\n" + self.where_to_get()
        )

    def sources(self, table: pd.DataFrame, layout: str) -> Iterable[str]:
        if layout == "medad-png":
            files = table["file"] if "file" in table else table["id"] + ".png"
            return [f"images/{f}" for f in files]
        _, images, suffix = self.dicom_release
        return [f"{images}/{i}{suffix}" for i in table["id"]]

    def release_labels(self) -> pd.DataFrame:
        """The Med-AD packaging: every image its data.json labels; the DICOM release: its own
        label tables (``dicom_labels``)."""
        if self.detect_layout() == "medad-png":
            path = self.medad_json_path()
            return medad_labels(load_medad_json(path), path)
        return self.dicom_labels()

    def dicom_labels(self) -> pd.DataFrame:
        """Every labelled image of the DICOM release, from its tables under the root."""
        raise SplitTableError(
            f"{self.name!r} cannot derive a split of the images present from its DICOM release"
        )

    def medad_json_path(self) -> Path:
        """The data.json in use: ``medad_json``, else the packaging's own."""
        assert self.root is not None
        return Path(self.options.medad_json) if self.options.medad_json else self.root / "data.json"

    def special_split(self, version: str) -> tuple[pd.DataFrame, str] | None:
        """Split ``medad``: the packaging's data.json (or ``medad_json``), named ``medad`` only
        when it is the benchmark's own file, else ``custom-<hash>``."""
        if version != "medad":
            return super().special_split(version)
        path = self.medad_json_path()
        data = load_medad_json(path)
        table = medad_table(data, path, f"{self.name}:medad")
        checksum = medad_checksum(data)
        return table, version if checksum == self.medad_sha256 else f"custom-{checksum[:8]}"
