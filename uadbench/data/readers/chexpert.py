"""``chexpert``: CheXpert (Irvin et al., AAAI 2019), frontal PA views, normal vs any finding.

Releases: CheXpert-v1.0-small (downsampled JPEG) and CheXpert-v1.0 (full size), both with
``train.csv``, ``valid.csv`` and ``{train,valid}/patientNNNNN/studyN/viewN_frontal.jpg``; and the
full size as Stanford AIMI ships it today, in batches unpacked side by side:
``CheXpert-v1.0 batch 1 (validate & csv)/`` with ``train.csv``, and the training patients spread
over ``CheXpert-v1.0 batch 2 (train 1)/``, ``batch 3 (train 2)/``, ``batch 4 (train 3)/``
(``patientNNNNN/...`` in each, or under a ``train/`` folder in each); a batch not unpacked
makes the copy incomplete, never empty. The AIMI download unpacks the batches inside
``chexpertchestxrays-u20210408/``, which is found from the folder above it.

Definitions (split ``uadbench-v1``, built from ``train.csv`` only):
- view: ``Frontal/Lateral == Frontal`` and ``AP/PA == PA``;
- normal: ``No Finding == 1``;
- abnormal: any of the 12 pathology columns (every label except No Finding and Support
  Devices) equal to 1 (positive);
- neither, and left out: images whose findings are only uncertain (-1) or unmentioned.
  Uncertain labels are therefore never counted as positive or negative.
Patients are split, not images: 1,000 normal and 1,000 abnormal test images come from patients
drawn in salted-hash order, every image of a test patient is in test; the normals of all other
patients train, 10% of those patients validate; their abnormal images are unused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from uadbench.contracts.dataset import DataNotFoundError
from uadbench.data.split_files import VAL_FRACTION, SplitFileDataset, assign_patient_split

SALT = "chexpert:uadbench-v1"
RELEASES = ("CheXpert-v1.0-small", "CheXpert-v1.0")
NOT_PATHOLOGY = ("No Finding", "Support Devices")
N_TEST = 1000
CSV_BATCH = re.compile(r"CheXpert-v1\.0 batch \d+ \(validate & csv\)")
TRAIN_BATCH = re.compile(r"CheXpert-v1\.0 batch \d+ \(train \d+\)")
TRAIN_BATCH_EXAMPLE = "CheXpert-v1.0 batch 2 (train 1)"
"""Where a patient found in no unpacked batch is looked for (and reported missing)."""
LABEL_COLUMNS = {"Path", "Frontal/Lateral", "AP/PA", "No Finding"}
AIMI_DOWNLOAD = "chexpertchestxrays-u20210408"
"""The folder the Stanford AIMI download unpacks its batches into."""


def batches(folder: Path) -> tuple[Path | None, list[Path]]:
    """The AIMI download's csv batch (holding a CheXpert ``train.csv``) and its train batches
    in ``folder``."""
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return None, []
    csv = next((p for p in children if CSV_BATCH.fullmatch(p.name) and _labels(p)), None)
    return csv, [p for p in children if TRAIN_BATCH.fullmatch(p.name)]


def _labels(folder: Path) -> bool:
    try:
        return set(pd.read_csv(folder / "train.csv", nrows=0).columns) >= LABEL_COLUMNS
    except (OSError, ValueError):
        return False


def release_named(train_csv: Path) -> str | None:
    """The first folder of the first ``Path`` in a label table (the release it was made
    for), or None when the file is missing, unreadable or has no ``Path`` column."""
    try:
        first = pd.read_csv(train_csv, nrows=1)
    except (OSError, ValueError):
        return None
    if "Path" not in first.columns or first.empty:
        return None
    return str(first["Path"].iloc[0]).split("/")[0]


def pathology_columns(table: pd.DataFrame) -> list[str]:
    """The finding columns of a CheXpert label table (after the five descriptive ones)."""
    start = list(table.columns).index("No Finding")
    return [c for c in table.columns[start:] if c not in NOT_PATHOLOGY]


def build_split(
    train_csv: Path, val_fraction: float = VAL_FRACTION, n_test: int = N_TEST
) -> pd.DataFrame:
    """The ``uadbench-v1`` split from CheXpert's ``train.csv``."""
    table = assign_patient_split(labelled(train_csv), n_test, n_test, SALT, val_fraction)
    return table[["id", "label", "split", "patient", "sex", "age"]]


