"""``zhanglab``: the pediatric pneumonia chest X-rays of Kermany, Zhang et al. (Cell 2018).

Release layout (Mendeley Data doi:10.17632/rscbjbr9sj.2, also on Kaggle as "Chest X-Ray Images
(Pneumonia)"): ``chest_xray/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg``. The UAD protocol of the
AnatPaste and SQUID papers: train on ``train/NORMAL``; test ``test/NORMAL`` (234, normal) against
``test/PNEUMONIA`` (390, abnormal). ``train/PNEUMONIA`` and the official 16-image ``val`` folder
are not used. Split ``uadbench-v1`` keeps the official partition and moves the images of 10% of
the training patients (file names ``IM-0115-0001`` or ``NORMAL2-IM-0007-0001`` name the patient)
into validation. Split ``confirmation`` (see ``build_confirmation_split``) tests on images the
official test set does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from uadbench.contracts.dataset import DataNotFoundError
from uadbench.data.split_files import VAL_FRACTION, SplitFileDataset, carve_validation

SALT = "zhanglab:uadbench-v1"
USED = {("train", "NORMAL"): 0, ("test", "NORMAL"): 0, ("test", "PNEUMONIA"): 1}


def release_folder(root: Path) -> Path | None:
    """The folder holding ``train/NORMAL`` among ``root``, ``root/chest_xray`` and the doubled
    ``root/chest_xray/chest_xray`` of the Kaggle archive."""
    for candidate in (root, root / "chest_xray", root / "chest_xray" / "chest_xray"):
        if (candidate / "train" / "NORMAL").is_dir():
            return candidate
    return None


def patient_of(file_name: str) -> str:
    """The patient in a file name: ``NORMAL2-IM-0007-0001.jpeg`` -> ``NORMAL2-IM-0007``,
    ``person12_virus_39.jpeg`` -> ``person12``."""
    stem = Path(file_name).stem
    match = re.match(r"^((?:NORMAL2-)?IM-\d+)", stem) or re.match(r"^(person\d+)_", stem)
    return match.group(1) if match else stem


def build_split(release: Path, val_fraction: float = VAL_FRACTION) -> pd.DataFrame:
    """The ``uadbench-v1`` split from a release folder's file listing."""
    rows = []
    for (split, cls), label in USED.items():
        for path in sorted((release / split / cls).glob("*.jpeg")):
            rows.append((f"{split}/{cls}/{path.stem}", label, split, patient_of(path.name)))
    table = pd.DataFrame(rows, columns=["id", "label", "split", "patient"])
    return carve_validation(table, val_fraction, SALT)


def build_confirmation_split(v1: pd.DataFrame, release: Path) -> pd.DataFrame:
    """Split ``confirmation``: the training normals of ``uadbench-v1`` (``v1``) train; its
    validation normals and every ``train/PNEUMONIA`` image test. It shares no image with the
    official test set, so it can check a choice that was made with that test set in view; it
    may share children (person numbers occur in both folders of the release)."""
    columns = ["id", "label", "split", "patient"]
    kept = v1.loc[v1["split"].isin(["train", "val"]), columns].copy()
    kept.loc[kept["split"] == "val", "split"] = "test"
    pneumonia = sorted((release / "train" / "PNEUMONIA").glob("*.jpeg"))
    if not pneumonia:
        raise DataNotFoundError(f"no train/PNEUMONIA/*.jpeg under {release}")
    rows = [(f"train/PNEUMONIA/{p.stem}", 1, "test", patient_of(p.name)) for p in pneumonia]
    return pd.concat([kept, pd.DataFrame(rows, columns=columns)], ignore_index=True)


class ZhangLab(SplitFileDataset):
    """Pediatric pneumonia chest X-rays (Kermany, Zhang et al. 2018): normal vs pneumonia."""

    name = "zhanglab"
    homepage = (
        "https://data.mendeley.com/datasets/rscbjbr9sj/2 "
        "(or Kaggle: paultimothymooney/chest-xray-pneumonia)"
    )
    layout = (
        "  ROOT/chest_xray/train/NORMAL/*.jpeg\n  ROOT/chest_xray/test/{NORMAL,PNEUMONIA}/*.jpeg"
    )

    id_pattern = r"(train|test|val)/(NORMAL|PNEUMONIA)/[^/]+"
    id_example = "train/NORMAL/IM-0115-0001"

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        return release_folder(folder) is not None

    def detect_layout(self) -> str:
        assert self.root is not None
        if release_folder(self.root) is None:
            raise DataNotFoundError(
                f"{self.root} exists but holds no chest_xray/train/NORMAL folder.\n"
                + self.where_to_get()
            )
        return "mendeley"

    def release_labels(self) -> pd.DataFrame:
        """The release's file listing, split as ``uadbench-v1`` is (``build_split``): its
        folders are its labels and its partition."""
        assert self.root is not None
        return build_split(release_folder(self.root))

    def derive_available(self, labelled: pd.DataFrame) -> pd.DataFrame:
        """The official partition of the images present, as ``uadbench-v1`` splits it."""
        return labelled

    def sources(self, table: pd.DataFrame, layout: str) -> Iterable[str]:
        assert self.root is not None
        prefix = release_folder(self.root).relative_to(self.root)
        return [str(prefix / f"{image_id}.jpeg") for image_id in table["id"]]
