"""Tiny copies of each public release layout, written with generated images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def chest(seed: int, size: int = 48, abnormal: bool = False) -> np.ndarray:
    """A small 8-bit image: a phantom chest, brighter in the middle when abnormal."""
    from uadbench.data.readers.phantom import ChestPhantom

    image = ChestPhantom.sample(np.random.default_rng(seed), "nodule" if abnormal else None)
    return image.render(size)[0]


def save_jpeg(path: Path, pixels: np.ndarray, rgb: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    (image.convert("RGB") if rgb else image).save(path, quality=95)


def save_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_dicom(path: Path, pixels: np.ndarray, bits_stored: int, photometric: str) -> None:
    """An uncompressed single-frame grayscale DICOM."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 if bits_stored <= 8 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint8 if bits_stored <= 8 else np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def rsna_id(i: int) -> str:
    """A patient id in the RSNA release's form (a UUID)."""
    return f"{i:08x}-0000-4000-8000-{i:012x}"


def vindr_id(i: int) -> str:
    """An image id in the VinDr-CXR release's form (32 hex digits)."""
    return f"{i:032x}"


MEDAD_IDS = {"rsna": rsna_id, "vindr": vindr_id}


def zhanglab_release(root: Path, n_train: int = 12, n_test: int = 4) -> Path:
    """``root/chest_xray/{train,test}/{NORMAL,PNEUMONIA}`` with RGB JPEGs, as released."""
    release = root / "chest_xray"
    for i in range(n_train):
        save_jpeg(release / "train" / "NORMAL" / f"IM-{i // 2:04d}-000{i % 2 + 1}.jpeg", chest(i))
    save_jpeg(release / "train" / "PNEUMONIA" / "person1_bacteria_1.jpeg", chest(90, abnormal=True))
    for i in range(n_test):
        save_jpeg(release / "test" / "NORMAL" / f"NORMAL2-IM-{i:04d}-0001.jpeg", chest(100 + i))
        save_jpeg(
            release / "test" / "PNEUMONIA" / f"person{i}_virus_{i}.jpeg",
            chest(200 + i, abnormal=True),
        )
    return release


CHEXPERT_FINDINGS = [
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
]


def chexpert_release(root: Path, release: str = "CheXpert-v1.0-small", patients: int = 16) -> Path:
    """``root/<release>/train.csv`` and its JPEGs: per patient a normal PA, an abnormal PA, an
    AP view and a PA with only an uncertain finding."""
    rows = []
    for p in range(patients):
        for study, (view, no_finding, finding) in enumerate(
            [("PA", 1.0, None), ("PA", None, 1.0), ("AP", 1.0, None), ("PA", None, -1.0)], start=1
        ):
            path = f"{release}/train/patient{p:05d}/study{study}/view1_frontal.jpg"
            row = {
                "Path": path,
                "Sex": "Female",
                "Age": 40 + p,
                "Frontal/Lateral": "Frontal",
                "AP/PA": view,
                "No Finding": no_finding,
            }
            row |= {f: None for f in CHEXPERT_FINDINGS}
            row["Cardiomegaly"] = finding
            row["Support Devices"] = 1.0 if p % 3 == 0 else None
            rows.append(row)
            save_jpeg(root / path, chest(p * 10 + study, abnormal=finding == 1.0), rgb=False)
    (root / release).mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / release / "train.csv", index=False)
    return root / release


