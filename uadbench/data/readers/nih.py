"""``nih``: NIH ChestX-ray14 (Wang et al., CVPR 2017), normal ("No Finding") vs any finding.

The release as the NIH Clinical Center ships it: ``Data_Entry_2017_v2020.csv`` (or the older
``Data_Entry_2017.csv``), ``train_val_list.txt``, ``test_list.txt`` and the PNGs in
``images_001/images/`` ... ``images_012/images/`` (the twelve archives unpacked side by side),
or all in one ``images/`` folder. Views: PA by default (``--data-option view=AP`` or ``all``
for the release's own split).

Where findings lie (``lesion_regions``): the release's ``BBox_List_2017.csv``, 984 boxes drawn
by radiologists on 880 images (``x, y, w, h`` on the 1024 px PNGs); most lie in the release's
own test list. Split versions:
- ``uadbench-v1`` (committed, made by ``datasets/make_splits.py`` from the real table): PA
  views; patients drawn in salted-hash order give 1,000 normal and 1,000 abnormal test images
  (every image of a test patient is in test); the normals of all other patients train, 10% of
  those patients validate; their abnormal images are unused.
- ``official``: the release's own ``train_val_list.txt`` / ``test_list.txt`` (patient-wise),
  of the chosen view: its training normals train (10% of patients validate), its test images
  test. Of other views than PA it is named ``official-AP`` or ``official-all``, so that no
  board sets them beside PA numbers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from uadbench.contracts.dataset import Box, DataNotFoundError, SplitTableError, boxes_mask
from uadbench.data.split_files import (
    DEFAULT_VERSION,
    VAL_FRACTION,
    SplitFileDataset,
    assign_patient_split,
    carve_validation,
)

SALT = "nih:uadbench-v1"
N_TEST = 1000
TABLES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv")
VIEWS = ("PA", "AP", "all")
NORMAL = "No Finding"
BOXES = "BBox_List_2017.csv"
PNG_SIDE = 1024
"""Every PNG of the release is 1024 x 1024 px; ``BBox_List_2017.csv`` draws its boxes there."""


def labelled(data_entry: pd.DataFrame, view: str = "PA") -> pd.DataFrame:
    """``id``, ``label``, ``patient``, ``sex``, ``age`` of every image of ``view`` (or all)."""
    rows = data_entry if view == "all" else data_entry[data_entry["View Position"] == view]
    return pd.DataFrame(
        {
            "id": rows["Image Index"].str.removesuffix(".png").to_numpy(),
            "label": (rows["Finding Labels"] != NORMAL).astype(int).to_numpy(),
            "patient": rows["Patient ID"].map(lambda p: f"{int(p):05d}").to_numpy(),
            "sex": rows["Patient Gender"].to_numpy(),
            "age": rows["Patient Age"].to_numpy(),
        }
    )


def build_split(
    data_entry_csv: Path, val_fraction: float = VAL_FRACTION, n_test: int = N_TEST
) -> pd.DataFrame:
    """The ``uadbench-v1`` split from the release's ``Data_Entry_2017_v2020.csv``."""
    table = labelled(pd.read_csv(data_entry_csv))
    table = assign_patient_split(table, n_test, n_test, SALT, val_fraction)
    return table[["id", "label", "split", "patient", "sex", "age"]]


