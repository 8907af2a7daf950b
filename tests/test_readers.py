"""Each release layout, from tiny generated fixtures: read, split, prepared, run end to end."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from uadbench import registry
from uadbench.cli import app
from uadbench.contracts.dataset import DataNotFoundError, SplitTableError, validate_split_table
from uadbench.data.availability import check_availability
from uadbench.data.prepare import prepare
from uadbench.data.readers import chexpert, nih, rsna, vindr, zhanglab
from uadbench.image_files import ImageReadError, read_dicom, read_image_file
from uadbench.running.planning import RunRequest, plan
from uadbench.running.runner import execute

from . import release_fixtures as fx


@pytest.fixture(autouse=True)
def _mean_distance(plugin_file):
    registry.load_plugin(str(plugin_file))


def run(tmp_path: Path, dataset: str, root: Path, **options: str):
    request = RunRequest(
        method="mean-distance",
        dataset=dataset,
        data_root=root,
        data_options=options,
        device="cpu",
        results_dir=tmp_path / "results",
        image_size=32,
    )
    [planned] = plan(request)
    return execute(planned, tmp_path / "cache")


def dataset(name: str, root: Path, **options: str):
    return registry.datasets.get(name).from_settings(root, options)


WIDE = {"COLUMNS": "400"}
"""A terminal wide enough that no printed line is wrapped."""


def write_split(tmp_path: Path, table: pd.DataFrame) -> str:
    path = tmp_path / "split.csv"
    table.to_csv(path, index=False)
    return str(path)


# -- ZhangLab --------------------------------------------------------------------------------


def test_zhanglab_split_keeps_the_official_partition_and_carves_val_by_patient(tmp_path):
    release = fx.zhanglab_release(tmp_path / "zl", n_train=40)
    table = zhanglab.build_split(release, val_fraction=0.3)
    counts = table.groupby(["split", "label"]).size().to_dict()
    assert counts[("test", 0)] == 4 and counts[("test", 1)] == 4
    assert counts[("train", 0)] + counts[("val", 0)] == 40 and counts[("val", 0)] > 0
    assert not table["id"].str.contains("train/PNEUMONIA").any()
    assert (table.groupby("patient")["split"].nunique() == 1).all()


@pytest.mark.parametrize("nesting", ["root", "chest_xray", "kaggle-double"])
def test_zhanglab_runs_end_to_end_in_every_nesting(tmp_path, nesting):
    base = tmp_path / "zl"
    release = fx.zhanglab_release(base if nesting != "kaggle-double" else base / "chest_xray")
    root = release if nesting == "root" else base
    split_file = write_split(tmp_path, zhanglab.build_split(release))
    outcome = run(tmp_path, "zhanglab", root, split_file=split_file)
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.data.n_test == 8
    assert outcome.record.config.split_version.startswith("custom-")


def test_zhanglab_without_its_folders_explains_the_layout(tmp_path):
    (tmp_path / "zhanglab").mkdir()
    with pytest.raises(
        DataNotFoundError, match=r"(?s)no chest_xray/train/NORMAL.*train/NORMAL/\*\.jpeg"
    ):
        dataset("zhanglab", tmp_path).split_table()


# -- CheXpert --------------------------------------------------------------------------------


def test_chexpert_definitions_and_patient_level_split(tmp_path):
    release = fx.chexpert_release(tmp_path)
    table = chexpert.build_split(release / "train.csv", val_fraction=0.25, n_test=4)
    assert not table["id"].str.contains("study3").any()  # AP views are left out
    assert not table["id"].str.contains("study4").any()  # uncertain-only findings are left out
    assert table.loc[table["label"] == 0, "id"].str.endswith("study1/view1_frontal").all()
    assert table.loc[table["label"] == 1, "id"].str.endswith("study2/view1_frontal").all()
    test_patients = set(table.loc[table["split"] == "test", "patient"])
    assert len(table[table["split"] == "test"]) == 8 and len(test_patients) == 4
    assert (table.groupby("patient")["split"].nunique() == 1).all()
    assert (table.loc[table["split"] != "test", "label"] == 0).all()


def test_chexpert_runs_end_to_end(tmp_path):
    release = fx.chexpert_release(tmp_path / "data")
    split_file = write_split(tmp_path, chexpert.build_split(release / "train.csv", n_test=4))
    outcome = run(tmp_path, "chexpert", tmp_path / "data", split_file=split_file)
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.config.dataset_options["layout"] == "CheXpert-v1.0-small"


def test_chexpert_release_mismatch_is_explained(tmp_path):
    release = fx.chexpert_release(tmp_path / "data", release="CheXpert-v1.0")
    release.rename(tmp_path / "data" / "CheXpert-v1.0-small")
    with pytest.raises(
        DataNotFoundError,
        match=r"named CheXpert-v1.0-small but its train.csv lists CheXpert-v1.0 paths",
    ):
        dataset("chexpert", tmp_path / "data").split_table()


# -- RSNA ------------------------------------------------------------------------------------


def test_dicom_bit_depth_and_monochrome1(tmp_path):
    ramp = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (4, 1))
    fx.write_dicom(tmp_path / "m2.dcm", ramp, 12, "MONOCHROME2")
    fx.write_dicom(tmp_path / "m1.dcm", ramp, 12, "MONOCHROME1")
    m2, m1 = read_dicom(tmp_path / "m2.dcm"), read_dicom(tmp_path / "m1.dcm")
    assert m2.dtype == np.uint8 and m2[0, 0] == 0 and m2[0, -1] == round(4032 / 4095 * 255)
    np.testing.assert_array_equal(m1.astype(int), 255 - m2.astype(int))
    fx.write_dicom(tmp_path / "m8.dcm", ramp[:, :4].astype(np.uint8), 8, "MONOCHROME2")
    assert read_dicom(tmp_path / "m8.dcm")[0].tolist() == [0, 64, 128, 192]


def test_rsna_kaggle_dicoms_run_end_to_end(tmp_path):
    root = fx.rsna_kaggle_release(tmp_path / "rsna")
    table = rsna.build_split(
        root / "stage_2_train_labels.csv",
        rsna.normal_class(root / "stage_2_detailed_class_info.csv"),
        n_test=2,
    )
    # 10 normals and the 2 test opacities; "Not Normal" patients are left out
    not_normal = [fx.rsna_id(14), fx.rsna_id(15)]
    assert len(table) == 12 and not table["id"].isin(not_normal).any()
    outcome = run(tmp_path, "rsna", root, split_file=write_split(tmp_path, table))
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.config.dataset_options["layout"] == "kaggle-dicom"
    # MONOCHROME1 images come out with the same polarity as MONOCHROME2 ones
    prepared = prepare(
        dataset("rsna", root, split_file=str(tmp_path / "split.csv")), 32, tmp_path / "cache"
    )
    means = [prepared.images[i].mean() for i in range(len(prepared.table))]
    assert max(means) - min(means) < 40


def test_rsna_normals_must_be_the_normal_class(tmp_path):
    root = fx.rsna_kaggle_release(tmp_path / "rsna")
    table = pd.DataFrame(
        {"id": [fx.rsna_id(15), fx.rsna_id(11)], "label": [0, 1], "split": ["train", "test"]}
    )
    other = rf"1 are in another class than 'Normal' \(e.g. {fx.rsna_id(15)}"
    with pytest.raises(SplitTableError, match=other):
        dataset("rsna", root, split_file=write_split(tmp_path, table)).split_table()


def test_rsna_normals_missing_from_the_class_table_are_called_missing_when_present(tmp_path):
    """A normal image of the copy that the class table lacks is refused; one the copy does not
    hold is not the run's concern (the publicly circulating class table lacks 79 patients)."""
    root = fx.rsna_kaggle_release(tmp_path / "rsna")
    here, elsewhere = "ffffffff-0000-0000-0000-000000000000", "eeeeeeee-0000-0000-0000-000000000000"
    images = root / "stage_2_train_images"
    shutil.copy(images / f"{fx.rsna_id(0)}.dcm", images / f"{here}.dcm")
    table = pd.DataFrame(
        {
            "id": [elsewhere, fx.rsna_id(1), fx.rsna_id(11)],
            "label": [0, 0, 1],
            "split": ["train", "train", "test"],
        }
    )
    ds = dataset("rsna", root, split_file=write_split(tmp_path, table))
    ds.check_normal_class(ds.split_table())  # the absent file's normal is not checked
    table.loc[0, "id"] = here
    ds = dataset("rsna", root, split_file=write_split(tmp_path, table))
    with pytest.raises(SplitTableError, match=rf"1 are not in the table at all \(e.g. {here}"):
        ds.split_table()


