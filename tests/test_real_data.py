"""Real metadata and images from the shared folder (UADBENCH_SHARED_DIR; CI sets it)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from uadbench.cli import app
from uadbench.data.prepare import prepare
from uadbench.data.readers.medad import read_medad_json
from uadbench.data.readers.zhanglab import ZhangLab
from uadbench.data.split_files import read_split_file

pytestmark = pytest.mark.realdata
REPO = Path(__file__).resolve().parents[1]


def test_datasets_command_reports_zhanglab(shared_dir):
    result = CliRunner().invoke(
        app,
        ["datasets", "--data-root", str(shared_dir / "data" / "zhanglab-224")],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0
    row = next(
        line for line in result.output.splitlines() if "zhanglab" in line and "found" in line
    )
    cells = [c.strip() for c in row.strip("│┃ ").split("│")]
    assert cells[2:] == ["uadbench-v1", "1198", "143", "234/390"]


def test_make_splits_reproduces_the_committed_files(shared_dir, tmp_path):
    subprocess.run(
        [
            sys.executable,
            str(REPO / "datasets" / "make_splits.py"),
            "--shared",
            str(shared_dir),
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.csv.gz"))
    assert [str(p) for p in made] == [
        "chexpert/uadbench-v1.csv.gz",
        "nih/uadbench-v1.csv.gz",
        "rsna/uadbench-v1.csv.gz",
        "vindr/uadbench-v1.csv.gz",
        "zhanglab/confirmation.csv.gz",
        "zhanglab/official.csv.gz",
        "zhanglab/uadbench-v1.csv.gz",
    ]
    for path in made:
        assert (tmp_path / path).read_bytes() == (REPO / "datasets" / path).read_bytes(), path


@pytest.mark.parametrize(
    ("name", "train", "normal", "abnormal"),
    [("rsna", 3851, 1000, 1000), ("vindr", 4000, 1000, 1000)],
)
def test_medad_json_counts(shared_dir, name, train, normal, abnormal):
    table = read_medad_json(shared_dir / "splits" / f"medianomaly_{name}_data.json", name)
    counts = table.groupby(["split", "label"]).size().to_dict()
    assert counts[("train", 0)] == train and ("val", 0) not in counts  # reproduced exactly
    assert (counts[("test", 0)], counts[("test", 1)]) == (normal, abnormal)


def rsna_targets(shared_dir: Path) -> pd.Series:
    labels = pd.read_csv(shared_dir / "metadata" / "kaggle_stage_2_train_labels.csv.zip")
    return labels.groupby("patientId")["Target"].max()


def test_rsna_abnormals_have_target_1(shared_dir):
    target = rsna_targets(shared_dir)
    medad = read_medad_json(shared_dir / "splits" / "medianomaly_rsna_data.json", "rsna")
    assert (target[medad.loc[medad["label"] == 1, "id"]] == 1).all()
    ours = read_split_file("rsna", "uadbench-v1")
    assert (target[ours["id"]].to_numpy() == ours["label"].to_numpy()).all()


def test_chexpert_split_follows_its_definitions(shared_dir):
    labels = pd.read_csv(shared_dir / "metadata" / "chexpert_train.csv.gz")
    labels["id"] = labels["Path"].str.split("/").str[2:].str.join("/").str.removesuffix(".jpg")
    ours = read_split_file("chexpert", "uadbench-v1").merge(labels, on="id", validate="1:1")
    assert (ours["AP/PA"] == "PA").all()
    assert (ours.loc[ours["label"] == 0, "No Finding"] == 1).all()
    assert ours.loc[ours["label"] == 1, "No Finding"].isna().all()


def test_vindr_split_follows_the_radiologists(shared_dir):
    boxes = pd.read_csv(shared_dir / "metadata" / "vinbigdata-train.csv.gz")
    normal = boxes.groupby("image_id")["class_name"].agg(lambda s: (s == "No finding").all())
    ours = read_split_file("vindr", "uadbench-v1")
    assert ((~normal[ours["id"]]).astype(int).to_numpy() == ours["label"].to_numpy()).all()


def test_zhanglab_prepares_once(shared_dir, tmp_path, monkeypatch):
    dataset = ZhangLab.from_settings(shared_dir / "data" / "zhanglab-224")
    first = prepare(dataset, 64, tmp_path)
    assert first.images.shape == (1965, 64, 64)
    monkeypatch.setattr(ZhangLab, "read_image", lambda *a: pytest.fail("decoded again"))
    again = prepare(dataset, 64, tmp_path)
    assert again.folder == first.folder
    meta = json.loads((first.folder / "meta.json").read_text())
    assert meta["skipped"] == [] and meta["split_version"] == "uadbench-v1"


RSNA_SAMPLE = ("data", "rsna-kaggle-sample")


def test_the_rsna_sample_is_read_dicom_by_dicom_and_split_by_its_class_table(shared_dir, tmp_path):
    """Every DICOM of the shared partial copy through the ``rsna`` reader (BMAD's classes, so
    that every image is labelled), and the split ``available`` derived from it: labels as the
    release's class table says, one side per patient, the stated sizes."""
    from uadbench.contracts.dataset import validate_split_table
    from uadbench.data.readers.rsna import CLASS_INFO, RSNA

    root = shared_dir.joinpath(*RSNA_SAMPLE)
    files = sorted((root / "stage_2_train_images").glob("*.dcm"))
    classes = pd.read_csv(root / CLASS_INFO).groupby("patientId")["class"].first()
    bmad = RSNA.from_settings(root, {"split": "available", "abnormal": "lung-opacity+not-normal"})
    table = validate_split_table(bmad.split_table(), "rsna")
    assert sorted(table["id"]) == sorted(f.stem for f in files) and len(files) == 1057
    assert (table["label"] == (classes[table["id"]] != "Normal").astype(int).to_numpy()).all()
    test = table["split"] == "test"
    assert not set(table.loc[test, "patient"]) & set(table.loc[~test, "patient"])
    assert bmad.split_version.startswith("uadbench-v1-bmad-available-")
    data = prepare(bmad, 32, tmp_path / "cache")
    assert len(data.images) == 1057 and not data.skipped
    assert all(image.std() > 0 for image in data.images)  # every DICOM decoded to a radiograph

    medad = RSNA.from_settings(root, {"split": "available"})
    kept = validate_split_table(medad.split_table(), "rsna")
    assert set(classes[kept["id"]]) == {"Normal", "Lung Opacity"}
    counts = kept.groupby(["split", "label"]).size().to_dict()
    assert counts[("test", 0)] == round(0.3 * 335) and counts[("test", 1)] == 327
    assert counts[("train", 0)] + counts[("val", 0)] == 335 - counts[("test", 0)]


