"""``vindr``: VinDr-CXR (Nguyen et al., Scientific Data 2022), normal vs any finding.

Normal: every radiologist who read the image marked "No finding"; abnormal: any finding. The
images carry no patient identity, so an image is its own patient.

Three layouts are read, and the run records which (``layout``):
- the Med-AD / MedIAnomaly packaging: ``images/<image_id>.png`` and ``data.json`` (the
  MedIAnomaly archive unpacks it as ``MedIAnomaly-Data/VinCXR/``);
- the VinBigData Kaggle release: ``train/<image_id>.dicom`` and ``train.csv``;
- the PhysioNet release (VinDr-CXR 1.0.0): ``train/<image_id>.dicom`` and
  ``annotations/annotations_train.csv`` (the same columns as Kaggle's ``train.csv``), also as
  ``wget -r`` fetches it, under ``physionet.org/files/vindr-cxr/1.0.0/`` (found from the folder
  it ran in, and from ``physionet.org/``).

Where findings lie (``lesion_regions``): the boxes of the DICOM releases' table of findings,
every reader's kept as drawn (their union), in each DICOM's own pixels; the Med-AD packaging has
no boxes.

Two split versions: ``uadbench-v1`` (committed, made by ``datasets/make_splits.py`` from the
VinBigData ``train.csv``: 1,000 normal and 1,000 abnormal test images in salted-hash order, the
other normals train, 10% validate) and ``medad`` (the packaging's ``data.json``, or the file given
with ``--data-option medad_json=PATH``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from uadbench.contracts.dataset import Box, SplitTableError, boxes_mask
from uadbench.data.readers.medad import MedADDataset
from uadbench.data.split_files import (
    VAL_FRACTION,
    assign_patient_split,
)

SALT = "vindr:uadbench-v1"
RELEASE_TABLES = (
    ("vinbigdata-dicom", "train.csv"),
    ("physionet-dicom", "annotations/annotations_train.csv"),
)
"""The DICOM releases, by the table of findings each ships."""
N_TEST = 1000
BOX_COLUMNS = ("x_min", "y_min", "x_max", "y_max")
"""A finding's box in the table of findings: corners in the DICOM's pixels."""
PHYSIONET_RELEASE = "files/vindr-cxr/1.0.0"
"""The release folder under ``physionet.org/``, where ``wget -r`` puts PhysioNet's files."""


def finding_labels(boxes_csv: Path) -> pd.DataFrame:
    """``id``, ``label``, ``patient`` of every image of a table of findings (VinBigData's
    ``train.csv`` or PhysioNet's ``annotations_train.csv``, one row per finding box)."""
    boxes = pd.read_csv(boxes_csv)
    normal = boxes.groupby("image_id")["class_name"].agg(
        lambda names: (names == "No finding").all()
    )
    table = pd.DataFrame({"id": normal.index, "label": (~normal).astype(int).to_numpy()})
    return table.assign(patient=table["id"])


def build_split(
    train_csv: Path, val_fraction: float = VAL_FRACTION, n_test: int = N_TEST
) -> pd.DataFrame:
    """The ``uadbench-v1`` split from the VinBigData ``train.csv`` (one row per finding box)."""
    table = assign_patient_split(finding_labels(train_csv), n_test, n_test, SALT, val_fraction)
    return table[["id", "label", "split", "patient"]]