def rsna_kaggle_release(
    root: Path, normals: int = 10, opacities: int = 4, not_normal: int = 2
) -> Path:
    """``stage_2_train_images/*.dcm`` (8-bit MONOCHROME2 and 12-bit MONOCHROME1) and the CSVs."""
    labels, classes = [], []
    for i in range(normals + opacities + not_normal):
        pid = rsna_id(i)
        kind = (
            "Normal"
            if i < normals
            else "Lung Opacity"
            if i < normals + opacities
            else ("No Lung Opacity / Not Normal")
        )
        pixels = chest(300 + i, abnormal=kind == "Lung Opacity")
        if i % 2:
            write_dicom(root / "stage_2_train_images" / f"{pid}.dcm", pixels, 8, "MONOCHROME2")
        else:  # 12-bit, inverted: bright bone stored as low values
            stored = (4095 - pixels.astype(np.uint16) * 16).clip(0, 4095)
            write_dicom(root / "stage_2_train_images" / f"{pid}.dcm", stored, 12, "MONOCHROME1")
        labels.append(
            {
                "patientId": pid,
                "x": None,
                "y": None,
                "width": None,
                "height": None,
                "Target": int(kind == "Lung Opacity"),
            }
        )
        classes.append({"patientId": pid, "class": kind})
    pd.DataFrame(labels).to_csv(root / "stage_2_train_labels.csv", index=False)
    pd.DataFrame(classes).to_csv(root / "stage_2_detailed_class_info.csv", index=False)
    return root


def medad_packaging(root: Path, dataset: str = "rsna", n_train: int = 10, n_test: int = 4) -> Path:
    """``images/*.png`` and ``data.json`` in the Med-AD / MedIAnomaly shape, with the ids of
    ``dataset`` (``rsna`` or ``vindr``): training normals 0.., test normals 100..,
    test abnormals 200.., one unlabeled image 900."""
    image_id = MEDAD_IDS[dataset]
    names = {
        "train0": [f"{image_id(i)}.png" for i in range(n_train)],
        "test0": [f"{image_id(100 + i)}.png" for i in range(n_test)],
        "test1": [f"{image_id(200 + i)}.png" for i in range(n_test)],
        "unl": [f"{image_id(900)}.png"],
    }
    for key, files in names.items():
        for j, name in enumerate(files):
            save_png(
                root / "images" / name, chest(400 + 10 * j + len(key), abnormal=key == "test1")
            )
    data = {
        "train": {"0": names["train0"], "unlabeled": {"0": names["unl"], "1": []}},
        "test": {"0": names["test0"], "1": names["test1"]},
    }
    (root / "data.json").write_text(json.dumps(data))
    return root


def folder_tree(root: Path, n_train: int = 10, n_test: int = 4) -> Path:
    """``root/{train,test}/{normal,abnormal}`` with PNGs."""
    for i in range(n_train):
        save_png(root / "train" / "normal" / f"{i}.png", chest(500 + i))
    for i in range(n_test):
        save_png(root / "test" / "normal" / f"{i}.png", chest(600 + i))
        save_png(root / "test" / "abnormal" / f"{i}.png", chest(700 + i, abnormal=True))
    return root


def vinbigdata_release(root: Path, normals: int = 10, abnormals: int = 4) -> Path:
    """``train/<image_id>.dicom`` (16-bit storage, 14 bits stored, MONOCHROME1) and train.csv
    (with its box corners: on each abnormal image two readers' boxes, one reader's "No
    finding")."""
    rows = []
    for i in range(normals + abnormals):
        image_id = f"{i:032x}"
        abnormal = i >= normals
        stored = 16383 - chest(800 + i, abnormal=abnormal).astype(np.uint16) * 64
        write_dicom(root / "train" / f"{image_id}.dicom", stored, 14, "MONOCHROME1")
        for rad in ("R1", "R2", "R3"):
            found = abnormal and rad != "R1"  # two readers box the finding, one sees none
            name = "Nodule/Mass" if found else "No finding"
            corners = (8.0 + (rad == "R3"), 16.0, 24.0, 40.0) if found else (None,) * 4
            box = dict(zip(("x_min", "y_min", "x_max", "y_max"), corners, strict=True))
            rows.append({"image_id": image_id, "class_name": name, "rad_id": rad, **box})
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    return root


