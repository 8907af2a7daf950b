"""The committed split files: intact, patient-level, normal-only training."""

import gzip

import pytest

from uadbench.contracts.dataset import SplitTableError, validate_split_table
from uadbench.data.split_files import read_split_file, splits_dir, write_split_file

COMMITTED = ["zhanglab", "chexpert", "rsna", "vindr"]


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_split_is_intact_and_patient_level(name):
    table = read_split_file(name, "uadbench-v1")
    validate_split_table(table.assign(source=table["id"]), name)
    assert (table.groupby("patient")["split"].nunique() == 1).all(), "a patient in two splits"
    counts = table.groupby(["split", "label"]).size()
    assert counts[("val", 0)] > 0.05 * (counts[("train", 0)] + counts[("val", 0)])


def test_expected_counts():
    counts = {
        name: read_split_file(name, "uadbench-v1").groupby(["split", "label"]).size().to_dict()
        for name in COMMITTED
    }
    zl = counts["zhanglab"]
    assert zl[("train", 0)] + zl[("val", 0)] == 1341
    assert (zl[("test", 0)], zl[("test", 1)]) == (234, 390)
    for name in ("chexpert", "rsna", "vindr"):
        assert (counts[name][("test", 0)], counts[name][("test", 1)]) == (1000, 1000)
    official = read_split_file("zhanglab", "official").groupby(["split", "label"]).size().to_dict()
    assert official == {("train", 0): 1341, ("test", 0): 234, ("test", 1): 390}
    rsna = counts["rsna"]
    assert rsna[("train", 0)] + rsna[("val", 0)] == 8851 - 1000  # every other "Normal" patient


def test_zhanglab_confirmation_split_tests_on_images_the_official_test_set_lacks():
    v1 = read_split_file("zhanglab", "uadbench-v1")
    confirmation = read_split_file("zhanglab", "confirmation")
    validate_split_table(confirmation.assign(source=confirmation["id"]), "zhanglab")
    train = confirmation[confirmation["split"] == "train"]
    test = confirmation[confirmation["split"] == "test"]
    assert set(train["id"]) == set(v1.loc[v1["split"] == "train", "id"])
    assert set(test.loc[test["label"] == 0, "id"]) == set(v1.loc[v1["split"] == "val", "id"])
    abnormal = test.loc[test["label"] == 1, "id"]
    assert len(abnormal) == 3875 and abnormal.str.startswith("train/PNEUMONIA/").all()
    assert not set(test["id"]) & set(v1.loc[v1["split"] == "test", "id"])
    assert not set(test["patient"]) & set(train["patient"]), "a patient in train and test"


def test_a_changed_split_file_is_refused(tmp_path):
    table = read_split_file("zhanglab", "uadbench-v1")
    write_split_file(table, "zhanglab", "uadbench-v1", "test", tmp_path)
    path = tmp_path / "zhanglab" / "uadbench-v1.csv.gz"
    text = gzip.decompress(path.read_bytes()).replace(b",0,train,", b",1,train,", 1)
    path.write_bytes(gzip.compress(text))
    with pytest.raises(SplitTableError, match="does not match the checksum"):
        read_split_file("zhanglab", "uadbench-v1", tmp_path)


def test_split_files_live_in_the_datasets_folder():
    assert (splits_dir() / "zhanglab" / "uadbench-v1.json").is_file()


def test_every_release_reader_is_documented_with_download_layouts_and_intensity():
    from pathlib import Path

    from uadbench import registry

    text = (Path(__file__).resolve().parents[1] / "datasets" / "README.md").read_text()
    table = text.split("## Where uadbench looks")[1].split("## Intensity")[0]
    for name in registry.datasets.names():
        cls = registry.datasets.get(name)
        if cls.needs_root:
            [row] = [line for line in table.splitlines() if line.startswith(f"| {name} |")]
            default = getattr(cls.Options(), "intensity", None)
            assert default and f"`{default}`" in row.split("|")[4], name
