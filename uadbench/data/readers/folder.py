"""``folder``: any data set laid out in folders, or listed in a CSV, with no code.

Folder layout under the root (file names are free; any image ``read_image_file`` decodes: PNG,
JPEG, TIFF, BMP, WebP, GIF, ... by suffix, and DICOM by suffix or, without one, by content)::

    ROOT/train/normal/...          training normals
    ROOT/val/normal/...            optional; else 10% of the training normals
    ROOT/test/normal/...
    ROOT/test/abnormal/...

Folder names are matched in any case (``Test/Abnormal``). Every other file under the root is
left out and named, with why (``left_out``): a file that is not an image, or one outside these
folders. Images in ``train/abnormal`` or ``val/abnormal``, or in a folder under ``train``,
``val`` or ``test`` named neither ``normal`` nor ``abnormal``, are refused, naming the folder.

Or ``--data-option csv=FILE``: a CSV with columns ``path`` (relative to the root, or absolute),
``label`` (0 normal, 1 abnormal) and ``split`` (train, val or test), and optionally ``patient``
(so that validation is carved by patient). The split version is ``folder-<hash>`` or
``csv-<hash>`` of the listing, so a changed folder is never mistaken for the old one.

A test file byte-identical to a training or validation file is refused as a train/test leak
(``uadbench.data.fingerprint``, which hashes every file), unless
``--data-option allow_train_test_duplicates=true``, which runs with a warning on the record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from uadbench.contracts.dataset import SPLITS, Dataset, SplitTableError
from uadbench.contracts.method import Range
from uadbench.data.fingerprint import DUPLICATES_OPTION
from uadbench.data.split_files import VAL_FRACTION, carve_validation, read_csv_with_columns
from uadbench.image_files import DICOM_SUFFIXES, RASTER_SUFFIXES, is_image_file

CLASSES = {"normal": 0, "abnormal": 1}
"""The class folders under a split folder, and their labels."""
LAYOUT = (("train", "normal"), ("val", "normal"), ("test", "normal"), ("test", "abnormal"))
"""The (split, class) folders read, in the order of the listing."""
OUTSIDE = "outside ROOT/{train,val,test}/{normal,abnormal}/"
NOT_AN_IMAGE = "not an image file (no image suffix, and not a DICOM)"
CSV_COLUMNS = ("path", "label", "split")
SALT = "folder"


@dataclass(frozen=True)
class Scan:
    """What a folder layout's root holds: the images read, and every other file, with why."""

    rows: list[tuple[str, int, str]]
    """(source, label, split) of each image read, by folder (``LAYOUT``), then by path."""
    left_out: list[dict[str, str]]
    """``file`` (relative to the root) and ``why`` of each file not read."""
    refused: dict[str, tuple[int, str]]
    """Folder (relative to the root) -> (its images, why they are refused)."""


class Folder(Dataset):
    """Your own images: ROOT/{train,test}/{normal,abnormal}/ folders, or a CSV list."""

    name = "folder"
    layout = (
        "  ROOT/train/normal/*, ROOT/test/normal/*, ROOT/test/abnormal/* (ROOT/val/normal/* "
        "optional; folder names in any case)\n"
        "  or --data-option csv=FILE with columns path,label,split[,patient]"
    )

    @dataclass(frozen=True)
    class Options:
        csv: str | None = None
        val_fraction: float = VAL_FRACTION
        intensity: str = "bits"
        allow_train_test_duplicates: bool = False
        """Run although test files are byte-identical to training or validation files (a
        train/test leak), with a warning on the record; refused otherwise."""

    option_ranges = {"val_fraction": Range(0, 1, open_high=True)}

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        """A ``train/normal`` folder (any case) in ``folder``."""
        return any(_subfolders(train, "normal") for train in _subfolders(folder, "train"))

    def get_options(self) -> dict[str, Any]:
        """The options; ``allow_train_test_duplicates`` only when set, so the records and
        caches of folders without it keep the names they had before it existed."""
        options = super().get_options()
        if not options[DUPLICATES_OPTION]:
            del options[DUPLICATES_OPTION]
        return options

    def _listing(self) -> pd.DataFrame:
        assert self.root is not None
        if self.options.csv:
            return self._from_csv(Path(self.options.csv).expanduser())
        scan = scan_tree(self.root)
        if scan.refused:
            folder, (count, why) = next(iter(scan.refused.items()))
            raise SplitTableError(f"{self.root / folder} holds {count} image(s); {why}")
        if not scan.rows:
            raise SplitTableError(f"no images under {self.root}; expected:\n{self.layout}")
        return pd.DataFrame(scan.rows, columns=["source", "label", "split"])

    def _from_csv(self, path: Path) -> pd.DataFrame:
        table, _ = read_csv_with_columns(path, CSV_COLUMNS, "CSV")
        return table.rename(columns={"path": "source"})

    def left_out(self) -> list[dict[str, str]] | None:
        """Every file under the root that the folder layout does not read, with why; None with
        a CSV (its rows are the listing)."""
        if self.options.csv or self.root is None:
            return None
        return scan_tree(self.root).left_out

    @property
    def split_version(self) -> str:
        listing = self._listing()
        text = listing[["source", "label", "split"]].to_csv(index=False)
        kind = "csv" if self.options.csv else "folder"
        return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"

    def split_table(self) -> pd.DataFrame:
        self.check_present()
        table = self._listing()
        table["id"] = [_image_id(s) for s in table["source"]]
        if "patient" not in table:
            table["patient"] = table["id"]
        if not (table["split"] == "val").any():
            table = carve_validation(table, self.options.val_fraction, SALT)
        return table


def scan_tree(root: Path) -> Scan:
    """Sort every file under ``root`` into the images of the folder layout, the files left out
    (with why) and the refused folders."""
    found, left_out, refused = [], [], {}
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    for path in files:
        relative = path.relative_to(root)
        parts = relative.parts
        split, kind = (parts[0].lower(), parts[1].lower()) if len(parts) > 2 else (None, None)
        if split not in SPLITS:
            left_out.append({"file": str(relative), "why": OUTSIDE})
        elif not is_image_file(path):
            left_out.append({"file": str(relative), "why": NOT_AN_IMAGE})
        elif (why := _refusal(split, kind)) is not None:
            folder = str(Path(*parts[:2]))
            refused[folder] = (refused.get(folder, (0, why))[0] + 1, why)
        else:
            found.append((LAYOUT.index((split, kind)), relative, CLASSES[kind], split))
    rows = [(str(source), label, split) for _, source, label, split in sorted(found)]
    return Scan(rows, left_out, refused)


def _refusal(split: str, kind: str) -> str | None:
    """Why images in the class folder ``kind`` of the split folder ``split`` are refused;
    None for one of the layout's folders."""
    if kind not in CLASSES:
        return "it is neither normal nor abnormal (any case): rename it, or move it out of the root"
    if (split, kind) not in LAYOUT:
        return "training and validation use normal images only: move them to test/abnormal"
    return None


def _image_id(source: str) -> str:
    """The image id of a file: its path without an image suffix (a DICOM named by a UID keeps
    its last number)."""
    path = Path(source)
    known = path.suffix.lower() in (*RASTER_SUFFIXES, *DICOM_SUFFIXES)
    return str(path.with_suffix("") if known else path)


def _subfolders(folder: Path, name: str) -> list[Path]:
    """The folders in ``folder`` named ``name`` in any case."""
    try:
        return [p for p in folder.iterdir() if p.is_dir() and p.name.lower() == name]
    except OSError:
        return []
