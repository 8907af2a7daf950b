"""Each release layout, from tiny generated fixtures: read, split, prepared, run end to end."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uadbench import registry
from uadbench.contracts.dataset import DataNotFoundError, SplitTableError, validate_split_table
from uadbench.data.availability import check_availability
from uadbench.data.image_files import ImageReadError, read_dicom
from uadbench.data.prepare import prepare
from uadbench.data.readers import chexpert, nih, rsna, vindr, zhanglab
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
    from uadbench.data.image_files import CODEC_EXTRA

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
    root = fx.vinbigdata_release(tmp_path / "vindr")
    (root / "annotations").mkdir()
    (root / "train.csv").rename(root / "annotations" / "annotations_train.csv")
    dataset = registry.datasets.get("vindr").from_settings(tmp_path)
    assert dataset.root == root and dataset.get_options()["layout"] == "physionet-dicom"
    split = tmp_path / "split.csv"
    vindr.build_split(root / "annotations" / "annotations_train.csv", 0.2, 2).to_csv(
        split, index=False
    )
    outcome = run(tmp_path, "vindr", root, split_file=str(split))
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.config.dataset_options["layout"] == "physionet-dicom"


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