@pytest.mark.parametrize(
    ("abnormal", "protocol", "n_abnormal"),
    [("lung-opacity", "uadbench-v1", 4), ("lung-opacity+not-normal", "uadbench-v1-bmad", 6)],
)
def test_rsna_split_available_follows_the_release_tables_and_names_its_ids(
    tmp_path, abnormal, protocol, n_abnormal
):
    root = fx.rsna_kaggle_release(tmp_path / "rsna")
    (root / "stage_2_train_images" / f"{fx.rsna_id(3)}.dcm").unlink()  # a partial copy
    ds = dataset("rsna", root, split="available", abnormal=abnormal)
    table = validate_split_table(ds.split_table(), "rsna")
    assert ds.split_version.startswith(f"{protocol}-available-")
    assert fx.rsna_id(3) not in set(table["id"])
    normals = {fx.rsna_id(i) for i in range(10)} - {fx.rsna_id(3)}
    assert set(table.loc[table["label"] == 0, "id"]) == normals
    assert (table["label"] == 1).sum() == n_abnormal == (table["split"] == "test").sum() - 3
    assert (table.loc[table["label"] == 0, "split"] == "test").sum() == round(0.3 * 9)
    again = dataset("rsna", root, split="available", abnormal=abnormal)
    assert again.split_table().equals(ds.split_table())  # deterministic from the ids present
    (root / "stage_2_train_images" / f"{fx.rsna_id(4)}.dcm").unlink()
    fewer = dataset("rsna", root, split="available", abnormal=abnormal)
    assert fewer.split_version != ds.split_version  # other images, another version


