"""``folder``: any data set laid out in folders, or listed in a CSV, with no code.

Folder layout under the root (file names are free; PNG, JPEG, TIFF, BMP or DICOM)::

    ROOT/train/normal/...          training normals
    ROOT/val/normal/...            optional; else 10% of the training normals
    ROOT/test/normal/...
    ROOT/test/abnormal/...

Or ``--data-option csv=FILE``: a CSV with columns ``path`` (relative to the root, or absolute),
``label`` (0 normal, 1 abnormal) and ``split`` (train, val or test), and optionally ``patient``
(so that validation is carved by patient). The split version is ``folder-<hash>`` or
``csv-<hash>`` of the listing, so a changed folder is never mistaken for the old one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from uadbench.contracts.dataset import Dataset, SplitTableError
from uadbench.contracts.method import Range
from uadbench.data.split_files import VAL_FRACTION, carve_validation, read_csv_with_columns

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"}
CSV_COLUMNS = ("path", "label", "split")
SALT = "folder"


class Folder(Dataset):
    """Your own images: ROOT/{train,test}/{normal,abnormal}/ folders, or a CSV list."""

    name = "folder"
    layout = (
        "  ROOT/train/normal/*, ROOT/test/normal/*, ROOT/test/abnormal/* (ROOT/val/normal/* "
        "optional)\n  or --data-option csv=FILE with columns path,label,split[,patient]"
    )

    @dataclass(frozen=True)
    class Options:
        csv: str | None = None
        val_fraction: float = VAL_FRACTION
        intensity: str = "bits"

    option_ranges = {"val_fraction": Range(0, 1, open_high=True)}

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        return (folder / "train" / "normal").is_dir()

    def _listing(self) -> pd.DataFrame:
        assert self.root is not None
        if self.options.csv:
            return self._from_csv(Path(self.options.csv).expanduser())
        abnormal_training = _images(self.root / "train" / "abnormal")
        if abnormal_training:
            raise SplitTableError(
                f"{self.root / 'train' / 'abnormal'} holds {len(abnormal_training)} image(s); "
                "training uses normal images only: move them to test/abnormal"
            )
        rows = [
            (path, label, split)
            for split, cls, label in (
                ("train", "normal", 0),
                ("val", "normal", 0),
                ("test", "normal", 0),
                ("test", "abnormal", 1),
            )
            for path in _images(self.root / split / cls)
        ]
        if not rows:
            raise SplitTableError(f"no images under {self.root}; expected:\n{self.layout}")
        table = pd.DataFrame(rows, columns=["path", "label", "split"])
        table["source"] = [str(p.relative_to(self.root)) for p in table["path"]]
        return table.drop(columns="path")

    def _from_csv(self, path: Path) -> pd.DataFrame:
        table, _ = read_csv_with_columns(path, CSV_COLUMNS, "CSV")
        return table.rename(columns={"path": "source"})

    @property
    def split_version(self) -> str:
        listing = self._listing()
        text = listing[["source", "label", "split"]].to_csv(index=False)
        kind = "csv" if self.options.csv else "folder"
        return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    def split_table(self) -> pd.DataFrame:
        self.check_present()
        table = self._listing()
        table["id"] = [str(Path(s).with_suffix("")) for s in table["source"]]
        if "patient" not in table:
            table["patient"] = table["id"]
        if not (table["split"] == "val").any():
            table = carve_validation(table, self.options.val_fraction, SALT)
        return table


def _images(folder: Path) -> Iterable[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
