"""``rsna``: the RSNA Pneumonia Detection Challenge images (Kaggle 2018, stage 2 training set).

Normal = the "Normal" class of the challenge's ``stage_2_detailed_class_info.csv``; abnormal =
"Lung Opacity" (Target 1 in ``stage_2_train_labels.csv``). The third class, "No Lung Opacity /
Not Normal", is left out, as in the Med-AD benchmark (``--data-option abnormal=lung-opacity``,
the default), or counted as abnormal too, as in BMAD (``abnormal=lung-opacity+not-normal``,
with ``split=available``: its versions are named ``uadbench-v1-bmad-...``). One image per
patient.

Two layouts are read:
- the Kaggle release: ``stage_2_train_images/<patientId>.dcm`` with its CSVs;
- the Med-AD / MedIAnomaly packaging: ``images/<patientId>.png`` and ``data.json``.
Split versions: ``uadbench-v1`` (committed, made by ``datasets/make_splits.py``: 1,000 normal
and 1,000 lung-opacity test patients in salted-hash order, the other 7,851 normals train, 10%
of them validate), ``medad`` (the ``data.json`` of the Med-AD packaging, or the file given
with ``--data-option medad_json=PATH``) and ``available`` (derived from the images present and
the release's tables: ``uadbench.data.split_files.available_split``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from uadbench.contracts.dataset import Box, SplitTableError, boxes_mask
from uadbench.data.readers.medad import MedADDataset
from uadbench.data.split_files import AVAILABLE, DEFAULT_VERSION, VAL_FRACTION, assign_patient_split

SALT = "rsna:uadbench-v1"
KAGGLE_IMAGES = "stage_2_train_images"
CLASS_INFO = "stage_2_detailed_class_info.csv"
LABELS = "stage_2_train_labels.csv"
N_TEST = 1000
NORMAL = "Normal"
NOT_NORMAL = "No Lung Opacity / Not Normal"
ABNORMAL = {"lung-opacity": (), "lung-opacity+not-normal": (NOT_NORMAL,)}
"""What counts as abnormal besides Target 1 (Lung Opacity): Med-AD's protocol, and BMAD's."""
PROTOCOLS = {"lung-opacity": DEFAULT_VERSION, "lung-opacity+not-normal": f"{DEFAULT_VERSION}-bmad"}
ORIGINAL_SIDE = 1024
"""Every stage-2 image is 1024 x 1024 px; ``stage_2_train_labels.csv`` draws its boxes there."""


def build_split(
    labels_csv: Path,
    normal_ids: Iterable[str],
    headers_csv: Path | None = None,
    val_fraction: float = VAL_FRACTION,
    n_test: int = N_TEST,
) -> pd.DataFrame:
    """The ``uadbench-v1`` split.

    ``labels_csv`` is ``stage_2_train_labels.csv`` (Target per box); ``normal_ids`` are the
    patients of the "Normal" class (from ``stage_2_detailed_class_info.csv``, see
    ``normal_class``); ``headers_csv`` optionally adds sex, age and view position.
    """
    target = pd.read_csv(labels_csv).groupby("patientId")["Target"].max()
    normal = pd.Index(sorted(set(normal_ids)))
    opacity = target.index[target == 1]
    clash = normal.intersection(opacity)
    if len(clash):
        raise SplitTableError(f"{len(clash)} 'Normal' patients have Target 1, e.g. {clash[0]}")
    ids = normal.append(opacity)
    table = pd.DataFrame({"id": ids, "label": [0] * len(normal) + [1] * len(opacity)})
    table["patient"] = table["id"]
    if headers_csv is not None:
        headers = pd.read_csv(headers_csv).set_index("PatientID")
        table["sex"] = headers["PatientSex"].reindex(table["id"]).to_numpy()
        table["age"] = headers["PatientAge"].reindex(table["id"]).to_numpy()
        table["view"] = headers["ViewPosition"].reindex(table["id"]).to_numpy()
    table = assign_patient_split(table, n_test, n_test, SALT, val_fraction)
    return table[["id", "label", "split", *table.columns.drop(["id", "label", "split"])]]


def kaggle_labels(
    labels_csv: Path, class_info_csv: Path, abnormal: str = "lung-opacity"
) -> pd.DataFrame:
    """``id``, ``label``, ``patient`` of every patient the Kaggle tables label: normal = the
    "Normal" class, abnormal = Target 1 (and the classes ``ABNORMAL[abnormal]``); a patient
    with Target 0 and no class (the circulating class table lacks some) is left out."""
    target = pd.read_csv(labels_csv).groupby("patientId")["Target"].max()
    info = _class_table(class_info_csv).groupby("patientId")["class"].first()
    normal = pd.Index(sorted(info.index[info == NORMAL]))
    opacity = set(target.index[target == 1]) | set(info.index[info.isin(ABNORMAL[abnormal])])
    clash = normal.intersection(sorted(opacity))
    if len(clash):
        raise SplitTableError(f"{len(clash)} 'Normal' patients have Target 1, e.g. {clash[0]}")
    ids = normal.append(pd.Index(sorted(opacity)))
    labels = [0] * len(normal) + [1] * len(opacity)
    return pd.DataFrame({"id": ids, "label": labels, "patient": ids})


def _class_table(class_info_csv: Path) -> pd.DataFrame:
    info = pd.read_csv(class_info_csv)
    if not {"patientId", "class"} <= set(info.columns):
        raise SplitTableError(f"{class_info_csv} needs columns patientId and class")
    return info


def normal_class(class_info_csv: Path) -> list[str]:
    """Patients of the "Normal" class in ``stage_2_detailed_class_info.csv``."""
    info = _class_table(class_info_csv)
    return sorted(set(info.loc[info["class"] == NORMAL, "patientId"]))


class RSNA(MedADDataset):
    """RSNA Pneumonia Detection Challenge: Normal vs Lung Opacity (DICOM or Med-AD PNG)."""

    name = "rsna"
    folder_names = ("MedIAnomaly-Data/RSNA", "RSNA")
    homepage = (
        "https://www.kaggle.com/c/rsna-pneumonia-detection-challenge (DICOM), or the Med-AD "
        "packaging of github.com/caiyu6666/MedIAnomaly (PNG + data.json)"
    )
    layout = (
        "  ROOT/stage_2_train_images/<patientId>.dcm, ROOT/stage_2_train_labels.csv,\n"
        "  ROOT/stage_2_detailed_class_info.csv (Kaggle release)\n"
        "  or ROOT/images/<patientId>.png and ROOT/data.json (Med-AD packaging; the\n"
        "  MedIAnomaly archive unpacks it as MedIAnomaly-Data/RSNA/, found as it is)"
    )

    @dataclass(frozen=True)
    class Options(MedADDataset.Options):
        abnormal: str = "lung-opacity"
        """``lung-opacity`` (Med-AD) or ``lung-opacity+not-normal`` (BMAD): what is abnormal."""

    dicom_release = ("kaggle-dicom", KAGGLE_IMAGES, ".dcm")
    id_pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    id_example = "0004cfab-14fd-4e49-80ba-63a80b6bddd6"
    medad_sha256 = "b8fec9cbd3de7a221ecfbc5bb55f83b2be8667bdd103771156f3edf49e912947"
    """Of caiyu6666/DDAD's ``data/rsna_data.json``, which the MedIAnomaly RSNA archive ships."""

    lesion_truth = "boxes"

    def lesion_boxes(self, table: pd.DataFrame) -> list[list[Box]] | None:
        """Each image's Lung Opacity boxes as ``stage_2_train_labels.csv`` draws them (``x, y,
        width, height`` at 1024 px; none for other images); None without that table (the
        Med-AD packaging has none)."""
        assert self.root is not None
        if not (self.root / LABELS).is_file():
            return None
        boxes = pd.read_csv(self.root / LABELS).dropna(subset=["x", "y", "width", "height"])
        drawn: dict[str, list[Box]] = {}
        for row in boxes.itertuples(index=False):
            drawn.setdefault(row.patientId, []).append((row.x, row.y, row.width, row.height))
        return [drawn.get(image_id, []) for image_id in table["id"]]

    def lesion_regions(self, table: pd.DataFrame, size: int) -> np.ndarray | None:
        boxes = self.lesion_boxes(table)
        return None if boxes is None else boxes_mask(boxes, size, (ORIGINAL_SIDE, ORIGINAL_SIDE))

    def protocol(self) -> str:
        """``uadbench-v1``, or ``uadbench-v1-bmad`` when "Not Normal" counts as abnormal."""
        if self.options.abnormal not in ABNORMAL:
            raise SplitTableError(
                f"rsna: abnormal={self.options.abnormal!r} is none of {', '.join(ABNORMAL)}"
            )
        return PROTOCOLS[self.options.abnormal]

    def split_table(self) -> pd.DataFrame:
        if self.protocol() != DEFAULT_VERSION and self.options.split != AVAILABLE:
            raise SplitTableError(
                f"rsna: abnormal={self.options.abnormal} (BMAD's classes) takes split=available; "
                f"split {self.options.split!r} counts Lung Opacity only"
            )
        table = super().split_table()
        self.check_normal_class(table)
        return table

    def release_labels(self) -> pd.DataFrame:
        """The labels of the release's tables; BMAD's classes need the Kaggle class table
        (the Med-AD packaging's data.json knows Lung Opacity only)."""
        if self.protocol() != DEFAULT_VERSION and self.detect_layout() == "medad-png":
            raise SplitTableError(
                f"rsna: abnormal={self.options.abnormal} needs the Kaggle release's {CLASS_INFO}; "
                "the Med-AD packaging's data.json tells Lung Opacity from Normal only"
            )
        return super().release_labels()

    def dicom_labels(self) -> pd.DataFrame:
        """The Kaggle release's labels (``kaggle_labels``); its class table is needed to tell
        "Normal" from "No Lung Opacity / Not Normal"."""
        assert self.root is not None
        for table in (LABELS, CLASS_INFO):
            if not (self.root / table).is_file():
                raise SplitTableError(
                    f"split {AVAILABLE} reads the release's {table}, which is not in {self.root}; "
                    "put the Kaggle release's label tables beside stage_2_train_images/"
                )
        return kaggle_labels(self.root / LABELS, self.root / CLASS_INFO, self.options.abnormal)

    def check_normal_class(self, table: pd.DataFrame) -> None:
        """With the Kaggle class table at hand, refuse a split whose normals present under the
        root are not 'Normal' (images absent from this copy are not checked)."""
        assert self.root is not None
        class_info = self.root / CLASS_INFO
        if not class_info.is_file():
            return
        info = pd.read_csv(class_info)
        normal = table[table["label"] == 0]
        here = [(self.root / source).is_file() for source in normal["source"]]
        normals = set(normal.loc[here, "id"])
        absent = sorted(normals - set(info.get("patientId", [])))
        other = sorted(normals - set(normal_class(class_info)) - set(absent))
        problems = []
        if absent:
            problems.append(f"{len(absent)} are not in the table at all (e.g. {absent[0]})")
        if other:
            problems.append(f"{len(other)} are in another class than 'Normal' (e.g. {other[0]})")
        if problems:
            raise SplitTableError(
                f"of the normal images of split {self.split_version!r}, "
                + " and ".join(problems)
                + f", according to {class_info}; use the challenge's own class table"
            )