def test_datasets_reports_the_rsna_sample_incomplete_with_what_split_available_gives(shared_dir):
    result = CliRunner().invoke(
        app,
        ["datasets", "rsna", "--data-root", str(shared_dir.joinpath(*RSNA_SAMPLE))],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    rows = {
        cells[0]: cells[1:]
        for line in result.output.splitlines()
        if line.startswith("│")
        for cells in [[c.strip() for c in line.strip("│ ").split("│")]]
    }
    assert rows["rsna"] == ["incomplete", "uadbench-v1", "7052", "799", "1000/1000"]
    state, version, *counts = rows["rsna split=available"]
    assert state == "found" and version.startswith("uadbench-v1-available-")
    assert counts == ["208", "27", "100/327"]
    assert "not found" not in result.output  # the folder was found: one verdict


def test_the_rsna_sample_gives_its_539_boxes_to_its_327_lung_opacity_images(shared_dir):
    from uadbench.data.readers.rsna import RSNA

    rsna = RSNA.from_settings(shared_dir.joinpath(*RSNA_SAMPLE), {"split": "available"})
    table = rsna.split_table()
    boxes = rsna.lesion_boxes(table)
    opacity = (table["label"] == 1).to_numpy()
    assert all(boxes[i] for i in np.flatnonzero(opacity))
    assert not any(boxes[i] for i in np.flatnonzero(~opacity))
    assert opacity.sum() == 327 and sum(map(len, boxes)) == 539
    regions = rsna.lesion_regions(table, 64)
    share = regions[opacity].mean(axis=(1, 2))
    assert share.min() > 0 and share.max() < 0.6  # boxes, not whole images


def test_nih_gives_the_984_radiologist_boxes_of_880_images(shared_dir, tmp_path):
    import gzip

    from uadbench.data.readers.nih import NIH

    listed = gzip.decompress((shared_dir / "metadata" / "nih_BBox_List_2017.csv.gz").read_bytes())
    (tmp_path / "BBox_List_2017.csv").write_bytes(listed)
    ids = pd.read_csv(tmp_path / "BBox_List_2017.csv")["Image Index"].str.removesuffix(".png")
    table = pd.DataFrame({"id": [*ids.unique(), "00000001_000"]})
    boxes = NIH(tmp_path).lesion_boxes(table)
    assert sum(map(len, boxes)) == 984 and sum(map(bool, boxes)) == 880 and not boxes[-1]
    assert all(
        x >= 0 and y >= 0 and x + w <= 1024 and y + h <= 1024 for b in boxes for x, y, w, h in b
    )


def test_vindr_boxes_are_every_readers_box_of_an_image_with_a_finding(shared_dir, tmp_path):
    import gzip

    from uadbench.data.readers.vindr import VinDr

    table_bytes = gzip.decompress(
        (shared_dir / "metadata" / "vinbigdata-train.csv.gz").read_bytes()
    )
    (tmp_path / "train.csv").write_bytes(table_bytes)
    findings = pd.read_csv(tmp_path / "train.csv")
    normal = findings.groupby("image_id")["class_name"].agg(lambda n: (n == "No finding").all())
    table = pd.DataFrame({"id": normal.index})
    boxes = VinDr(tmp_path).lesion_boxes(table)
    has_box = np.array([bool(b) for b in boxes])
    assert (has_box == ~normal.to_numpy()).all()  # every image with a finding, and only those
    assert sum(map(len, boxes)) == (findings["class_name"] != "No finding").sum()


def test_every_rsna_sample_dicom_is_the_1024_px_its_boxes_are_drawn_at(shared_dir):
    import pydicom

    from uadbench.data.readers.rsna import KAGGLE_IMAGES, ORIGINAL_SIDE

    files = sorted(shared_dir.joinpath(*RSNA_SAMPLE, KAGGLE_IMAGES).glob("*.dcm"))
    sides = {
        (header.Rows, header.Columns)
        for header in (pydicom.dcmread(f, stop_before_pixels=True) for f in files)
    }
    assert len(files) == 1057 and sides == {(ORIGINAL_SIDE, ORIGINAL_SIDE)}