class NIH(SplitFileDataset):
    """NIH ChestX-ray14 PA radiographs: No Finding vs any finding (Wang et al. 2017)."""

    name = "nih"
    folder_names = ("ChestX-ray14", "CXR8")
    homepage = "https://nihcc.app.box.com/v/ChestXray-NIHCC (NIH Clinical Center)"
    layout = (
        "  ROOT/Data_Entry_2017_v2020.csv (or Data_Entry_2017.csv), ROOT/train_val_list.txt,\n"
        "  ROOT/test_list.txt, ROOT/images_001/images/00000001_000.png ... images_012/\n"
        "  (the twelve archives unpacked side by side), or every PNG in ROOT/images/"
    )

    @dataclass(frozen=True)
    class Options:
        split: str = DEFAULT_VERSION
        split_file: str | None = None
        intensity: str = "bits"
        view: str = "PA"

    id_pattern = r"\d{8}_\d{3}"
    id_example = "00000001_000"

    lesion_truth = "boxes"

    def lesion_boxes(self, table: pd.DataFrame) -> list[list[Box]] | None:
        """Each image's boxes as ``BBox_List_2017.csv`` draws them (its columns ``Image Index``,
        ``Finding Label`` and the four of ``Bbox [x,y,w,h]``); None without that file."""
        assert self.root is not None
        try:
            listed = pd.read_csv(self.root / BOXES)
        except FileNotFoundError:
            return None
        drawn: dict[str, list[Box]] = {}
        for name, *box in listed.iloc[:, [0, 2, 3, 4, 5]].itertuples(index=False):
            drawn.setdefault(str(name).removesuffix(".png"), []).append(tuple(map(float, box)))
        return [drawn.get(image_id, []) for image_id in table["id"]]

    def lesion_regions(self, table: pd.DataFrame, size: int) -> np.ndarray | None:
        boxes = self.lesion_boxes(table)
        return None if boxes is None else boxes_mask(boxes, size, (PNG_SIDE, PNG_SIDE))

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        """A folder with the release's label table (its ``Image Index`` and ``Finding
        Labels`` columns) beside ``images/`` or ``images_001/``."""
        return cls.label_table(folder) is not None and (
            (folder / "images").is_dir() or (folder / "images_001").is_dir()
        )

    @classmethod
    def label_table(cls, folder: Path) -> Path | None:
        for name in TABLES:
            try:
                header = pd.read_csv(folder / name, nrows=0).columns
            except (OSError, ValueError):
                continue
            if {"Image Index", "Finding Labels", "Patient ID", "View Position"} <= set(header):
                return folder / name
        return None

    def detect_layout(self) -> str:
        assert self.root is not None
        if self.label_table(self.root) is None:
            raise DataNotFoundError(
                f"{self.root} holds no NIH label table ({' or '.join(TABLES)}).\n"
                + self.where_to_get()
            )
        if (self.root / "images_001").is_dir():
            return "nih-archives"
        if (self.root / "images").is_dir():
            return "nih-flat"
        raise DataNotFoundError(
            f"{self.root} holds neither images_001/ ... nor images/.\n" + self.where_to_get()
        )

    def sources(self, table: pd.DataFrame, layout: str) -> Iterable[str]:
        if layout == "nih-flat":
            return [f"images/{i}.png" for i in table["id"]]
        where = self._archive_index()
        return [where.get(f"{i}.png", f"images_001/images/{i}.png") for i in table["id"]]

    def _archive_index(self) -> dict[str, str]:
        """File name -> path under the root, over every ``images_NNN/images/`` folder."""
        assert self.root is not None
        index = {}
        for archive in sorted(self.root.glob("images_[0-9][0-9][0-9]")):
            folder = archive / "images"
            if folder.is_dir():
                for entry in os.scandir(folder):
                    index[entry.name] = f"{archive.name}/images/{entry.name}"
        return index

    def release_labels(self) -> pd.DataFrame:
        """Every image of the chosen view in the release's label table (``labelled``)."""
        assert self.root is not None
        self.check_view()
        table = self.label_table(self.root)
        if table is None:
            raise DataNotFoundError(f"{self.root} holds no NIH label table ({' or '.join(TABLES)})")
        return labelled(pd.read_csv(table), self.options.view)

    def protocol(self) -> str:
        """``uadbench-v1`` for PA views, ``uadbench-v1-<view>`` for the others."""
        view = self.options.view
        return DEFAULT_VERSION if view == "PA" else f"{DEFAULT_VERSION}-{view}"

    def check_view(self) -> None:
        """Refuse a view the release does not have."""
        if self.options.view not in VIEWS:
            raise SplitTableError(f"nih: view={self.options.view!r} is none of {', '.join(VIEWS)}")

    def split_table(self) -> pd.DataFrame:
        self.check_view()
        if self.options.view != "PA" and self.options.split == DEFAULT_VERSION:
            raise SplitTableError(
                f"nih: the committed split {DEFAULT_VERSION} holds PA views only; use "
                f"--data-option split=official or split=available with view={self.options.view}"
            )
        return super().split_table()

    def special_split(self, version: str) -> tuple[pd.DataFrame, str] | None:
        """Split ``official``: the release's ``train_val_list.txt`` and ``test_list.txt``."""
        if version != "official":
            return super().special_split(version)
        assert self.root is not None
        lists = {}
        for name in ("train_val_list.txt", "test_list.txt"):
            try:
                lists[name] = {s.strip() for s in (self.root / name).read_text().split() if s}
            except OSError:
                raise SplitTableError(
                    f"split official follows the release's {name}, which is not in {self.root}; "
                    "download it with the images, or use the committed split"
                ) from None
        entries = pd.read_csv(self.label_table(self.root))
        table = labelled(entries, self.options.view)
        files = table["id"] + ".png"
        table["split"] = None
        table.loc[files.isin(lists["test_list.txt"]), "split"] = "test"
        table.loc[files.isin(lists["train_val_list.txt"]) & (table["label"] == 0), "split"] = (
            "train"
        )
        table = table[table["split"].notna()]
        table = carve_validation(table, VAL_FRACTION, "nih:official").reset_index(drop=True)
        named = version if self.options.view == "PA" else f"{version}-{self.options.view}"
        return table[["id", "label", "split", "patient", "sex", "age"]], named
