"""Make the committed ``uadbench-v1`` split files from public metadata (deterministic).

    python datasets/make_splits.py --shared ../shared

Inputs (the public label tables; none of the images are needed except for ZhangLab, whose
metadata is its file listing):
- ZhangLab: the release folder (``<shared>/data/zhanglab-224/chest_xray``); besides
  ``uadbench-v1`` it writes ``official``: the official partition exactly (all 1,341 training
  normals, no validation set), the split of SQUID's published ZhangLab numbers, and
  ``confirmation``: the same training normals, tested on the validation normals against the
  otherwise unused ``train/PNEUMONIA`` images;
- CheXpert: ``train.csv`` of CheXpert-v1.0-small (``<shared>/metadata/chexpert_train.csv.gz``);
- RSNA: ``stage_2_train_labels.csv``, the DICOM header table, and the patients of the "Normal"
  class. That class is listed in the Kaggle release's ``stage_2_detailed_class_info.csv``
  (``--rsna-class-info``); without it, the normal patients of a Med-AD RSNA ``data.json`` are
  used (``--rsna-normal-from``), which holds every one of the 8,851 "Normal" patients;
- VinDr-CXR: the VinBigData ``train.csv`` (``<shared>/metadata/vinbigdata-train.csv.gz``);
- NIH ChestX-ray14: ``Data_Entry_2017_v2020.csv``
  (``<shared>/metadata/nih_Data_Entry_2017_v2020.csv.gz``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from uadbench.data.readers import chexpert, nih, rsna, vindr, zhanglab
from uadbench.data.split_files import DEFAULT_VERSION, write_split_file


def medad_normals(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    names = data["train"]["0"] + data["train"]["unlabeled"]["0"] + data["test"]["0"]
    return [Path(n).stem for n in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--rsna-class-info", type=Path, default=None)
    parser.add_argument("--rsna-normal-from", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    meta = args.shared / "metadata"
    made_by = "python datasets/make_splits.py " + shlex.join(sys.argv[1:])

    tables = {
        "zhanglab": zhanglab.build_split(args.shared / "data" / "zhanglab-224" / "chest_xray"),
        "chexpert": chexpert.build_split(meta / "chexpert_train.csv.gz"),
        "vindr": vindr.build_split(meta / "vinbigdata-train.csv.gz"),
        "nih": nih.build_split(meta / "nih_Data_Entry_2017_v2020.csv.gz"),
    }
    if args.rsna_class_info:
        normals = rsna.normal_class(args.rsna_class_info)
    else:
        normals = medad_normals(
            args.rsna_normal_from or args.shared / "splits" / "medianomaly_rsna_data.json"
        )
    tables["rsna"] = rsna.build_split(
        meta / "kaggle_stage_2_train_labels.csv.zip",
        normals,
        meta / "kaggle_stage_2_train_images_dicom_headers.csv.gz",
    )
    official = zhanglab.build_split(
        args.shared / "data" / "zhanglab-224" / "chest_xray", val_fraction=0
    )
    write_split_file(official, "zhanglab", "official", made_by, args.out)
    confirmation = zhanglab.build_confirmation_split(
        tables["zhanglab"], args.shared / "data" / "zhanglab-224" / "chest_xray"
    )
    write_split_file(confirmation, "zhanglab", "confirmation", made_by, args.out)
    for name, table in tables.items():
        path = write_split_file(table, name, DEFAULT_VERSION, made_by, args.out)
        counts = table.groupby(["split", "label"]).size().to_dict()
        print(f"{path}: {len(table)} images, {table['patient'].nunique()} patients, {counts}")


if __name__ == "__main__":
    main()
