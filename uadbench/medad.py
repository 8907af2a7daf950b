"""Reading the split file of the Med-AD / MedIAnomaly benchmark (``data.json``).

Its shape: ``{"train": {"0": [names], "unlabeled": {"0": [...], "1": [...]}},
"test": {"0": [names], "1": [names]}}``, names being image files such as ``<id>.png`` in the
packaging's ``images/`` folder. ``train["0"]`` are the training normals; the unlabeled pool is
for semi-supervised methods and is not used. The split is reproduced exactly: ``train["0"]``
trains, the test set tests, and there is no validation set (so no operating point), because
published Med-AD numbers are comparable only with exactly this training set.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from uadbench.dataset import DataNotFoundError, SplitTableError
from uadbench.split_files import DEFAULT_VERSION, SplitFileDataset, carve_validation


def read_medad_json(path: Path, salt: str, val_fraction: float = 0.0) -> pd.DataFrame:
    """The split table (``id``, ``file``, ``label``, ``split``, ``patient``) of a data.json."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SplitTableError(f"Med-AD split file {path} does not exist") from None
    except ValueError as error:
        raise SplitTableError(f"{path} is not valid JSON: {error}") from None
    rows = []
    for section, key, label, split in (
        ("train", "0", 0, "train"),
        ("test", "0", 0, "test"),
        ("test", "1", 1, "test"),
    ):
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

    @dataclass(frozen=True)
    class Options:
        split: str = DEFAULT_VERSION
        split_file: str | None = None
        medad_json: str | None = None

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        medad = (folder / "images").is_dir() and (folder / "data.json").is_file()
        return medad or (folder / cls.dicom_release[1]).is_dir()

    def detect_layout(self) -> str:
        assert self.root is not None
        layout, images, _ = self.dicom_release
        if (self.root / "images").is_dir():
            return "medad-png"
        if (self.root / images).is_dir():
            return layout
        raise DataNotFoundError(
            f"{self.root} holds neither images/ nor {images}/.\n" + self.missing_message()
        )

    def sources(self, table: pd.DataFrame, layout: str) -> Iterable[str]:
        if layout == "medad-png":
            files = table["file"] if "file" in table else table["id"] + ".png"
            return [f"images/{f}" for f in files]
        _, images, suffix = self.dicom_release
        return [f"{images}/{i}{suffix}" for i in table["id"]]

    def special_split(self, version: str) -> tuple[pd.DataFrame, str] | None:
        if version != "medad":
            return None
        assert self.root is not None
        path = Path(self.options.medad_json) if self.options.medad_json else self.root / "data.json"
        return read_medad_json(path, f"{self.name}:medad"), version