def test_rsna_bmad_classes_need_the_kaggle_class_table(tmp_path):
    root = fx.medad_packaging(tmp_path / "rsna")
    ds = dataset("rsna", root, split="available", abnormal="lung-opacity+not-normal")
    with pytest.raises(SplitTableError, match="needs the Kaggle release"):
        ds.split_table()


def test_rsna_bmad_classes_take_the_derived_split_only(tmp_path):
    root = fx.rsna_kaggle_release(tmp_path / "rsna")
    ds = dataset("rsna", root, abnormal="lung-opacity+not-normal")
    with pytest.raises(SplitTableError, match="takes split=available"):
        ds.split_table()
    with pytest.raises(SplitTableError, match="is none of"):
        dataset("rsna", root, split="available", abnormal="pneumonia").split_table()


def test_rsna_medad_packaging_runs_with_its_own_split(tmp_path):
    root = fx.medad_packaging(tmp_path / "rsna")
    ds = dataset("rsna", root, split="medad")
    table = validate_split_table(ds.split_table(), "rsna")
    assert ds.split_version.startswith("custom-")  # read as Med-AD's, but not the benchmark's file
    assert len(table) == 18 and not (table["split"] == "val").any()  # Med-AD has no val set
    assert set(table.loc[table["split"] != "test", "id"]) == {fx.rsna_id(i) for i in range(10)}
    outcome = run(tmp_path, "rsna", root, split="medad")
    assert outcome.status == "ok", outcome.record.error


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"train": {"0": []}}, "top-level key 'test'"),
        (
            {"train": {"0": [f"{fx.rsna_id(1)}.png"]}, "test": {"0": [f"{fx.rsna_id(2)}.png"]}},
            r"test\['1'\] must be a list",
        ),
        ([1, 2], "top-level key 'train'"),
    ],
)
def test_a_wrong_data_json_names_the_key(tmp_path, data, message):
    root = fx.medad_packaging(tmp_path / "rsna")
    (root / "data.json").write_text(json.dumps(data))
    with pytest.raises(SplitTableError, match=message):
        dataset("rsna", root, split="medad").split_table()


def test_an_unknown_split_version_lists_the_known_ones(tmp_path):
    root = fx.medad_packaging(tmp_path / "rsna")
    with pytest.raises(SplitTableError, match=r"no split 'v9' for 'rsna'.*available: uadbench-v1"):
        dataset("rsna", root, split="v9").split_table()


# -- VinDr -----------------------------------------------------------------------------------


def test_vindr_medad_packaging_runs_end_to_end(tmp_path):
    root = fx.medad_packaging(tmp_path / "vindr", "vindr")
    outcome = run(tmp_path, "vindr", root, split="medad")
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.config.dataset_options["layout"] == "medad-png"


def test_vindr_dicom_release_runs_end_to_end(tmp_path):
    root = fx.vinbigdata_release(tmp_path / "vindr")
    table = vindr.build_split(root / "train.csv", n_test=2)
    assert table.groupby("label").size().to_dict() == {0: 10, 1: 2}
    outcome = run(tmp_path, "vindr", root, split_file=write_split(tmp_path, table))
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.config.dataset_options["layout"] == "vinbigdata-dicom"


# -- folder ----------------------------------------------------------------------------------


def test_folder_tree_runs_end_to_end_with_a_carved_validation_set(tmp_path):
    root = fx.folder_tree(tmp_path / "mine", n_train=30)
    ds = dataset("folder", root)
    table = validate_split_table(ds.split_table(), "folder")
    assert (table["split"] == "val").sum() > 0 and ds.split_version.startswith("folder-")
    outcome = run(tmp_path, "folder", root)
    assert outcome.status == "ok", outcome.record.error


