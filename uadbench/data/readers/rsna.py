"""``rsna``: the RSNA Pneumonia Detection Challenge images (Kaggle 2018, stage 2 training set).

Normal = the "Normal" class of the challenge's ``stage_2_detailed_class_info.csv``; abnormal =
"Lung Opacity" (Target 1 in ``stage_2_train_labels.csv``). The third class, "No Lung Opacity /
Not Normal", is left out, as in the Med-AD benchmark. One image per patient.

Two layouts are read:
- the Kaggle release: ``stage_2_train_images/<patientId>.dcm`` with its CSVs;
- the Med-AD / MedIAnomaly packaging: ``images/<patientId>.png`` and ``data.json``.
Two split versions: ``uadbench-v1`` (committed, made by ``datasets/make_splits.py``: 1,000 normal
and 1,000 lung-opacity test patients in salted-hash order, the other 7,851 normals train, 10%
of them validate) and ``medad`` (the ``data.json`` of the Med-AD packaging, or the file given
with ``--data-option medad_json=PATH``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from uadbench.contracts.dataset import SplitTableError
from uadbench.data.readers.medad import MedADDataset
from uadbench.data.split_files import (
    VAL_FRACTION,
    assign_patient_split,
)

SALT = "rsna:uadbench-v1"
KAGGLE_IMAGES = "stage_2_train_images"
CLASS_INFO = "stage_2_detailed_class_info.csv"
N_TEST = 1000


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


def normal_class(class_info_csv: Path) -> list[str]:
    """Patients of the "Normal" class in ``stage_2_detailed_class_info.csv``."""
    info = pd.read_csv(class_info_csv)
    if not {"patientId", "class"} <= set(info.columns):
        raise SplitTableError(f"{class_info_csv} needs columns patientId and class")
    return sorted(set(info.loc[info["class"] == "Normal", "patientId"]))


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

    dicom_release = ("kaggle-dicom", KAGGLE_IMAGES, ".dcm")
    id_pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    id_example = "0004cfab-14fd-4e49-80ba-63a80b6bddd6"
    medad_sha256 = "b8fec9cbd3de7a221ecfbc5bb55f83b2be8667bdd103771156f3edf49e912947"
    """Of caiyu6666/DDAD's ``data/rsna_data.json``, which the MedIAnomaly RSNA archive ships."""

    def split_table(self) -> pd.DataFrame:
        table = super().split_table()
        self.check_normal_class(table)
        return table

    def check_normal_class(self, table: pd.DataFrame) -> None:
        """With the Kaggle class table at hand, refuse a split whose normals are not 'Normal'."""
        assert self.root is not None
        class_info = self.root / CLASS_INFO
        if not class_info.is_file():
            return
        info = pd.read_csv(class_info)
        normals = set(table.loc[table["label"] == 0, "id"])
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