class VinDr(MedADDataset):
    """VinDr-CXR: no finding vs any finding (Med-AD PNG packaging or VinBigData DICOM)."""

    name = "vindr"
    folder_names = (
        "MedIAnomaly-Data/VinCXR",
        "VinCXR",
        f"physionet.org/{PHYSIONET_RELEASE}",
        PHYSIONET_RELEASE,
        f"vindr/physionet.org/{PHYSIONET_RELEASE}",
    )
    homepage = (
        "the Med-AD packaging of github.com/caiyu6666/MedIAnomaly (PNG + data.json), "
        "https://www.kaggle.com/c/vinbigdata-chest-xray-abnormalities-detection (DICOM), or "
        "https://physionet.org/content/vindr-cxr/1.0.0/ (DICOM)"
    )
    layout = (
        "  ROOT/images/<image_id>.png and ROOT/data.json (Med-AD packaging; the MedIAnomaly\n"
        "  archive unpacks it as MedIAnomaly-Data/VinCXR/, found as it is)\n"
        "  or ROOT/train/<image_id>.dicom and ROOT/train.csv (VinBigData release)\n"
        "  or ROOT/train/<image_id>.dicom and ROOT/annotations/annotations_train.csv (PhysioNet;\n"
        "  wget -r puts them in physionet.org/files/vindr-cxr/1.0.0/, found as it is)"
    )

    @dataclass(frozen=True)
    class Options(MedADDataset.Options):
        intensity: str = "voi"
        """VinDr-CXR's DICOMs store 12 to 16 bits, many MONOCHROME1, with the readers' window
        in the header: it is applied (the VinBigData practice); the PNG packaging is unchanged."""

    dicom_release = ("vinbigdata-dicom", "train", ".dicom")
    id_pattern = r"[0-9a-f]{32}"
    id_example = "000434271f63a181f93b6e0b2ac13c4c"
    medad_sha256 = "13373d18be2928233af9f04d8ceb0f2504006e0b2f21fc4a91783846955cde7d"
    """Of caiyu6666/DDAD's ``data/vin_data.json``, the MedIAnomaly VinDr-CXR split."""

    lesion_truth = "boxes"

    def lesion_boxes(self, table: pd.DataFrame) -> list[list[Box]] | None:
        """Each image's finding boxes as the release's table draws them (``x, y, width,
        height`` in its DICOM's pixels; every reader's box, so overlapping boxes of several
        readers stay as drawn; none for "No finding"); None without such a table (the Med-AD
        packaging)."""
        assert self.root is not None
        found = self.annotations(self.root)
        if found is None or self.detect_layout() == "medad-png":  # resized PNGs: other pixels
            return None
        findings = pd.read_csv(found[1])
        if not set(BOX_COLUMNS) <= set(findings.columns):
            return None
        drawn: dict[str, list[Box]] = {}
        for row in findings.dropna(subset=list(BOX_COLUMNS)).itertuples(index=False):
            box = (row.x_min, row.y_min, row.x_max - row.x_min, row.y_max - row.y_min)
            drawn.setdefault(row.image_id, []).append(box)
        return [drawn.get(image_id, []) for image_id in table["id"]]

    def lesion_regions(self, table: pd.DataFrame, size: int) -> np.ndarray | None:
        """The boxes drawn at ``size``, each image's by its own DICOM's rows and columns (the
        release's images differ in size; only the headers of images with a box are read)."""
        import pydicom

        boxes = self.lesion_boxes(table)
        if boxes is None:
            return None
        regions = np.zeros((len(table), size, size), dtype=bool)
        for i, (image_boxes, path) in enumerate(zip(boxes, self.source_files(table), strict=True)):
            if image_boxes:
                header = pydicom.dcmread(path, stop_before_pixels=True)
                regions[i] = boxes_mask([image_boxes], size, (header.Rows, header.Columns))[0]
        return regions

    @classmethod
    def is_dicom_release(cls, folder: Path) -> bool:
        """``train/`` beside a VinBigData ``train.csv`` or PhysioNet's
        ``annotations/annotations_train.csv`` (columns ``image_id`` and ``class_name``): a
        ``train/`` folder alone is any data set's."""
        return (folder / "train").is_dir() and cls.annotations(folder) is not None

    @classmethod
    def annotations(cls, folder: Path) -> tuple[str, Path] | None:
        """(layout, table) of the DICOM release's finding table in ``folder``, if any."""
        for layout, table in RELEASE_TABLES:
            try:
                header = pd.read_csv(folder / table, nrows=0).columns
            except (OSError, ValueError):
                continue
            if {"image_id", "class_name"} <= set(header):
                return layout, folder / table
        return None

    def dicom_labels(self) -> pd.DataFrame:
        """The DICOM release's table of findings (``finding_labels``)."""
        assert self.root is not None
        found = self.annotations(self.root)
        if found is None:
            raise SplitTableError(f"{self.root} holds no VinDr-CXR table of findings")
        return finding_labels(found[1])

    def detect_layout(self) -> str:
        assert self.root is not None
        if not (self.root / "images").is_dir() and (found := self.annotations(self.root)):
            return found[0]
        return super().detect_layout()
