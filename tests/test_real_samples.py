"""Decoding real radiographs that no one here made (the shared ``real-samples`` folder):
every codec, the orientation after MONOCHROME1 inversion, the intensity rules, and tiny data
sets of real files in each reader's layout that a run completes."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from uadbench.cli import app
from uadbench.data.readers.vindr import VinDr
from uadbench.image_files import CODEC_EXTRA, ImageReadError, read_image_file

pytestmark = pytest.mark.realdata

CHESTS = {
    "dicom/gdcm-cr-mono1-10bit-chest.dcm": "MONOCHROME1, 10 bit",
    "dicom/pydicom-rg1-cr-mono1-15bit-j2k-lossy.dcm": "MONOCHROME1, 15 bit, JPEG 2000",
    "dicom/siim-cr-jpeg-baseline-mono2.dcm": "JPEG Baseline",
    "dicom/nccid-dx-uncompressed-8bit.dcm": "uncompressed DX",
    "png/nih-00000001_000.png": "NIH PNG",
    "png/nih-00027426_000.png": "NIH PNG",
}
CODEC_CASE = "dicom/pydicom-jpeg-lossless-nm-16bit.dcm"
HIGH_DEPTH = (
    "dicom/gdcm-cr-mono1-10bit-chest.dcm",
    "dicom/pydicom-rg1-cr-mono1-15bit-j2k-lossy.dcm",
)


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> Path:
    folder = shared_dir / "data" / "real-samples"
    assert folder.is_dir(), f"{folder} is missing"
    return folder


@pytest.mark.parametrize("name", [*CHESTS, CODEC_CASE])
@pytest.mark.parametrize("rule", ["bits", "minmax", "voi"])
def test_every_real_file_decodes_under_every_rule(samples, name, rule):
    image = read_image_file(samples / name, rule)
    assert image.ndim == 2 and image.dtype == np.uint8 and min(image.shape) >= 256
    assert image.max() > image.min()


@pytest.mark.parametrize("name", CHESTS)
def test_lungs_are_darker_than_the_spine(samples, name):
    image = read_image_file(samples / name, VinDr.Options().intensity).astype(float)
    h, w = image.shape
    rows = slice(int(0.3 * h), int(0.6 * h))
    spine = image[rows, int(0.46 * w) : int(0.54 * w)].mean()
    lungs = np.r_[
        image[rows, int(0.22 * w) : int(0.32 * w)].ravel(),
        image[rows, int(0.68 * w) : int(0.78 * w)].ravel(),
    ].mean()
    assert lungs < spine - 10, f"{CHESTS[name]}: lungs {lungs:.0f}, spine {spine:.0f}"


@pytest.mark.parametrize("name", HIGH_DEPTH)
def test_high_bit_depth_files_use_the_range_under_vindrs_default(samples, name):
    image = read_image_file(samples / name, VinDr.Options().intensity)
    assert (int(image.max()) - int(image.min())) / 255 >= 0.9


def test_the_stored_bits_rule_leaves_the_15_bit_file_dim(samples):
    # why VinDr-CXR's default is the header's window: the stored range is mostly unused
    image = read_image_file(samples / HIGH_DEPTH[1], "bits")
    assert (int(image.max()) - int(image.min())) / 255 < 0.85


def test_a_missing_codec_names_the_extra(samples):
    plugins = ("pylibjpeg", "libjpeg", "openjpeg", "rle")
    hide = f"import sys\nfor m in {plugins!r}:\n    sys.modules[m] = None\n"
    code = hide + (
        "from uadbench.image_files import read_image_file\n"
        f"read_image_file({str(samples / CODEC_CASE)!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert CODEC_EXTRA in done.stderr and "JPEG Lossless" in done.stderr


def vindr_release(samples: Path, root: Path) -> Path:
    """The VinBigData layout (train/<id>.dicom, train.csv) of the real chest DICOMs, each twice
    (normals) plus once more (abnormal)."""
    dicoms = [n for n in CHESTS if n.endswith(".dcm")]
    rows = []
    for i, name in enumerate(dicoms * 3):
        image_id = f"{i:032x}"
        (root / "train").mkdir(parents=True, exist_ok=True)
        shutil.copy(samples / name, root / "train" / f"{image_id}.dicom")
        finding = "Nodule/Mass" if i >= 2 * len(dicoms) else "No finding"
        rows.append({"image_id": image_id, "class_name": finding, "rad_id": "R1"})
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    return root


def folder_release(samples: Path, root: Path) -> Path:
    """The ``folder`` layout of every real chest file (DICOM and PNG)."""
    for i, name in enumerate(list(CHESTS) * 2):
        part = "train/normal" if i < len(CHESTS) else ("test/normal" if i % 2 else "test/abnormal")
        target = root / part / f"{i}{Path(name).suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(samples / name, target)
    return root


@pytest.mark.parametrize(
    ("dataset", "build", "options"),
    [
        ("vindr", vindr_release, ["--data-option", "split_file=SPLIT"]),
        # every real file is in training and test: a copy the reader refuses unless allowed
        ("folder", folder_release, ["--data-option", "allow_train_test_duplicates=true"]),
    ],
)
def test_a_tiny_data_set_of_real_files_runs_end_to_end(samples, tmp_path, dataset, build, options):
    root = build(samples, tmp_path / dataset)
    if "split_file=SPLIT" in options:
        from uadbench.data.readers.vindr import build_split

        split = build_split(root / "train.csv", val_fraction=0.2, n_test=2)
        split.to_csv(tmp_path / "split.csv", index=False)
        options = ["--data-option", f"split_file={tmp_path / 'split.csv'}"]
    listing = CliRunner().invoke(app, ["datasets", dataset, "--data-root", str(root)])
    assert "found" in listing.stdout, listing.stdout
    command = ["run", "--method", "ae", "--dataset", dataset, "--data-root", str(root)]
    command += ["--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "c")]
    command += ["--image-size", "32", "--param", "epochs=1", *options]
    result = CliRunner().invoke(app, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [record] = (tmp_path / "results" / "runs" / dataset / "ae").glob("*.json")
    assert json.loads(record.read_text())["status"] == "ok"


def test_a_palette_colour_dicom_is_refused(tmp_path):
    from .release_fixtures import write_dicom

    path = tmp_path / "palette.dcm"
    write_dicom(path, np.arange(64, dtype=np.uint8).reshape(8, 8), 8, "PALETTE COLOR")
    with pytest.raises(ImageReadError, match="PALETTE COLOR"):
        read_image_file(path)


def test_a_tiny_nih_release_of_real_files_and_rows_runs_end_to_end(samples, shared_dir, tmp_path):
    from uadbench.data.readers.nih import build_split

    entries = pd.read_csv(shared_dir / "metadata" / "nih_Data_Entry_2017_v2020.csv.gz")
    pa = entries[entries["View Position"] == "PA"]
    normal = pa["Finding Labels"] == "No Finding"
    rows = pd.concat([pa[normal].head(12), pa[~normal].head(4)])
    root = tmp_path / "nih"
    pngs = sorted((samples / "png").glob("*.png"))
    for i, name in enumerate(rows["Image Index"]):
        (root / "images_001" / "images").mkdir(parents=True, exist_ok=True)
        shutil.copy(pngs[i % len(pngs)], root / "images_001" / "images" / name)
    rows.to_csv(root / "Data_Entry_2017_v2020.csv", index=False)
    build_split(root / "Data_Entry_2017_v2020.csv", 0.2, 2).to_csv(tmp_path / "s.csv", index=False)
    command = ["run", "--method", "ae", "--dataset", "nih", "--data-root", str(tmp_path)]
    command += ["--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "c")]
    command += ["--image-size", "32", "--param", "epochs=1"]
    command += ["--data-option", f"split_file={tmp_path / 's.csv'}"]
    result = CliRunner().invoke(app, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
