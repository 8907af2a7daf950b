"""Every number on a board is the number of the images, split and settings it claims, and
nothing finished is lost: one test (or more) per way that was once broken.

Each test names the item of the integrity issue it holds; ``docs/INTEGRITY.md`` lists the
guarantees and the tests that hold each.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest

from uadbench.cli import app

from . import release_fixtures as fx
from .commands import FAULTS, TINY, cli, invoke, mean_distance


def run_mean_distance(results: Path, *args: object):
    return invoke(*mean_distance(results, "--image-size", "16", *args))


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").rglob("*.json"))]


def csv_board(results: Path) -> pd.DataFrame:
    from io import StringIO

    board = invoke("leaderboard", "--results-dir", results, "--format", "csv")
    return pd.read_csv(StringIO(board.stdout))


# -- 1. the prepared-image cache is keyed by what decides the pixels ----------------------


def swap_test_classes(root: Path) -> None:
    """Replace every test image in place by one of the other class, keeping the names."""
    normal, abnormal = (
        sorted((root / "test" / "normal").iterdir()),
        sorted((root / "test" / "abnormal").iterdir()),
    )
    for a, b in zip(normal, abnormal, strict=True):
        data_a, data_b = a.read_bytes(), b.read_bytes()
        a.write_bytes(data_b)
        b.write_bytes(data_a)


def test_1_images_replaced_in_place_are_a_new_run_on_new_arrays(tmp_path):
    root = fx.folder_tree(tmp_path / "mine", n_train=10, n_test=6)
    results = tmp_path / "results"
    first = run_mean_distance(results, "--dataset", "folder", "--data-root", root)
    assert first.exit_code == 0, first.output
    swap_test_classes(root)
    second = run_mean_distance(results, "--dataset", "folder", "--data-root", root)
    assert second.exit_code == 0, second.output
    assert "already recorded" not in second.stderr  # not mistaken for the first run
    done = [r for r in records(results) if r["status"] == "ok"]
    assert len(done) == 2  # the first run's record is kept, beside the new one
    fingerprints = {r["data"]["fingerprint"] for r in done}
    caches = {r["data"]["cache"] for r in done}
    assert len(fingerprints) == 2 and len(caches) == 2
    aurocs = sorted(r["metrics"]["auroc"] for r in done)
    assert aurocs[0] == pytest.approx(1 - aurocs[1])  # swapped classes: the mirrored AUROC
    board = csv_board(results)
    assert len(board) == 2 and set(board["data_fingerprint"]) == fingerprints


def test_1_the_same_data_set_under_another_root_is_another_run(tmp_path):
    results = tmp_path / "results"
    one = fx.folder_tree(tmp_path / "one", n_train=10)
    two = tmp_path / "two"
    shutil.copytree(one, two)
    assert run_mean_distance(results, "--dataset", "folder", "--data-root", one).exit_code == 0
    copy = run_mean_distance(results, "--dataset", "folder", "--data-root", two)
    assert "already recorded" in copy.stderr  # the same files elsewhere: the same run
    swap_test_classes(two)
    other = run_mean_distance(results, "--dataset", "folder", "--data-root", two)
    assert other.exit_code == 0 and "already recorded" not in other.stderr
    assert len({r["data"]["fingerprint"] for r in records(results)}) == 2


def test_1_the_same_files_from_a_root_one_level_deeper_are_the_same_run(tmp_path):
    """ZhangLab from its download folder or from ``chest_xray/`` in it: one fingerprint, so
    one row whose seeds are tested against each other (it used to be two tables)."""
    results = tmp_path / "results"
    release = fx.zhanglab_release(tmp_path / "zhanglab-224")
    for root, seed in ((release.parent, "0"), (release, "1")):
        ran = run_mean_distance(results, "--dataset", "zhanglab", "--data-root", root,
                                "--seed", seed, "--data-option", "split=available")  # fmt: skip
        assert ran.exit_code == 0, ran.output
    again = run_mean_distance(results, "--dataset", "zhanglab", "--data-root", release,
                              "--seed", "0", "--data-option", "split=available")  # fmt: skip
    assert "already recorded" in again.stderr
    assert len({r["data"]["fingerprint"] for r in records(results)}) == 1
    board = csv_board(results)
    assert len(board) == 1 and board["n_seeds"].tolist() == [2]


def test_1_a_record_fingerprinted_the_earlier_way_is_the_same_data(tmp_path):
    """Records made before 2026-12 hashed the files' paths below the root: such a record of
    the same files is still done, never set aside as a run on other data."""
    from uadbench import registry
    from uadbench.data.fingerprint import resolve

    results = tmp_path / "results"
    root = fx.folder_tree(tmp_path / "mine", n_train=10)
    assert run_mean_distance(results, "--dataset", "folder", "--data-root", root).exit_code == 0
    [path] = (results / "runs").rglob("*.json")
    source = resolve(registry.datasets.get("folder")(root), tmp_path / "cache")
    record = json.loads(path.read_text())
    assert record["data"]["fingerprint"] == source.fingerprint != source.earlier
    record["data"]["fingerprint"] = source.earlier  # as the run was recorded before
    path.write_text(json.dumps(record))
    again = run_mean_distance(results, "--dataset", "folder", "--data-root", root)
    assert again.exit_code == 0 and "already recorded" in again.stderr
    assert [p.name for p in (results / "runs").rglob("*.json")] == [path.name]
    seed = run_mean_distance(results, "--dataset", "folder", "--data-root", root, "--seed", "1")
    assert seed.exit_code == 0, seed.output
    board = csv_board(results)  # the earlier record and the new one: one row of two seeds
    assert board["n_seeds"].tolist() == [2]
    assert board["data_fingerprint"].tolist() == [source.fingerprint]
    assert json.loads(path.read_text())["data"]["fingerprint"] == source.earlier  # as it was


def test_1_a_changed_source_never_reuses_the_cache(tmp_path):
    from uadbench import registry
    from uadbench.data.prepare import prepare

    root = fx.folder_tree(tmp_path / "mine", n_train=10)
    first = prepare(registry.datasets.get("folder")(root), 16, tmp_path / "cache")
    before = np.asarray(first.images).copy()
    swap_test_classes(root)
    second = prepare(registry.datasets.get("folder")(root), 16, tmp_path / "cache")
    assert second.fingerprint != first.fingerprint and second.folder != first.folder
    test = second.rows("test")
    assert not np.array_equal(np.asarray(second.images)[test], before[test])


def test_1_data_changed_and_back_brings_back_its_record_never_a_copy(tmp_path, monkeypatch):
    from uadbench import registry

    root = fx.folder_tree(tmp_path / "mine", n_train=10, n_test=6)
    results = tmp_path / "results"
    args = ("--dataset", "folder", "--data-root", root)
    assert run_mean_distance(results, *args).exit_code == 0  # data A
    swap_test_classes(root)
    method = registry.methods.get("mean-distance")

    def broken_fit(self, train, val=None):
        raise RuntimeError("fails on data B")

    with monkeypatch.context() as patch:
        patch.setattr(method, "fit", broken_fit)
        assert run_mean_distance(results, *args).exit_code == 1  # data B fails
    swap_test_classes(root)  # data A again
    again = run_mean_distance(results, *args)
    assert again.exit_code == 0 and "already recorded" in again.stderr
    board = csv_board(results)
    assert len(board) == 1 and board["n_seeds"].iloc[0] == 1


def test_1_a_copied_record_counts_its_seed_once(tmp_path):
    results = tmp_path / "results"
    assert run_mean_distance(results, *TINY).exit_code == 0
    [path] = (results / "runs").rglob("*.json")
    shutil.copy(path, path.with_name("copy.json"))
    board = csv_board(results)
    assert board["n_seeds"].iloc[0] == 1
    assert "1 more finished record(s) of a seed already counted" in board["warnings"].iloc[0]


# -- 2. a reader recognises only its own release ------------------------------------------


def test_2_vindr_refuses_rsna_images_in_its_folder(tmp_path):
    fx.medad_packaging(tmp_path / "data" / "vindr", "rsna")
    result = run_mean_distance(
        tmp_path / "results",
        "--dataset",
        "vindr",
        "--data-root",
        tmp_path / "data",
        "--data-option",
        "split=medad",
    )
    assert result.exit_code == 2
    assert "are not vindr ids" in result.stderr
    assert not (tmp_path / "results" / "runs").exists()


@pytest.mark.parametrize(
    ("dataset", "make"),
    [
        ("vindr", lambda root: fx.folder_tree(root)),  # a train/ folder is not VinDr's
        ("vindr", lambda root: fx.medad_packaging(root, "rsna")),  # nor RSNA's packaging
        ("rsna", lambda root: fx.medad_packaging(root, "vindr")),
        ("chexpert", lambda root: fx.vinbigdata_release(root, normals=2, abnormals=2)),
    ],
)
def test_2_a_data_set_does_not_claim_another_ones_folder(tmp_path, dataset, make):
    from uadbench import registry

    make(tmp_path / "other")
    assert not registry.datasets.get(dataset).recognises(tmp_path / "other")
    result = run_mean_distance(
        tmp_path / "results", "--dataset", dataset, "--data-root", tmp_path / "other"
    )
    assert result.exit_code == 2
    assert f"data set {dataset!r} not found at" in result.stderr
    assert "Traceback" not in result.output and "KeyError" not in result.output


def test_2_each_reader_still_recognises_its_own_release(tmp_path):
    from uadbench import registry

    releases = {
        "zhanglab": fx.zhanglab_release(tmp_path / "zl"),
        "chexpert": fx.chexpert_release(tmp_path / "cx", patients=2),
        "rsna": fx.rsna_kaggle_release(tmp_path / "rsna", normals=2, opacities=1, not_normal=0),
        "vindr": fx.vinbigdata_release(tmp_path / "vd", normals=2, abnormals=1),
        "folder": fx.folder_tree(tmp_path / "mine"),
    }
    for name, root in releases.items():
        assert registry.datasets.get(name).recognises(root), name
    assert registry.datasets.get("rsna").recognises(fx.medad_packaging(tmp_path / "m", "rsna"))


# -- 3. only the benchmark's own data.json is the split "medad" ---------------------------


def test_3_a_users_data_json_is_custom_and_never_beside_published_numbers(tmp_path):
    root = fx.medad_packaging(tmp_path / "rsna", "rsna")
    results = tmp_path / "results"
    result = run_mean_distance(
        results, "--dataset", "rsna", "--data-root", root, "--data-option", "split=medad"
    )
    assert result.exit_code == 0, result.output
    [record] = records(results)
    split = record["config"]["split_version"]
    assert split.startswith("custom-") and split != "medad"
    board = csv_board(results)
    assert board["split_version"].iloc[0].startswith("custom-")
    assert board["published_auroc"].isna().all()


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["rsna", "vindr"])
def test_3_the_benchmarks_own_data_json_is_medad(shared_dir, tmp_path, name):
    from uadbench import registry

    file = {"rsna": "medianomaly_rsna_data.json", "vindr": "medianomaly_vindr_data.json"}[name]
    root = fx.medad_packaging(tmp_path / name, name)
    official = shared_dir / "splits" / file
    dataset = registry.datasets.get(name).from_settings(
        root, {"split": "medad", "medad_json": str(official)}
    )
    assert dataset.split_version == "medad"
    reformatted = tmp_path / "same-lists.json"  # the same lists, otherwise formatted
    reformatted.write_text(json.dumps(json.loads(official.read_text()), indent=4))
    same = registry.datasets.get(name).from_settings(
        root, {"split": "medad", "medad_json": str(reformatted)}
    )
    assert same.split_version == "medad"


# -- 4. warnings reach the user -----------------------------------------------------------


def test_4_warnings_are_on_the_console_every_board_format_and_the_report(tmp_path):
    results = tmp_path / "results"
    ran = invoke("run", "--results-dir", results, "--plugin", FAULTS, "--method", "constant", *TINY)
    assert ran.exit_code == 0, ran.output
    warning = "the method gave every test image the same score"
    assert any(
        line.startswith("warning: constant on synthetic (seed 0): " + warning)
        for line in ran.stderr.splitlines()
    )
    for fmt in ("table", "csv", "json", "markdown", "latex"):
        board = invoke("leaderboard", "--results-dir", results, "--format", fmt)
        assert warning in board.stdout, fmt
    assert (
        "constant ⚠"
        in invoke("leaderboard", "--results-dir", results, "--format", "markdown").stdout
    )
    assert (
        "$^{\\dagger}$"
        in invoke("leaderboard", "--results-dir", results, "--format", "latex").stdout
    )
    invoke("report", "--results-dir", results, "--out", tmp_path / "report")
    assert warning in (tmp_path / "report" / "report.md").read_text()


# -- 5. a row that differs from its profile says so in its name ---------------------------


def test_5_changed_parameters_are_in_the_row_name_in_every_format_and_figure(tmp_path):
    results = tmp_path / "results"
    assert run_mean_distance(results, *TINY).exit_code == 0
    assert run_mean_distance(results, "--param", "power=2", *TINY).exit_code == 0
    name = "mean-distance [image_size=16, power=2.0]"
    for fmt in ("table", "csv", "json", "markdown", "latex"):
        board = invoke("leaderboard", "--results-dir", results, "--format", fmt)
        text = board.stdout.replace("\\_", "_")  # LaTeX escapes underscores
        assert name in text and "mean-distance [image_size=16]" in text, fmt

    from uadbench.outputs import plots
    from uadbench.outputs.figures import plot_all
    from uadbench.outputs.leaderboard import build_leaderboard
    from uadbench.running.record_store import scan_records

    shown = []
    real = plots.save_figure

    def capture(fig, path, dpi=150):
        shown.extend(t.get_text() for ax in fig.axes for t in ax.get_yticklabels())
        shown.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        shown.extend(ax.get_title() for ax in fig.axes)
        for ax in fig.axes:
            if ax.get_legend():
                shown.extend(t.get_text() for t in ax.get_legend().get_texts())
        return real(fig, path, dpi)

    records_ = scan_records(results).records
    board = build_leaderboard(records_)
    plots.save_figure = capture
    try:  # drawn in this process, where the captured text stays
        with patch("uadbench.workers.default_workers", return_value=1):
            plot_all(board, records_, tmp_path / "figures")
    finally:
        plots.save_figure = real
    assert any(name in text for text in shown)


# -- 6. inputs are never silently dropped -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "0,3-1"], "runs backwards"),
        (["--seed", "3", "--seeds", "0,1"], "not both"),
    ],
)
def test_6_seed_lists_that_would_drop_seeds_are_refused(tmp_path, args, message):
    result = run_mean_distance(tmp_path / "results", *args, *TINY)
    assert result.exit_code == 2 and message in result.stderr


def test_6_a_grid_list_given_as_a_string_is_refused(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('methods = "ae"\ndatasets = ["synthetic"]\n')
    result = invoke("sweep", grid, "--results-dir", tmp_path / "results")
    assert result.exit_code == 2 and "methods must be a list of names" in result.stderr


def test_6_a_grid_seed_range_is_read_as_on_the_command_line(tmp_path):
    from uadbench.running.grid import load_grid

    grid = tmp_path / "grid.toml"
    grid.write_text('methods = ["ae"]\ndatasets = ["synthetic"]\nseeds = "0-2"\n')
    assert list(load_grid(grid).seeds) == [0, 1, 2]


def test_6_epochs_0_trains_nothing_and_the_row_says_so(tmp_path):
    results = tmp_path / "results"
    result = invoke(
        "run", "--results-dir", results, "--param", "epochs=0", "--image-size", "16", *TINY
    )
    assert result.exit_code == 0, result.output
    assert "epochs=0: that training was skipped" in result.stderr
    board = csv_board(results)
    assert "epochs=0: that training was skipped" in board["warnings"].iloc[0]
    assert board["name"].iloc[0] == "ae [image_size=16, epochs=0]"  # in the order of Params


def test_6_a_patient_in_train_and_test_of_a_users_csv_is_refused(tmp_path):
    root = fx.folder_tree(tmp_path / "mine", n_train=10)
    rows = [(f"train/normal/{i}.png", 0, "train", f"p{i}") for i in range(10)]
    rows += [(f"test/normal/{i}.png", 0, "test", f"q{i}") for i in range(4)]
    rows += [(f"test/abnormal/{i}.png", 1, "test", "p2" if i == 1 else f"r{i}") for i in range(4)]
    csv = tmp_path / "list.csv"
    pd.DataFrame(rows, columns=["path", "label", "split", "patient"]).to_csv(csv, index=False)
    result = run_mean_distance(
        tmp_path / "results",
        "--dataset",
        "folder",
        "--data-root",
        root,
        "--data-option",
        f"csv={csv}",
    )
    assert result.exit_code == 2
    assert "puts 1 patient(s) in test and in train/val (e.g. p2)" in result.stderr


# -- 7. --force keeps the finished record until the new one has finished ------------------


def test_7_a_failed_forced_rerun_keeps_the_finished_record(tmp_path, monkeypatch):
    results = tmp_path / "results"
    assert run_mean_distance(results, *TINY).exit_code == 0
    [path] = (results / "runs").rglob("*.json")
    before = path.read_bytes()

    def broken_fit(self, train, val=None):
        raise RuntimeError("the rerun breaks")

    from uadbench import registry

    monkeypatch.setattr(registry.methods.get("mean-distance"), "fit", broken_fit)
    rerun = run_mean_distance(results, "--force", *TINY)
    assert rerun.exit_code == 1 and "the rerun breaks" in rerun.stderr
    assert path.read_bytes() == before
    statuses = sorted(r["status"] for r in records(results))
    assert statuses == ["failed", "ok"]


def test_7_a_finished_forced_rerun_replaces_the_record(tmp_path):
    results = tmp_path / "results"
    assert run_mean_distance(results, *TINY).exit_code == 0
    [path] = (results / "runs").rglob("*.json")
    started = json.loads(path.read_text())["started_at"]
    assert run_mean_distance(results, "--force", *TINY).exit_code == 0
    assert [p.name for p in (results / "runs").rglob("*.json")] == [path.name]
    assert json.loads(path.read_text())["started_at"] >= started


# -- 8. a record of a newer schema is refused, never overwritten --------------------------


def test_8_a_newer_records_cell_is_refused(tmp_path):
    results = tmp_path / "results"
    assert run_mean_distance(results, *TINY).exit_code == 0
    [path] = (results / "runs").rglob("*.json")
    record = json.loads(path.read_text()) | {"schema": "uadbench.run/99"}
    path.write_text(json.dumps(record))
    before = path.read_bytes()
    for extra in ([], ["--force"]):
        result = run_mean_distance(results, *extra, *TINY)
        assert result.exit_code == 2 and "written by a newer uadbench" in result.stderr
        assert path.read_bytes() == before


# -- 9. a full disk at the final write: say what happened, keep what can be kept ----------


def test_9_a_full_disk_at_the_final_write_says_so_and_keeps_the_scores(tmp_path, monkeypatch):
    import uadbench.atomic as atomic

    results = tmp_path / "results"
    real = atomic.write_atomically

    def disk_full_for_finished_records(path, write):
        """No room for a finished record (the one with scores) in the results folder."""
        from io import BytesIO

        buffer = BytesIO()
        buffer.write(write) if isinstance(write, bytes) else write(buffer)
        if results in Path(path).parents and b'"score_variants"' in buffer.getvalue():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, write)

    import uadbench.running.record_store as records_module

    monkeypatch.setattr(records_module, "write_atomically", disk_full_for_finished_records)
    result = run_mean_distance(results, *TINY)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    line = next(x for x in result.stderr.splitlines() if "No space left on device" in x)
    assert "the run ended (AUROC" in line
    [path] = (results / "runs").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "failed" and "No space left on device" in record["error"]["message"]
    saved = Path(record["unsaved_record"])
    assert json.loads(saved.read_text())["test"]["scores"]
    saved.unlink()


# -- `datasets` never says "found" for a partial copy -------------------------------------


def datasets_row(output: str, name: str) -> list[str]:
    row = next(line for line in output.splitlines() if line.strip("│┃ ").startswith(name + " "))
    return [cell.strip() for cell in row.strip("│┃ ").split("│")]


def test_datasets_says_found_incomplete_missing_unrecognised_or_refused(tmp_path):
    data = tmp_path / "data"
    release = fx.zhanglab_release(data / "zhanglab", n_train=12)
    split = tmp_path / "split.csv"
    from uadbench.data.readers import zhanglab

    zhanglab.build_split(release).to_csv(split, index=False)
    (data / "chexpert").mkdir(parents=True)  # a folder, but no CheXpert release in it
    fx.medad_packaging(data / "vindr", "rsna")  # another data set's images
    args = ["datasets", "--data-root", data]
    found = cli.invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})
    assert found.exit_code == 0, found.output
    assert datasets_row(found.stdout, "synthetic")[1] == "generated"
    assert datasets_row(found.stdout, "chexpert")[1] == "layout not recognised"
    assert datasets_row(found.stdout, "rsna")[1] == "missing"
    assert datasets_row(found.stdout, "zhanglab")[1] == "missing"  # the split's real names
    assert "none of the 1965 files of split uadbench-v1 is under" in found.stdout
    assert datasets_row(found.stdout, "vindr")[1] == "missing"  # none of VinDr's own files
    assert "holds no CheXpert train.csv" in found.stdout

    from uadbench import registry
    from uadbench.data.availability import check_availability

    def zhanglab_state(**options: str):
        dataset = registry.datasets.get("zhanglab").from_settings(data, options)
        return check_availability(dataset)

    complete = zhanglab_state(split_file=str(split))
    assert complete.state == "found" and complete.total == 20
    next((release / "test" / "NORMAL").iterdir()).unlink()
    partial = zhanglab_state(split_file=str(split))
    assert partial.state == "incomplete" and (partial.missing, partial.total) == (1, 20)
    assert "1 of 20 files of split custom-" in partial.reason
    vindr = check_availability(
        registry.datasets.get("vindr").from_settings(data, {"split": "medad"})
    )
    assert vindr.state == "split refused" and "are not vindr ids" in vindr.reason


def test_5_rows_apart_only_by_skip_unreadable_are_told_apart(tmp_path):
    from uadbench.outputs import plots
    from uadbench.outputs.leaderboard import build_leaderboard
    from uadbench.running.record_store import scan_records

    results = tmp_path / "results"
    assert run_mean_distance(results, *TINY).exit_code == 0
    assert run_mean_distance(results, "--skip-unreadable", *TINY).exit_code == 0
    board = build_leaderboard(scan_records(results).records)
    labels = plots.row_labels(board.rows)
    assert len(set(labels.values())) == 2
    assert any("skip_unreadable=True" in label for label in labels.values())


# -- every number a board shows from a record is the one its own scores give ----------------


def test_a_records_numbers_are_its_own_scores_or_it_is_left_out_and_named(tmp_path):
    from uadbench.running.record_store import scan_records

    results = tmp_path / "results"
    for method in ("steady", "constant"):  # distinct scores, and every score tied
        args = ["run", "--results-dir", results, "--plugin", FAULTS, "--method", method, *TINY]
        assert invoke(*args).exit_code == 0
    found = scan_records(results)
    assert len(found.records) == 2 and not found.unreadable  # what a run writes always agrees
    [path] = (results / "runs" / "synthetic" / "steady").glob("*.json")
    record = json.loads(path.read_text())
    record["metrics"]["auroc"] = round(1 - record["metrics"]["auroc"], 2)  # edited by hand
    path.write_text(json.dumps(record))
    [unreadable] = scan_records(results).unreadable
    assert unreadable.path == path and "RecordMismatchError" in unreadable.reason
    assert list(csv_board(results)["name"]) == ["constant"]