def nih_release(root: Path, layout: str = "archives", patients: int = 16) -> Path:
    """The NIH ChestX-ray14 layout with its real file and column names: Data_Entry_2017_v2020.csv,
    train_val_list.txt, test_list.txt, BBox_List_2017.csv (a box on the first two abnormal
    images) and PNGs in images_001/images/, images_002/images/ (or
    one images/ folder); two images per patient, every fourth patient's second image AP."""
    rows = []
    for patient in range(1, patients + 1):
        for follow_up in range(2):
            name = f"{patient:08d}_{follow_up:03d}.png"
            abnormal = patient % 3 == 0
            rows.append(
                {
                    "Image Index": name,
                    "Finding Labels": "Effusion|Mass" if abnormal else "No Finding",
                    "Follow-up #": follow_up,
                    "Patient ID": patient,
                    "Patient Age": 40 + patient,
                    "Patient Gender": "MF"[patient % 2],
                    "View Position": "AP" if follow_up and patient % 4 == 0 else "PA",
                    "OriginalImage[Width": 1024,
                    "Height]": 1024,
                    "OriginalImagePixelSpacing[x": 0.143,
                    "y]": 0.143,
                }
            )
            archive = f"images_{1 + (patient > patients // 2):03d}/images"
            folder = "images" if layout == "flat" else archive
            save_png(root / folder / name, chest(900 + 2 * patient + follow_up, abnormal=abnormal))
    entries = pd.DataFrame(rows)
    entries.to_csv(root / "Data_Entry_2017_v2020.csv", index=False)
    boxed = entries.loc[entries["Finding Labels"] != "No Finding", "Image Index"].iloc[:2]
    (root / "BBox_List_2017.csv").write_text(
        "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
        + "".join(f"{name},Mass,256.0,512.0,128.0,256.0\n" for name in boxed)
    )
    test = entries["Patient ID"] > patients * 3 // 4
    (root / "test_list.txt").write_text("\n".join(entries.loc[test, "Image Index"]) + "\n")
    (root / "train_val_list.txt").write_text("\n".join(entries.loc[~test, "Image Index"]) + "\n")
    return root


def chexpert_aimi_batches(root: Path, patients: int = 16, under_train: bool = False) -> Path:
    """The full-size CheXpert as Stanford AIMI ships it: ``CheXpert-v1.0 batch 1 (validate &
    csv)/train.csv`` and the patients spread over ``batch 2 (train 1)`` and ``batch 3 (train
    2)`` (directly, or under ``train/`` with ``under_train``)."""
    release = chexpert_release(root / "staging", "CheXpert-v1.0", patients)
    csv_batch = root / "CheXpert-v1.0 batch 1 (validate & csv)"
    csv_batch.mkdir(parents=True)
    (release / "train.csv").rename(csv_batch / "train.csv")
    for patient in sorted((release / "train").iterdir()):
        first_half = int(patient.name[-5:]) < patients // 2
        batch = "batch 2 (train 1)" if first_half else "batch 3 (train 2)"
        target = root / f"CheXpert-v1.0 {batch}" / ("train" if under_train else "")
        target.mkdir(parents=True, exist_ok=True)
        patient.rename(target / patient.name)
    shutil.rmtree(root / "staging")
    return root


def vindr_physionet_release(root: Path, normals: int = 10, abnormals: int = 4) -> Path:
    """The PhysioNet release of VinDr-CXR: ``train/<image_id>.dicom`` and
    ``annotations/annotations_train.csv``."""
    vinbigdata_release(root, normals, abnormals)
    (root / "annotations").mkdir()
    (root / "train.csv").rename(root / "annotations" / "annotations_train.csv")
    return root


def twelve_bit_jpeg_dicom() -> Path:
    """A real 12-bit JPEG Extended DICOM (pydicom's own test file ``JPGExtended.dcm``, NM,
    1024 x 256, inside the installed pydicom: no download)."""
    import pydicom.data

    return Path(pydicom.data.__file__).parent / "test_files" / "JPGExtended.dcm"