def test_folder_csv_runs_and_a_wrong_csv_names_the_column(tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    rows = [(f"train/normal/{i}.png", 0, "train") for i in range(10)]
    rows += [
        (f"test/{c}/{i}.png", int(c == "abnormal"), "test")
        for c in ("normal", "abnormal")
        for i in range(4)
    ]
    pd.DataFrame(rows, columns=["path", "label", "split"]).to_csv(
        tmp_path / "list.csv", index=False
    )
    assert run(tmp_path, "folder", root, csv=str(tmp_path / "list.csv")).status == "ok"
    pd.DataFrame(rows, columns=["file", "label", "split"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SplitTableError, match=r"lacks column.*path.*found file, label, split"):
        dataset("folder", root, csv=str(tmp_path / "bad.csv")).split_table()


def test_folder_refuses_abnormal_training_images(tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    fx.save_png(root / "train" / "abnormal" / "x.png", fx.chest(1))
    with pytest.raises(SplitTableError, match=r"train/abnormal holds 1 image.*normal images only"):
        dataset("folder", root).split_table()


def test_a_wrong_split_file_names_the_missing_column(tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    pd.DataFrame({"id": ["a"], "split": ["train"]}).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(SplitTableError, match=r"lacks column.*label"):
        dataset("zhanglab", root, split_file=str(tmp_path / "s.csv")).split_version  # noqa: B018


# -- unreadable images -----------------------------------------------------------------------


def test_a_truncated_image_fails_naming_it_or_is_skipped_and_recorded(tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    broken = root / "test" / "abnormal" / "2.png"
    broken.write_bytes(broken.read_bytes()[:60])
    failed = run(tmp_path, "folder", root)
    assert failed.status == "failed"
    assert "cannot read image" in failed.record.error.message
    assert "abnormal/2.png" in failed.record.error.message

    request = RunRequest(
        method="mean-distance",
        dataset="folder",
        data_root=root,
        device="cpu",
        results_dir=tmp_path / "results",
        image_size=32,
        skip_unreadable=True,
    )
    [planned] = plan(request)
    outcome = execute(planned, tmp_path / "cache")
    assert outcome.status == "ok"
    assert [s["id"] for s in outcome.record.data.skipped] == ["test/abnormal/2"]
    assert outcome.record.data.n_test == 7
    assert "unreadable" in outcome.record.warnings[0]
    assert "test/abnormal/2" not in outcome.record.test.ids


def test_cache_built_with_skips_is_refused_without_the_flag(tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    (root / "test" / "normal" / "1.png").write_bytes(b"not a png")
    prepare(dataset("folder", root), 32, tmp_path / "cache", skip_unreadable=True)
    with pytest.raises(ImageReadError, match=r"1\.png"):
        prepare(dataset("folder", root), 32, tmp_path / "cache")


def test_missing_messages_say_where_to_get_the_data_only_when_there_is_a_source(tmp_path):
    own = registry.datasets.get("folder")(tmp_path / "nowhere").missing_message()
    assert "Download" not in own and "\nLay it out as:\n  ROOT/train/normal/*" in own
    public = zhanglab.ZhangLab(tmp_path / "nowhere").missing_message()
    assert "Download it from https://data.mendeley.com" in public and "and lay it out as:" in public


@pytest.mark.parametrize(
    ("dataset_name", "folder"),
    [("rsna", "MedIAnomaly-Data/RSNA"), ("vindr", "MedIAnomaly-Data/VinCXR")],
)
@pytest.mark.parametrize("point_at", ["data-root", "archive"])
def test_the_medianomaly_archive_is_found_as_it_unpacks(tmp_path, dataset_name, folder, point_at):
    fx.medad_packaging(tmp_path / folder, dataset_name)
    base = tmp_path if point_at == "data-root" else tmp_path / "MedIAnomaly-Data"
    found = registry.datasets.get(dataset_name).from_settings(base, {"split": "medad"})
    assert found.root == tmp_path / folder
    assert check_availability(found).state == "found"
    outcome = run(tmp_path, dataset_name, base, split="medad")
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.data.n_train == 10


def test_a_missing_codec_is_said_by_datasets_before_any_run(tmp_path, monkeypatch):
    from uadbench.image_files import CODEC_EXTRA

    root = fx.vinbigdata_release(tmp_path / "vindr")
    split = tmp_path / "split.csv"
    vindr.build_split(root / "train.csv", 0.2, 2).to_csv(split, index=False)
    dataset = registry.datasets.get("vindr").from_settings(root, {"split_file": str(split)})

    def no_codec(source, size):
        reason = f"DICOM in JPEG 2000, which needs a codec ({CODEC_EXTRA})"
        raise ImageReadError(root / source, reason)

    monkeypatch.setattr(dataset, "read_image", no_codec)
    found = check_availability(dataset)
    assert found.state == "codec missing" and not found.usable and CODEC_EXTRA in found.reason


def test_vindr_from_physionet_is_read_and_named(tmp_path):
    root = fx.vindr_physionet_release(tmp_path / "vindr")
    dataset = registry.datasets.get("vindr").from_settings(tmp_path)
    assert dataset.root == root and dataset.get_options()["layout"] == "physionet-dicom"
    split = tmp_path / "split.csv"
    vindr.build_split(root / "annotations" / "annotations_train.csv", 0.2, 2).to_csv(
        split, index=False
    )
    outcome = run(tmp_path, "vindr", root, split_file=str(split))
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.config.dataset_options["layout"] == "physionet-dicom"


@pytest.mark.parametrize(("ran_in", "point_at"), [("", ""), ("", "physionet.org"), ("vindr", "")])
def test_vindr_fetched_with_wget_is_found_from_the_folder_it_ran_in(tmp_path, ran_in, point_at):
    release = tmp_path / ran_in / "physionet.org" / "files" / "vindr-cxr" / "1.0.0"
    fx.vindr_physionet_release(release)
    split = tmp_path / "split.csv"
    vindr.build_split(release / "annotations" / "annotations_train.csv", 0.2, 2).to_csv(
        split, index=False
    )
    base = tmp_path / point_at
    found = dataset("vindr", base, split_file=str(split))
    assert found.root == release and found.get_options()["layout"] == "physionet-dicom"
    assert check_availability(found).state == "found"
    outcome = run(tmp_path, "vindr", base, split_file=str(split))
    assert outcome.status == "ok", outcome.record.error
    for other in ("zhanglab", "chexpert", "rsna", "nih", "folder"):  # no other reader claims it
        assert release not in dataset(other, base).root.parents, other


def test_vindr_from_kaggle_is_named_too(tmp_path):
    fx.vinbigdata_release(tmp_path / "vindr")
    dataset = registry.datasets.get("vindr").from_settings(tmp_path)
    assert dataset.get_options()["layout"] == "vinbigdata-dicom"


@pytest.mark.parametrize("layout", ["archives", "flat"])
def test_nih_release_runs_end_to_end_on_its_real_names(tmp_path, layout):
    root = fx.nih_release(tmp_path / "nih", layout)
    split = tmp_path / "split.csv"
    nih.build_split(root / "Data_Entry_2017_v2020.csv", 0.2, 4).to_csv(split, index=False)
    dataset = registry.datasets.get("nih").from_settings(tmp_path, {"split_file": str(split)})
    assert dataset.root == root
    assert dataset.get_options()["layout"] == f"nih-{layout}"
    assert check_availability(dataset).state == "found"
    outcome = run(tmp_path, "nih", root, split_file=str(split))
    assert outcome.status == "ok", outcome.record.error
    assert set(outcome.record.test.ids) <= {f"{p:08d}_{f:03d}" for p in range(17) for f in (0, 1)}


def test_nih_official_split_follows_the_release_lists(tmp_path):
    root = fx.nih_release(tmp_path / "nih")
    table = registry.datasets.get("nih").from_settings(root, {"split": "official"}).split_table()
    test_list = set((root / "test_list.txt").read_text().split())
    assert set(table.loc[table["split"] == "test", "id"] + ".png") <= test_list
    trained = table.loc[table["split"] != "test"]
    assert (trained["label"] == 0).all() and not set(trained["id"] + ".png") & test_list
    assert not set(trained["patient"]) & set(table.loc[table["split"] == "test", "patient"])
    ap = registry.datasets.get("nih").from_settings(root, {"split": "official", "view": "AP"})
    assert len(ap.split_table()) < len(table)
    pa = registry.datasets.get("nih").from_settings(root, {"split": "official"})
    assert pa.split_version == "official" and ap.split_version == "official-AP"


def test_nih_committed_split_is_pa_only_and_says_so(tmp_path):
    root = fx.nih_release(tmp_path / "nih")
    dataset = registry.datasets.get("nih").from_settings(root, {"view": "AP"})
    with pytest.raises(SplitTableError, match="PA views only"):
        dataset.split_table()


def test_nih_committed_split_has_no_patient_on_both_sides():
    from uadbench.data.split_files import read_split_file

    table = read_split_file("nih", "uadbench-v1")
    test = set(table.loc[table["split"] == "test", "patient"])
    assert not test & set(table.loc[table["split"] != "test", "patient"])
    counts = table.groupby(["split", "label"]).size().to_dict()
    assert counts[("test", 0)] == counts[("test", 1)] == 1000


@pytest.mark.parametrize("under_train", [False, True])
def test_chexpert_from_stanford_aimi_batches_runs_end_to_end(tmp_path, under_train):
    root = fx.chexpert_aimi_batches(tmp_path / "chexpert", under_train=under_train)
    table = chexpert.build_split(
        root / "CheXpert-v1.0 batch 1 (validate & csv)" / "train.csv", 0.2, 4
    )
    split = write_split(tmp_path, table)
    dataset = registry.datasets.get("chexpert").from_settings(tmp_path, {"split_file": split})
    assert dataset.root == root and dataset.get_options()["layout"] == "aimi-batches"
    assert check_availability(dataset).state == "found"
    outcome = run(tmp_path, "chexpert", root, split_file=split)
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.data.n_test == len(table[table["split"] == "test"])


def test_chexpert_batches_not_all_unpacked_are_incomplete_not_empty(tmp_path):
    import shutil

    root = fx.chexpert_aimi_batches(tmp_path / "chexpert")
    table = chexpert.build_split(
        root / "CheXpert-v1.0 batch 1 (validate & csv)" / "train.csv", 0.2, 4
    )
    split = write_split(tmp_path, table)
    shutil.rmtree(root / "CheXpert-v1.0 batch 3 (train 2)")
    dataset = registry.datasets.get("chexpert").from_settings(root, {"split_file": split})
    found = check_availability(dataset)
    assert found.state == "incomplete" and "CheXpert-v1.0 batch 2 (train 1)" in found.reason


@pytest.mark.parametrize("point_at", ["above", "download"])
def test_chexpert_from_the_stanford_aimi_download_folder_is_found(tmp_path, point_at):
    download = fx.chexpert_aimi_batches(tmp_path / "chexpertchestxrays-u20210408")
    table = chexpert.build_split(
        download / "CheXpert-v1.0 batch 1 (validate & csv)" / "train.csv", 0.2, 4
    )
    split = write_split(tmp_path, table)
    base = tmp_path if point_at == "above" else download
    dataset = registry.datasets.get("chexpert").from_settings(base, {"split_file": split})
    assert dataset.root == download and dataset.get_options()["layout"] == "aimi-batches"
    assert check_availability(dataset).state == "found"
    outcome = run(tmp_path, "chexpert", base, split_file=split)
    assert outcome.status == "ok", outcome.record.error


# -- folder: every file read or named, folder names in any case, no train/test copies ---------


def test_folder_reads_every_image_kind_and_folder_names_in_any_case(tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    (root / "test" / "abnormal").rename(root / "test" / "Abnormal")
    (root / "train").rename(root / "TRAIN")
    abnormal = root / "test" / "Abnormal"
    for i, (suffix, kind) in enumerate([("jpe", "JPEG"), ("webp", "WEBP"), ("gif", "GIF")]):
        pixels = fx.chest(10 + i, abnormal=True)
        Image.fromarray(pixels).save(abnormal / f"{suffix}.{suffix}", format=kind)
    uid = "1.2.826.0.1.3680043.8.498.17"  # DICOMs named without a suffix, or by their UID
    for i, name in enumerate([uid, "scan"]):
        fx.write_dicom(abnormal / name, fx.chest(20 + i, abnormal=True), 8, "MONOCHROME2")
    folder = dataset("folder", root)
    table = validate_split_table(folder.split_table(), "folder")
    read = {i.removeprefix("test/Abnormal/") for i in table.loc[table["label"] == 1, "id"]}
    assert read == {"0", "1", "2", "3", "jpe", "webp", "gif", uid, "scan"}
    assert len(table) == 10 + 4 + 9 and folder.left_out() == []
    found = check_availability(folder)
    assert found.state == "found" and found.counts["test abnormal"] == 9
    outcome = run(tmp_path, "folder", root)
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.data.n_test == 13


def test_folder_names_every_file_it_leaves_out_in_datasets_and_the_run_record(tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    (root / "notes.txt").write_text("where the images came from")
    (root / "test" / "normal" / "labels.csv").write_text("a,b\n")
    fx.save_png(root / "masks" / "0.png", fx.chest(5))
    fx.save_png(root / "test" / "stray.png", fx.chest(6))
    dataset = registry.datasets.get("folder").from_settings(root)
    left_out = {e["file"]: e["why"] for e in dataset.left_out()}
    assert set(left_out) == {"notes.txt", "test/normal/labels.csv", "masks/0.png", "test/stray.png"}
    assert left_out["test/normal/labels.csv"].startswith("not an image file")
    assert left_out["masks/0.png"].startswith("outside ROOT/{train,val,test}")
    outcome = run(tmp_path, "folder", root)
    assert outcome.status == "ok", outcome.record.error
    assert {e["file"]: e["why"] for e in outcome.record.data.left_out} == left_out
    listed = CliRunner().invoke(app, ["datasets", "folder", "--data-root", str(root)], env=WIDE)
    lines = [line for line in listed.stdout.splitlines() if "left out" in line]
    assert any("1 file(s) not an image file" in line and "labels.csv" in line for line in lines)
    assert any("3 file(s) outside" in line and "masks/0.png" in line for line in lines)


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("val/abnormal", r"val/abnormal holds 1 image.*normal images only"),
        ("Val/Abnormal", r"Val/Abnormal holds 1 image.*normal images only"),
        ("test/pneumonia", r"test/pneumonia holds 1 image.*neither normal nor abnormal"),
    ],
)
def test_folder_refuses_images_it_would_otherwise_leave_out_naming_the_folder(
    tmp_path, folder, message
):
    root = fx.folder_tree(tmp_path / "mine")
    fx.save_png(root / folder / "x.png", fx.chest(7, abnormal=True))
    with pytest.raises(SplitTableError, match=message):
        dataset("folder", root).split_table()
    assert check_availability(dataset("folder", root)).state == "split refused"


def test_folder_refuses_a_test_image_that_copies_a_training_image(tmp_path):
    from uadbench.data.fingerprint import resolve

    root = fx.folder_tree(tmp_path / "mine")
    shutil.copy(root / "train" / "normal" / "3.png", root / "test" / "abnormal" / "again.png")
    with pytest.raises(SplitTableError, match=r"1 test image\(s\) have the bytes of a training"):
        resolve(dataset("folder", root), tmp_path / "cache")
    failed = run_failure(tmp_path, root)
    assert "(e.g. test/abnormal/again.png = train/normal/3.png): a train/test leak" in failed
    assert "allow_train_test_duplicates=true" in failed

    outcome = run(tmp_path, "folder", root, allow_train_test_duplicates="true")
    assert outcome.status == "ok", outcome.record.error
    [warning] = [w for w in outcome.record.warnings if "train/test leak" in w]
    assert "allowed by allow_train_test_duplicates=true" in warning
    assert outcome.record.config.dataset_options["allow_train_test_duplicates"] is True


def test_folder_options_without_the_copy_flag_keep_the_records_names(tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    assert "allow_train_test_duplicates" not in dataset("folder", root).get_options()


def run_failure(tmp_path: Path, root: Path) -> str:
    """The message that planning a run on the folder ``root`` stops with."""
    request = RunRequest(
        method="mean-distance",
        dataset="folder",
        data_root=root,
        device="cpu",
        results_dir=tmp_path / "results",
        image_size=32,
    )
    with pytest.raises(SplitTableError) as stopped:
        plan(request, tmp_path / "cache")
    return str(stopped.value)


# -- 12-bit JPEG Extended -------------------------------------------------------------------


def test_a_12_bit_jpeg_extended_dicom_decodes_with_the_codec_extra():
    image = read_image_file(fx.twelve_bit_jpeg_dicom())
    assert image.shape == (1024, 256) and image.max() > 0


def test_a_12_bit_jpeg_extended_dicom_without_the_codec_extra_names_it(tmp_path):
    from uadbench.image_files import CODEC_EXTRA

    root = fx.folder_tree(tmp_path / "mine")
    shutil.copy(fx.twelve_bit_jpeg_dicom(), root / "train" / "normal" / "0.dcm")
    (root / "train" / "normal" / "0.png").unlink()
    extra = ("pylibjpeg", "libjpeg", "openjpeg", "rle", "gdcm")  # as if never installed
    code = (
        f"import sys\nfor m in {extra!r}:\n    sys.modules[m] = None\n"
        "from pathlib import Path\n"
        "from uadbench import registry\n"
        "from uadbench.data.availability import check_availability\n"
        f"found = check_availability(registry.datasets.get('folder')(Path({str(root)!r})))\n"
        "print(found.state)\nprint(found.reason)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    state, reason = done.stdout.splitlines()
    assert state == "codec missing", reason
    assert "0.dcm: DICOM in JPEG Extended (Process 2 and 4) with 12-bit samples" in reason
    assert CODEC_EXTRA in reason


def test_boxes_are_drawn_at_the_prepared_size_as_every_pixel_they_overlap():
    from uadbench.contracts.dataset import boxes_mask

    # 1024 px to 8 px: 128 original pixels per pixel; a box from 100 to 300 wide (x) and
    # 0 to 128 high (y) overlaps columns 0 (0-128), 1 (128-256) and 2 (256-384), row 0
    mask = boxes_mask([[(100.0, 0.0, 200.0, 128.0)], []], 8, (1024, 1024))
    assert mask.shape == (2, 8, 8) and not mask[1].any()
    assert np.argwhere(mask[0]).tolist() == [[0, 0], [0, 1], [0, 2]]
    tall = boxes_mask([[(0.0, 0.0, 1.0, 1.0), (500.0, 1000.0, 100.0, 100.0)]], 4, (1024, 512))
    assert np.argwhere(tall[0]).tolist() == [[0, 0], [3, 3]]  # clipped at the border


def test_rsna_boxes_come_from_the_release_table_and_only_there(tmp_path):
    root = fx.rsna_kaggle_release(tmp_path / "rsna")
    labels = pd.read_csv(root / "stage_2_train_labels.csv")
    opacity = fx.rsna_id(10)
    box = {"patientId": opacity, "x": 512.0, "y": 256.0, "width": 256.0, "height": 512.0}
    labels = pd.concat([labels, pd.DataFrame([{**box, "Target": 1}])])
    labels.to_csv(root / "stage_2_train_labels.csv", index=False)
    ds = dataset("rsna", root, split="available")
    table = ds.split_table()
    regions = ds.lesion_regions(table, 16)
    assert ds.lesion_truth == "boxes" and regions.shape == (len(table), 16, 16)
    [row] = np.flatnonzero(table["id"] == opacity)
    assert regions[row, 4:12, 8:12].all() and regions[row].sum() == 32
    assert regions.sum() == 32  # no other image has a box
    assert dataset("rsna", fx.medad_packaging(tmp_path / "medad")).lesion_regions(table, 16) is None


@pytest.mark.parametrize("release", [fx.vinbigdata_release, fx.vindr_physionet_release])
def test_vindr_boxes_are_every_readers_at_each_dicoms_own_size(tmp_path, release):
    root = release(tmp_path / "vindr")
    ds = dataset("vindr", root, split="available")
    table = ds.split_table()
    regions = ds.lesion_regions(table, 16)
    assert ds.lesion_truth == "boxes" and regions.shape == (len(table), 16, 16)
    abnormal = np.flatnonzero(table["label"] == 1)
    assert len(abnormal) and not regions[table["label"] == 0].any()
    for i in abnormal:  # two readers' boxes on a 48 px DICOM: (8|9, 16)-(24, 40), their union
        assert np.argwhere(regions[i]).min(axis=0).tolist() == [5, 2]
        assert np.argwhere(regions[i]).max(axis=0).tolist() == [13, 7]
        assert regions[i].sum() == 9 * 6
    assert [len(b) for b in ds.lesion_boxes(table.iloc[abnormal[:1]])] == [2]


def test_vindr_png_packaging_has_no_boxes_even_beside_a_table_of_findings(tmp_path):
    from uadbench.data.readers.vindr import VinDr

    root = fx.vinbigdata_release(tmp_path / "vindr")
    table = dataset("vindr", root, split="available").split_table()
    (root / "images").mkdir()  # the resized PNGs of the Med-AD packaging: not the boxes' pixels
    assert VinDr(root).lesion_regions(table, 16) is None


def test_nih_boxes_come_from_the_release_bbox_list(tmp_path):
    root = fx.nih_release(tmp_path / "nih")
    ds = dataset("nih", root, split="available")
    table = ds.split_table()
    regions = ds.lesion_regions(table, 16)
    listed = pd.read_csv(root / "BBox_List_2017.csv")["Image Index"].str.removesuffix(".png")
    boxed = table["id"].isin(listed).to_numpy()
    assert boxed.any() and regions.shape == (len(table), 16, 16)
    assert not regions[~boxed].any()
    for i in np.flatnonzero(boxed):  # x 256..384, y 512..768 of 1024 px -> cols 4..5, rows 8..11
        assert np.argwhere(regions[i]).tolist() == [[r, c] for r in range(8, 12) for c in (4, 5)]
    (root / "BBox_List_2017.csv").unlink()
    assert ds.lesion_regions(table, 16) is None


def test_a_data_set_that_claims_lesion_truth_must_give_it():
    from uadbench.contracts.dataset import Dataset, check_dataset_class
    from uadbench.data.readers.synthetic import SyntheticChest

    truths = {n: registry.datasets.get(n).lesion_truth for n in registry.datasets.names()}
    assert truths["synthetic"] == "mask" and truths["rsna"] == "boxes"
    for name in truths:
        check_dataset_class(registry.datasets.get(name))

    class Claims(SyntheticChest):
        name = "claims"
        lesion_regions = Dataset.lesion_regions

    with pytest.raises(TypeError, match="lesion mask but gives no `lesion_regions`"):
        check_dataset_class(Claims)

    class Unknown(SyntheticChest):
        name = "unknown"
        lesion_truth = "polygons"

    with pytest.raises(TypeError, match="`lesion_truth` must be one of None, 'mask', 'boxes'"):
        check_dataset_class(Unknown)