def labelled(train_csv: Path) -> pd.DataFrame:
    """``id``, ``label``, ``patient``, ``sex``, ``age`` of every frontal PA image of
    ``train.csv`` that is normal or has a positive finding (the module's definitions)."""
    labels = pd.read_csv(train_csv)
    frontal_pa = labels[(labels["Frontal/Lateral"] == "Frontal") & (labels["AP/PA"] == "PA")]
    normal = frontal_pa["No Finding"] == 1
    abnormal = (frontal_pa[pathology_columns(frontal_pa)] == 1).any(axis=1) & ~normal
    kept = frontal_pa[normal | abnormal]
    parts = kept["Path"].str.split(
        "/"
    )  # CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg
    return pd.DataFrame(
        {
            "id": parts.str[2:].str.join("/").str.removesuffix(".jpg"),
            "label": abnormal[normal | abnormal].astype(int).to_numpy(),
            "patient": parts.str[2].to_numpy(),
            "sex": kept["Sex"].to_numpy(),
            "age": kept["Age"].to_numpy(),
        }
    )


class CheXpert(SplitFileDataset):
    """CheXpert frontal PA radiographs: No Finding vs any positive finding (Irvin et al. 2019)."""

    name = "chexpert"
    folder_names = (AIMI_DOWNLOAD, f"chexpert/{AIMI_DOWNLOAD}")
    homepage = (
        "https://stanfordmlgroup.github.io/competitions/chexpert/ (full size from Stanford AIMI, "
        "in batches; CheXpert-v1.0-small on Kaggle)"
    )
    layout = (
        "  ROOT/CheXpert-v1.0-small/train.csv\n"
        "  ROOT/CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg ...\n"
        "  (or CheXpert-v1.0/ for the full-size release; ROOT may be the release folder itself)\n"
        "  or, as Stanford AIMI ships it, every batch unpacked side by side in ROOT:\n"
        "  ROOT/CheXpert-v1.0 batch 1 (validate & csv)/train.csv,\n"
        "  ROOT/CheXpert-v1.0 batch 2 (train 1)/patient00001/... up to batch 4 (train 3)/\n"
        f"  (the AIMI download unpacks them in {AIMI_DOWNLOAD}/, found as it is)"
    )

    id_pattern = r"patient\d{5}/study\d+/view\d+_(frontal|lateral)"
    id_example = "patient00001/study1/view1_frontal"

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        """A folder (or a release folder in it) whose ``train.csv`` is CheXpert's: a ``Path``
        column naming a CheXpert release. Another data set's ``train.csv`` is not."""
        return batches(folder)[0] is not None or any(
            release_named(candidate / "train.csv") in RELEASES
            for candidate in (folder, *(folder / r for r in RELEASES))
        )

    def release_dir(self) -> Path:
        """The folder holding ``train.csv`` and ``train/``."""
        assert self.root is not None
        for candidate in (self.root, *(self.root / r for r in RELEASES)):
            if (candidate / "train.csv").is_file():
                return candidate
        raise DataNotFoundError(f"{self.root} holds no CheXpert train.csv.\n" + self.where_to_get())

    def detect_layout(self) -> str:
        """The release named by ``train.csv``'s paths, checked against the folder's name, or
        ``aimi-batches``."""
        assert self.root is not None
        if batches(self.root)[0] is not None:
            return "aimi-batches"
        release = self.release_dir()
        named = release_named(release / "train.csv")
        if named not in RELEASES:
            found = "no Path column" if named is None else f"paths under {named!r}"
            raise DataNotFoundError(
                f"{release / 'train.csv'} has {found}: it is not CheXpert's label table (whose "
                f"Path column starts with {' or '.join(RELEASES)}); point --data-root at the "
                "CheXpert release"
            )
        if release.name in RELEASES and release.name != named:
            raise DataNotFoundError(
                f"{release} is named {release.name} but its train.csv lists {named} paths: the "
                f"folder holds the other release (or a mix of both). Keep each release in its own "
                f"folder under its own name, and point --data-root at the one you want."
            )
        return named

    def release_labels(self) -> pd.DataFrame:
        """The images ``train.csv`` labels (``labelled``): the AIMI csv batch's, or the
        release folder's."""
        assert self.root is not None
        csv_batch = batches(self.root)[0]
        folder = csv_batch if csv_batch is not None else self.release_dir()
        return labelled(folder / "train.csv")

    def sources(self, table: pd.DataFrame, layout: str) -> Iterable[str]:
        if layout == "aimi-batches":
            where = self._patients_in_batches()
            first = TRAIN_BATCH_EXAMPLE
            return [f"{where.get(i.split('/')[0], first)}/{i}.jpg" for i in table["id"]]
        prefix = self.release_dir().relative_to(self.root)
        return [str(prefix / "train" / f"{image_id}.jpg") for image_id in table["id"]]

    def _patients_in_batches(self) -> dict[str, str]:
        """Patient folder name -> the folder holding it, relative to the root."""
        assert self.root is not None
        where = {}
        for batch in batches(self.root)[1]:
            base = batch / "train" if (batch / "train").is_dir() else batch
            for patient in base.glob("patient*"):
                where[patient.name] = str(base.relative_to(self.root))
        return where
