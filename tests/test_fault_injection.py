"""The fault-injection battery: bad data, bad command-line values, bad plugins, broken records
and results folders, full disks, kill -9 and Ctrl-C at each stage, concurrent runs; hostile
folders and release layouts, values taken in another sense than meant, outputs cut short,
records and cached arrays changed by hand, orphaned decode workers.

Every case runs against a copy of a results folder holding finished records, and asserts the
exit code, the one line that explains what happened (and that no traceback is printed), and
that every earlier finished record is byte-identical afterwards.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from uadbench.data.readers import chexpert, vindr
from uadbench.image_files import CODEC_EXTRA
from uadbench.outputs.figures import DRAWN
from uadbench.running.run_record import SCHEMA_NAME, SCHEMA_VERSION

from . import release_fixtures as fx
from .commands import FAULTS, MEAN, TINY, invoke, mean_distance, steady, tiny
from .conftest import PLUGINS, TINY_SYNTHETIC, markdown_rows, plugins_forgotten


def finished(results: Path) -> dict[str, bytes]:
    """The bytes of every finished record under ``results``, by relative path."""
    out = {}
    for path in sorted((results / "runs").rglob("*.json")):
        data = path.read_bytes()
        try:
            record = json.loads(data)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("status") == "ok":
            out[str(path.relative_to(results))] = data
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with finished records: mean-distance seeds 0 and 1, steady seed 0."""
    results = tmp_path_factory.mktemp("world") / "results"
    cache = {"UADBENCH_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "cache")}
    with plugins_forgotten():
        for args in (
            ["--plugin", MEAN, "--method", "mean-distance", "--seeds", "0,1"],
            ["--plugin", FAULTS, "--method", "steady"],
        ):
            result = invoke("run", "--results-dir", results, *args, *TINY, env=cache)
            assert result.exit_code == 0, result.output
    assert len(finished(results)) == 3
    return results


@pytest.fixture
def tampered(world: Path, tmp_path: Path) -> Path:
    """A private copy of the world's results folder for a test that changes its records."""
    copy = tmp_path / "tampered"
    shutil.copytree(world, copy)
    return copy


@pytest.fixture
def results(world: Path, tmp_path: Path) -> Path:
    """A private copy of the world's results folder; its finished records are checked after."""
    copy = tmp_path / "results"
    shutil.copytree(world, copy)
    before = finished(copy)
    yield copy
    after = {name: data for name, data in finished(copy).items() if name in before}
    assert after == before, "an earlier finished record was changed or lost"


def said(result, message: str) -> str:
    """The one line of stderr that holds ``message``; no traceback anywhere."""
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if message in line]
    assert lines, f"no line says {message!r}:\n{result.stderr}"
    return lines[0]


def error_line(result) -> str:
    """The single ``error:`` line of a command that stopped."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# -- bad command-line values: refused before any work, exit 2, no record ---------------------

BAD_VALUES = [
    (["--method", "nope"], "unknown method 'nope'"),
    (["--dataset", "nope"], "unknown data set 'nope'"),
    (["--image-size", "0"], "positive number of pixels"),
    (["--seeds", ""], "--seeds is empty"),
    (["--seeds", "0,3-1"], "the range '3-1' runs backwards"),
    (["--seeds", "0,x"], "'x' in '0,x' is neither"),
    (["--seed", "5", "--seeds", "0,1"], "give --seed or --seeds, not both"),
    (["--seed", str(2**32)], "is not a whole number from 0 to 4294967295"),
    (["--param", "lr=nan"], "parameter 'lr' must be a finite number"),
    (["--param", "lr=inf"], "parameter 'lr' must be a finite number"),
    (["--param", "lr=-1"], "lr=-1.0 is out of range; it must be > 0"),
    (["--param", "batch_size=0"], "batch_size=0 is out of range; it must be >= 1"),
    (["--param", "epochs=-2"], "epochs=-2 is out of range"),
    (["--param", "epochs=abc"], "parameter 'epochs' wants int, got 'abc'"),
    (["--param", "epochs"], "--param wants key=value"),
    (["--param", "nope=1"], "unknown parameter 'nope'"),
    (["--data-option", "n_train=-5"], "n_train=-5 is out of range; it must be >= 1"),
    (["--profile", "huge"], "has no profile 'huge'"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--device", "cuda"], "asked for a CUDA GPU"),
    (["--plugin", "no_such_module_here"], "plugin no_such_module_here failed to import"),
    (["--seedz", "3"], "No such option: --seedz"),  # click's mistakes are one line too
    (["--image-size", "abc"], "Invalid value for '--image-size'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_VALUES, ids=[m for _, m in BAD_VALUES])
def test_a_bad_value_is_one_line_and_exit_2(results, args, message):
    if args == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    count = len(list((results / "runs").rglob("*.json")))
    result = invoke("run", "--results-dir", results, *TINY, *args)
    assert result.exit_code == 2
    assert message in error_line(result)
    assert len(list((results / "runs").rglob("*.json"))) == count  # no record written


# -- bad plugins ------------------------------------------------------------------------------

BAD_PLUGINS = {
    "exits": ("import sys\nsys.exit(3)\n", "it called sys.exit(3) while being imported"),
    "raises": ("raise RuntimeError('broken on purpose')\n", "RuntimeError: broken on purpose"),
    "empty": ("X = 1\n", "defines no concrete Method or Dataset subclass"),
    "clash": (
        "from uadbench import Method\nclass A(Method):\n    name = 'ae'\n"
        "    from dataclasses import dataclass as _d\n"
        "    Params = _d(frozen=True)(type('P', (), {'__annotations__': {'image_size': int},"
        " 'image_size': 8}))\n    profiles = {'quick': Params()}\n"
        "    def fit(self, train, val=None): return self\n"
        "    def score(self, images): return images\n",
        "already registered",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_PLUGINS))
def test_a_bad_plugin_is_one_line_and_exit_2(results, tmp_path, kind):
    source, message = BAD_PLUGINS[kind]
    plugin = tmp_path / f"bad_{kind}.py"
    plugin.write_text(source)
    result = invoke("run", "--results-dir", results, "--plugin", plugin, *TINY)
    assert result.exit_code == 2
    assert message in error_line(result)


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("raises", "MemoryError: out of memory on purpose"),
        ("nan-scores", "non-finite value(s) among 24 test images"),
        ("wrong-length", "has 23 values for 24 test images"),
    ],
)
def test_a_method_that_fails_in_its_work_keeps_a_failure_record(results, tmp_path, method, message):
    result = invoke("run", "--results-dir", results, "--plugin", FAULTS, "--method", method, *TINY)
    assert result.exit_code == 1
    said(result, message)
    [record] = (results / "runs" / "synthetic" / method).glob("*.json")
    assert json.loads(record.read_text())["status"] == "failed"


# -- bad data ---------------------------------------------------------------------------------


def folder_data(tmp_path: Path) -> Path:
    return fx.folder_tree(tmp_path / "mine", n_train=10)


def corrupt_image(tmp_path: Path) -> list[str]:
    root = folder_data(tmp_path)
    broken = root / "test" / "abnormal" / "2.png"
    broken.write_bytes(broken.read_bytes()[:60])
    return ["--dataset", "folder", "--data-root", str(root)]


def huge_image(tmp_path: Path) -> list[str]:
    root = folder_data(tmp_path)
    Image.new("L", (14000, 14000)).save(root / "test" / "abnormal" / "huge.png")
    return ["--dataset", "folder", "--data-root", str(root)]


def patient_on_both_sides(tmp_path: Path) -> list[str]:
    root = folder_data(tmp_path)
    rows = [(f"train/normal/{i}.png", 0, "train", f"p{i}") for i in range(10)]
    rows += [(f"test/normal/{i}.png", 0, "test", f"q{i}") for i in range(4)]
    rows += [(f"test/abnormal/{i}.png", 1, "test", "p3" if i == 0 else f"r{i}") for i in range(4)]
    table = pd.DataFrame(rows, columns=["path", "label", "split", "patient"])
    table.to_csv(tmp_path / "list.csv", index=False)
    return ["--dataset", "folder", "--data-root", str(root), "--data-option", "csv=list.csv"]


def listed_but_absent(tmp_path: Path) -> list[str]:
    root = folder_data(tmp_path)
    rows = [(f"train/normal/{i}.png", 0, "train") for i in range(12)]  # 10 and 11 are absent
    rows += [(f"test/{c}/0.png", int(c == "abnormal"), "test") for c in ("normal", "abnormal")]
    pd.DataFrame(rows, columns=["path", "label", "split"]).to_csv(tmp_path / "l.csv", index=False)
    return ["--dataset", "folder", "--data-root", str(root), "--data-option", "csv=l.csv"]


def split_file_without_labels(tmp_path: Path) -> list[str]:
    release = fx.zhanglab_release(tmp_path / "zl")
    pd.DataFrame({"id": ["train/NORMAL/IM-0000-0001"], "split": ["train"]}).to_csv(
        tmp_path / "s.csv", index=False
    )
    split = f"split_file={tmp_path / 's.csv'}"
    return ["--dataset", "zhanglab", "--data-root", str(release.parent), "--data-option", split]


def no_data_root(tmp_path: Path) -> list[str]:
    return ["--dataset", "zhanglab", "--data-root", str(tmp_path / "nowhere")]


def rsna_packaging_as_vindr(tmp_path: Path) -> list[str]:
    fx.medad_packaging(tmp_path / "data" / "vindr", "rsna")
    root = str(tmp_path / "data")
    return ["--dataset", "vindr", "--data-root", root, "--data-option", "split=medad"]


def vinbigdata_root_as_chexpert(tmp_path: Path) -> list[str]:
    fx.vinbigdata_release(tmp_path / "vinbig", normals=2, abnormals=2)
    return ["--dataset", "chexpert", "--data-root", str(tmp_path / "vinbig")]


def broken_data_json(tmp_path: Path) -> list[str]:
    root = fx.medad_packaging(tmp_path / "rsna", "rsna")
    (root / "data.json").write_text('{"train": {"0": [')
    return ["--dataset", "rsna", "--data-root", str(root), "--data-option", "split=medad"]


BAD_DATA: dict[str, tuple[Callable[[Path], list[str]], int, str]] = {
    "corrupt image": (corrupt_image, 1, "cannot read image"),
    "decompression bomb": (huge_image, 1, "huge.png: too large to decode safely"),
    "patient in train and test": (patient_on_both_sides, 2, "puts 1 patient(s) in test and in"),
    "listed files absent": (listed_but_absent, 2, "2 of 14 images listed"),
    "split file without labels": (split_file_without_labels, 2, "lacks column(s) label"),
    "no data root": (no_data_root, 2, "data set 'zhanglab' not found at"),
    "another data set's packaging": (rsna_packaging_as_vindr, 2, "are not vindr ids"),
    "another data set's train.csv": (vinbigdata_root_as_chexpert, 2, "data set 'chexpert' not"),
    "broken data.json": (broken_data_json, 2, "is not a readable JSON file"),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_is_one_line_and_named(results, tmp_path, monkeypatch, case):
    build, code, message = BAD_DATA[case]
    args = build(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = invoke(
        *mean_distance(results),
        "--image-size",
        "16",
        *args,
    )
    assert result.exit_code == code, result.output
    line = error_line(result) if code == 2 else said(result, message)
    assert message in line


@pytest.mark.parametrize("build", [corrupt_image, huge_image])
def test_an_unreadable_image_is_skipped_when_asked(results, tmp_path, build):
    args = build(tmp_path)
    result = invoke(
        *mean_distance(results),
        "--image-size",
        "16",
        "--skip-unreadable",
        *args,
    )
    assert result.exit_code == 0, result.output
    said(result, "warning: mean-distance on folder (seed 0): 1 unreadable image(s) were left out")


# -- broken records and results folders -------------------------------------------------------


def run_again(results: Path):
    return invoke(
        *mean_distance(results),
        "--seed",
        "1",
        *TINY,
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"schema": "uadbench.run/2", "stat', "JSONDecodeError"),
        ('{"schema": "uadbench.run/2", "status": "ok"}', "it has no config"),
        ("[1, 2]", "not a uadbench.run record"),
    ],
)
def test_a_broken_record_is_named_and_does_not_block_later_runs(results, content, reason):
    (results / "runs" / "synthetic" / "junk.json").write_text(content)
    board = invoke("leaderboard", "--results-dir", results, "--format", "csv")
    assert board.exit_code == 1 and reason in said(board, "junk.json")
    assert "mean-distance" in board.stdout  # the readable records are still on the board
    again = run_again(results)
    assert again.exit_code == 0 and "already recorded" in again.stderr
    said(again, "junk.json")


def test_an_ok_record_without_metrics_is_unreadable(results):
    [path, *_] = sorted((results / "runs" / "synthetic" / "mean-distance").glob("*.json"))
    record = json.loads(path.read_text())
    del record["metrics"]
    (path.parent / "copy.json").write_text(json.dumps(record))
    board = invoke("leaderboard", "--results-dir", results)
    assert board.exit_code == 1 and "an ok record without metrics" in said(board, "copy.json")


def test_a_record_of_a_newer_schema_is_refused_not_overwritten(world, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(world, results)
    [path] = [p for p in (results / "runs" / "synthetic" / "mean-distance").glob("*seed1*.json")]
    newer = json.loads(path.read_text()) | {"schema": f"{SCHEMA_NAME}/{SCHEMA_VERSION + 1}"}
    path.write_text(json.dumps(newer))
    before = path.read_bytes()
    result = invoke(
        *mean_distance(results),
        "--seed",
        "1",
        "--force",
        *TINY,
    )
    assert result.exit_code == 2 and "written by a newer uadbench" in error_line(result)
    assert path.read_bytes() == before
    assert finished(results) == finished(world) | {str(path.relative_to(results)): before}


def test_a_results_dir_that_is_a_file_is_refused(results):
    (results / "file").write_text("")
    result = invoke("run", "--results-dir", results / "file", *TINY)
    assert result.exit_code == 2 and "cannot write run records in" in error_line(result)


def test_an_unwritable_method_folder_is_refused(results):
    (results / "runs" / "synthetic" / "ae").write_text("a file where a folder should be")
    result = invoke("run", "--results-dir", results, "--param", "epochs=1", *TINY)
    assert result.exit_code == 2 and "cannot write run records in" in error_line(result)


@pytest.mark.parametrize("command", ["report", "plot"])
def test_an_output_folder_that_is_a_file_is_refused(results, tmp_path, command):
    (tmp_path / "out").write_text("")
    result = invoke(command, "--results-dir", results, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "is a file, not a folder" in error_line(result)


def test_a_report_of_failed_runs_only_lists_them(tmp_path):
    results = tmp_path / "results"
    invoke("run", "--results-dir", results, "--plugin", FAULTS, "--method", "raises", *TINY)
    result = invoke("report", "--results-dir", results, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report" / "report.md").read_text()
    assert "No figures: no run has finished." in text and "MemoryError" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "bogus"], "unknown split 'bogus'"),
        (["--split", "val", *tiny(n_val="0")], "the val split of synthetic holds no"),
        (["--overlay", "nosuch"], "no per-image extra named 'nosuch'"),
    ],
)
def test_contact_sheet_mistakes(tmp_path, args, message):
    result = invoke(
        "contact-sheet", "--out", tmp_path / "s.png", "--image-size", "16", *TINY, *args
    )
    assert result.exit_code == 2 and message in error_line(result)


def test_an_unknown_leaderboard_format(results):
    result = invoke("leaderboard", "--results-dir", results, "--format", "xml")
    assert result.exit_code == 2 and "'xml' is not one of 'table', 'csv'" in error_line(result)


# -- sweeps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (None, "give a grid file"),
        ("missing.toml", "cannot read grid file"),
        ('methods = "ae"\ndatasets = ["synthetic"]\n', "methods must be a list of names"),
        ('methods = ["ae"]\ndatasets = ["synthetic"]\nseeds = "3-1"\n', "runs backwards"),
        ('methods = ["ae"]\ndatasets = ["synthetic"]\nseeds = 3\n', "seeds must be a list"),
        ('methods = ["ae"\n', "does not parse"),
        ('methods = ["ae", "nope"]\ndatasets = ["synthetic", "nada"]\n', "'nope'"),
        ('methods = ["ae"]\ndatasets = ["synthetic"]\n[params.ae]\nlr = nan\n', "finite"),
    ],
)
def test_sweep_mistakes_start_no_cell(results, tmp_path, grid, message):
    args = []
    if grid is not None:
        path = tmp_path / "grid.toml"
        if grid != "missing.toml":
            path.write_text(grid)
        args = [path]
    result = invoke("sweep", *args, "--results-dir", results)
    assert result.exit_code == 2 and message in error_line(result)


def test_a_sweep_runs_the_cells_whose_data_are_there(results, tmp_path):
    root = folder_data(tmp_path)
    (root / "test" / "normal" / "1.png").write_bytes(b"not a png")
    args = ["--plugin", MEAN, "--method", "mean-distance", "--dataset", "synthetic"]
    args += ["--dataset", "folder", "--dataset", "zhanglab", "--data-root", root]
    result = invoke("sweep", "--results-dir", results, "--image-size", "16", *args)
    assert result.exit_code == 1
    said(result, "FAILED mean-distance on folder (seed 0): preparing the data: cannot read image")
    said(result, "FAILED mean-distance on zhanglab (seed 0): data set 'zhanglab' not found")
    assert "done 1" in result.stderr  # the synthetic cell ran
    statuses = sorted(
        (p.parent.parent.name, json.loads(p.read_text())["status"])
        for p in (results / "runs").rglob("mean-distance/*16px*.json")
    )
    assert statuses == [("folder", "failed"), ("synthetic", "ok"), ("zhanglab", "failed")]
    skipped = invoke(
        "sweep", "--results-dir", results, "--image-size", "16", "--skip-unreadable", *args
    )
    said(skipped, "FAILED mean-distance on zhanglab")  # still missing
    assert "failed 1" in skipped.stderr and "done 2" in skipped.stderr  # new cells: the flag


def test_an_unknown_executor(results):
    result = invoke(
        "sweep",
        "--method",
        "ae",
        "--dataset",
        "synthetic",
        "--executor",
        "nope",
        "--results-dir",
        results,
    )
    assert result.exit_code == 2
    assert "'nope' is not one of 'local', 'ray', 'slurm'" in error_line(result)


# -- full disks -------------------------------------------------------------------------------


def uadbench(args: list[object], env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """``uadbench ARGS`` as a child process that takes Ctrl-C as a terminal's child does, also
    when the test runner was started in the background (which ignores SIGINT, and children
    inherit that)."""
    return subprocess.Popen(
        [sys.executable, "-m", "uadbench", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
        preexec_fn=_default_sigint(popen.pop("preexec_fn", None)),
        **popen,
    )


def _default_sigint(then: Callable[[], None] | None) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if then is not None:
            then()

    return apply


def file_size_limit(limit: int) -> Callable[[], None]:
    """Make every file this process writes stop at ``limit`` bytes (EFBIG past it)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_disk_too_small_for_the_finished_record_says_so(results):
    def command(seed: int) -> list[object]:
        return [
            *mean_distance(results),
            "--seed",
            seed,
            *TINY,
        ]

    assert invoke(*command(3)).exit_code == 0  # the cache is built, and a record's size known
    record_size = max(p.stat().st_size for p in (results / "runs").rglob("*seed3*.json"))
    # a limit that a small failure record fits under but the finished record does not
    process = uadbench(command(2), preexec_fn=file_size_limit(record_size - 1000))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    line = next(line for line in stderr.splitlines() if "could not be written" in line)
    assert "the run ended (AUROC" in line and "this message is all that is left" in line
    [path] = (results / "runs" / "synthetic" / "mean-distance").glob("*seed2*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "failed" and "could not be written" in record["error"]["message"]
    assert 0 <= record["metrics_unsaved"]["auroc"] <= 1


def test_a_disk_too_small_for_even_the_first_record_stops_before_any_work(results):
    assert invoke(*mean_distance(results, "--seed", "5", *TINY)).exit_code == 0
    [done] = (results / "runs").rglob("*seed5*.json")
    done.unlink()  # the cache is built; the cell has no record
    process = uadbench(
        mean_distance(results, "--seed", "5", *TINY), preexec_fn=file_size_limit(1000)
    )
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert "error: cannot write the run record" in stderr and "free space there" in stderr


def test_a_failed_final_write_saves_the_whole_record_elsewhere(results, tmp_path, monkeypatch):
    import errno

    import uadbench.running.record_store as store

    real = store.write_record

    def full_disk(path, record):
        if record.status != "running" and results in Path(path).parents:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, record)

    monkeypatch.setattr(store, "write_record", full_disk)
    monkeypatch.setattr(store, "UNSAVED_FOLDERS", (tmp_path / "elsewhere",))
    result = invoke(
        *mean_distance(results),
        "--seed",
        "4",
        *TINY,
    )
    assert result.exit_code == 1
    line = said(result, "No space left on device")
    [saved] = (tmp_path / "elsewhere").glob("uadbench-unsaved-*.json")
    assert f"the whole record was saved to {saved}" in line
    kept = json.loads(saved.read_text())
    assert kept["status"] == "ok" and len(kept["test"]["scores"]) == 24


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 128 KiB file system (tmpfs), where the machine lets this process mount one."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_cache_disk_is_an_error_not_a_crash(results, tiny_disk):
    # 72 images of 64 x 64 need 288 KiB: writing them through a memory map would die of SIGBUS
    process = uadbench(
        [
            *mean_distance(results),
            "--image-size",
            "64",
            *TINY,
        ],
        env={"UADBENCH_CACHE_DIR": str(tiny_disk)},
    )
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    line = next(line for line in stderr.splitlines() if "FAILED" in line)
    assert "no room for the prepared images in" in line and "--cache-dir" in line
    assert not [p for p in tiny_disk.rglob("*") if p.is_file() and p.suffix == ".npy"]


def test_a_file_size_limit_on_the_cache_is_an_error_not_a_crash(results, tmp_path):
    process = uadbench(
        [
            *mean_distance(results),
            "--image-size",
            "48",
            *TINY,
        ],
        env={"UADBENCH_CACHE_DIR": str(tmp_path / "cache")},
        preexec_fn=file_size_limit(64 * 1024),
    )
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "no room for the prepared images" in stderr and "Traceback" not in stderr


# -- kill -9 and Ctrl-C at each stage ---------------------------------------------------------


def start_at(stage: str, results: Path, tmp_path: Path, *extra: str, hold: float = 60):
    """A run of ``steady`` on ``slow-phantoms`` held at ``stage``; returns once it is there."""
    marker = tmp_path / f"at-{stage}"
    marker.unlink(missing_ok=True)
    env = {"FAULTS_STAGE": stage, "FAULTS_MARKER": str(marker), "FAULTS_HOLD": str(hold)}
    if stage == "prepare":  # a cache of its own, so that the images are decoded again
        env["UADBENCH_CACHE_DIR"] = str(tmp_path / "own-cache")
    process = uadbench(
        steady(results, 7, *extra),
        env=env,
    )
    deadline = time.time() + 90
    while not marker.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.time() < deadline, "the run never reached " + stage
        time.sleep(0.1)
    return process


def cell_records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (results / "runs").rglob("*seed7*.json")]


@pytest.mark.parametrize("stage", ["prepare", "fit", "final-write"])
def test_kill_9_at_each_stage_loses_nothing_finished(results, tmp_path, stage):
    process = start_at(stage, results, tmp_path)
    process.kill()
    process.wait()
    [record] = cell_records(results)
    assert record["status"] == "running"  # readers see it as interrupted
    board = invoke("leaderboard", "--results-dir", results, "--format", "markdown")
    assert board.exit_code == 0
    assert ["slow-phantoms", "steady", "7", "interrupted"] in [
        r[:4] for r in markdown_rows(board.stdout)
    ]
    if stage == "prepare":
        again = invoke(
            *steady(results, 7),
            env={"UADBENCH_CACHE_DIR": str(tmp_path / "own-cache")},
        )
        assert again.exit_code == 0, again.output
        assert not list((tmp_path / "own-cache").rglob(".*building*"))  # the killed one's too


@pytest.mark.parametrize("stage", ["prepare", "fit", "final-write"])
def test_ctrl_c_at_each_stage_says_so_and_keeps_the_record(results, tmp_path, stage):
    process = start_at(stage, results, tmp_path, hold=2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "error: interrupted (Ctrl-C); finished records are kept" in stderr
    [record] = cell_records(results)
    if stage == "final-write":  # the finished result was being written: it is written whole
        assert record["status"] == "ok"
    else:
        assert record["status"] == "failed"
        assert record["error"]["message"] == "interrupted by the user (Ctrl-C)"


def test_a_killed_forced_rerun_keeps_the_finished_record(results, tmp_path):
    first = start_at("fit", results, tmp_path, hold=0)
    assert first.wait(timeout=60) == 0
    [done] = cell_records(results)
    assert done["status"] == "ok"
    before = finished(results)
    process = start_at("fit", results, tmp_path, "--force")
    process.kill()
    process.wait()
    assert finished(results) == before
    statuses = sorted(r["status"] for r in cell_records(results))
    assert statuses == ["ok", "running"]  # the rerun's record is beside, not over, the result


def test_sigterm_stops_a_run_and_its_record_says_so(results, tmp_path):
    process = start_at("fit", results, tmp_path)
    process.terminate()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode not in (0, None)
    assert "Traceback" not in stderr and "run stopped before the end" in stderr
    [record] = cell_records(results)
    assert record["status"] == "failed" and "stopped before the end" in record["error"]["message"]


# -- concurrent runs into one folder ----------------------------------------------------------


def test_the_same_cell_twice_at_once_runs_once(results, tmp_path):
    first = start_at("fit", results, tmp_path, hold=4)
    second = invoke(
        *steady(results, 7),
    )
    assert second.exit_code == 1
    said(second, "another uadbench process is running this cell now")
    assert first.wait(timeout=60) == 0
    assert [r["status"] for r in cell_records(results)] == ["ok"]


def test_other_cells_run_side_by_side_in_one_folder(results, tmp_path):
    first = start_at("fit", results, tmp_path, hold=3)
    other = invoke(
        *steady(results, 8),
    )
    assert other.exit_code == 0, other.output
    assert first.wait(timeout=60) == 0
    statuses = [json.loads(p.read_text())["status"] for p in (results / "runs").rglob("*.json")]
    assert statuses.count("ok") == 5 and set(statuses) == {"ok"}


def test_an_abandoned_staging_folder_is_removed_by_the_next_build(tmp_path):
    from uadbench.data.prepare import prepare
    from uadbench.data.readers.synthetic import SyntheticChest

    data = SyntheticChest.from_settings(None, TINY_SYNTHETIC)
    folder = prepare(data, 16, tmp_path).folder
    shutil.rmtree(folder)
    dead = folder.parent / f".{folder.name}.building-{2**22 + 7}-abcd1234"
    dead.mkdir()
    (dead / "owner.json").write_text(json.dumps({"pid": 2**22 + 7, "host": os.uname()[1]}))
    (dead / "images.npy").write_bytes(np.zeros(10, np.uint8).tobytes())
    prepare(data, 16, tmp_path)
    assert not dead.exists() and (folder / "meta.json").is_file()


# -- the cache: cut short, fixed files, brackets in messages, bugs --------------------------


def test_a_cache_array_cut_short_is_rebuilt(tmp_path):
    from uadbench.data.prepare import prepare
    from uadbench.data.readers.synthetic import SyntheticChest

    data = SyntheticChest.from_settings(None, TINY_SYNTHETIC)
    first = prepare(data, 16, tmp_path)
    pixels = np.asarray(first.images).copy()
    array = first.folder / "images.npy"
    array.write_bytes(array.read_bytes()[: array.stat().st_size // 2])
    again = prepare(data, 16, tmp_path)
    assert np.array_equal(np.asarray(again.images), pixels)


def test_a_fixed_unreadable_image_is_read_again(tmp_path):
    from uadbench import registry
    from uadbench.data.prepare import prepare

    root = folder_data(tmp_path)
    image = root / "test" / "abnormal" / "1.png"
    good = image.read_bytes()
    image.write_bytes(b"not a png")
    folder = registry.datasets.get("folder")
    skipped = prepare(folder(root), 16, tmp_path / "cache", skip_unreadable=True)
    assert [s["id"] for s in skipped.skipped] == ["test/abnormal/1"]
    image.write_bytes(good)
    fixed = prepare(folder(root), 16, tmp_path / "cache")  # no flag needed any more
    assert fixed.skipped == [] and fixed.table["readable"].all()


def test_brackets_in_a_message_are_printed(results, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = invoke(
        "sweep",
        "--method",
        "ae",
        "--dataset",
        "synthetic",
        "--executor",
        "ray",
        "--results-dir",
        results,
    )
    assert result.exit_code == 2
    assert "pip install 'uadbench[ray]'" in error_line(result)


def test_a_bug_keeps_its_traceback(results, tmp_path):
    plugin = tmp_path / "buggy.py"
    plugin.write_text(
        "from uadbench.data.readers.synthetic import SyntheticChest\n"
        "class Buggy(SyntheticChest):\n"
        "    name = 'buggy'\n"
        "    def split_table(self):\n"
        "        return 1 / 0\n"
    )
    with pytest.raises(ZeroDivisionError):  # not turned into a one-line "error:"
        invoke("run", "--results-dir", results, "--plugin", plugin, "--dataset", "buggy")


# -- found in review: races and records in the way -----------------------------------------


def test_a_finished_rerun_left_by_a_kill_before_its_rename_is_taken(tampered):
    [main] = (tampered / "runs" / "synthetic" / "mean-distance").glob("*seed1*.json")
    rerun = main.with_name(main.stem + ".rerun.json")
    newer = json.loads(main.read_text()) | {"started_at": "2099-01-01T00:00:00+00:00"}
    rerun.write_text(json.dumps(newer))  # finished, but killed before replacing the record
    expected = rerun.read_bytes()
    again = invoke(*mean_distance(tampered, "--seed", "1", *TINY))
    assert again.exit_code == 0 and "already recorded" in again.stderr
    assert not rerun.exists() and main.read_bytes() == expected
    board = invoke("leaderboard", "--results-dir", tampered, "--format", "json")
    [row] = [r for r in json.loads(board.stdout)["rows"] if r["method"] == "mean-distance"]
    assert row["seeds"] == [0, 1]  # each seed once


def test_an_unusable_file_where_the_record_goes_is_left_alone(tampered):
    [main] = (tampered / "runs" / "synthetic" / "mean-distance").glob("*seed1*.json")
    main.write_text('{"schema": "uadbench.run/2", "status": "ok", "config": {}}')
    before = main.read_bytes()
    result = invoke(*mean_distance(tampered, "--seed", "1", "--force", *TINY))
    assert result.exit_code == 2
    assert "is not a usable run record" in error_line(result)
    assert main.read_bytes() == before


def test_files_changed_while_being_prepared_are_never_cached(tmp_path):
    from uadbench import registry
    from uadbench.data.fingerprint import resolve
    from uadbench.data.prepare import DataChangedError, prepare

    root = folder_data(tmp_path)
    dataset = registry.datasets.get("folder")(root)
    source = resolve(dataset, tmp_path / "cache")
    image = root / "test" / "abnormal" / "0.png"
    Image.fromarray(np.full((48, 48), 255, np.uint8)).save(image)  # after the fingerprint
    with pytest.raises(DataChangedError, match=r"1 image file\(s\) changed .*abnormal/0.png"):
        prepare(dataset, 16, tmp_path / "cache", source=source)
    assert not list((tmp_path / "cache" / "folder").glob("*/16px"))


def test_a_split_file_changed_after_planning_fails_its_run(tmp_path, plugin_file):
    from uadbench import registry
    from uadbench.data.readers import zhanglab
    from uadbench.running.planning import RunRequest, plan
    from uadbench.running.runner import execute

    registry.load_plugin(str(plugin_file))
    release = fx.zhanglab_release(tmp_path / "zl")
    split = tmp_path / "split.csv"
    table = zhanglab.build_split(release)
    table.to_csv(split, index=False)
    request = RunRequest(
        method="mean-distance",
        dataset="zhanglab",
        data_root=release.parent,
        data_options={"split_file": str(split)},
        results_dir=tmp_path / "results",
        device="cpu",
    )
    [planned] = plan(request)
    table.iloc[:-1].to_csv(split, index=False)  # one image fewer: another custom split
    outcome = execute(planned, tmp_path / "cache")
    assert outcome.status == "failed" and "the split changed since the run was planned" in (
        outcome.message
    )


def test_a_grid_parameter_named_like_a_method_is_refused(results, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('methods = ["ae"]\ndatasets = ["synthetic"]\n[params]\nae = 3\n')
    result = invoke("sweep", grid, "--results-dir", results)
    assert result.exit_code == 2 and "unknown parameter 'ae'" in error_line(result)


def test_a_cache_dir_that_is_a_file_is_refused(results, tmp_path):
    (tmp_path / "cache-file").write_text("")
    result = invoke("run", "--results-dir", results, "--cache-dir", tmp_path / "cache-file", *TINY)
    assert result.exit_code == 2 and "cannot write prepared images in" in error_line(result)


def test_old_records_that_scored_other_images_are_named(tampered):
    paths = sorted((tampered / "runs" / "synthetic" / "mean-distance").glob("*.json"))
    for path in paths:  # as records made before data fingerprints
        record = json.loads(path.read_text())
        record["data"].pop("fingerprint")
        if "seed1" in path.name:
            record["test"]["ids"] = [f"x{i}" for i in range(len(record["test"]["ids"]))]
        path.write_text(json.dumps(record))
    result = invoke("leaderboard", "--results-dir", tampered)
    assert result.exit_code == 2 and "scored different test images" in error_line(result)


def test_an_image_left_out_is_read_again_once_it_reads(tmp_path, monkeypatch):
    import uadbench.contracts.dataset as dataset_module
    from uadbench import registry
    from uadbench.data.prepare import prepare
    from uadbench.image_files import ImageReadError

    root = folder_data(tmp_path)
    folder = registry.datasets.get("folder")
    real = dataset_module.read_image_file

    def no_decoder_for_one(path, intensity="bits"):
        if path.name == "1.png" and path.parent.name == "abnormal":
            raise ImageReadError(path, "no decoder for it (yet)")
        return real(path, intensity)

    monkeypatch.setattr(dataset_module, "read_image_file", no_decoder_for_one)
    assert len(prepare(folder(root), 16, tmp_path / "c", skip_unreadable=True).skipped) == 1
    monkeypatch.setattr(dataset_module, "read_image_file", real)  # the decoder is installed
    again = prepare(folder(root), 16, tmp_path / "c")  # same files, same fingerprint
    assert again.skipped == [] and again.table["readable"].all()


# -- hostile folders and release layouts: a train/test leak, files left out, codecs -------


WIDE = {"COLUMNS": "400"}


"""A terminal wide enough that no printed line is wrapped."""


def run_on(results: Path, root: Path, *args: str):
    """``uadbench run`` of the mean-distance plugin on the folder data set at ``root``."""
    return invoke(
        *mean_distance(results, "--image-size", "16"),
        "--dataset",
        "folder",
        "--data-root",
        root,
        *args,
    )


def records_readers(results: Path, dataset: str = "folder") -> list[dict]:
    return [json.loads(p.read_text()) for p in (results / "runs" / dataset).rglob("*.json")]


def copied_into_test(root: Path) -> None:
    shutil.copy(root / "train" / "normal" / "3.png", root / "test" / "abnormal" / "again.png")


def abnormal_validation(root: Path) -> None:
    fx.save_png(root / "val" / "abnormal" / "x.png", fx.chest(1, abnormal=True))


def unknown_class_folder(root: Path) -> None:
    fx.save_png(root / "test" / "Pneumonia" / "x.png", fx.chest(1, abnormal=True))


REFUSED: dict[str, tuple[Callable[[Path], None], str]] = {
    "a test image copying a training image": (
        copied_into_test,
        "(e.g. test/abnormal/again.png = train/normal/3.png): a train/test leak",
    ),
    "abnormal validation images": (abnormal_validation, "val/abnormal holds 1 image(s)"),
    "an unknown class folder": (unknown_class_folder, "test/Pneumonia holds 1 image(s)"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_hostile_folder_is_refused_in_one_line(results, tmp_path, case):
    build, message = REFUSED[case]
    root = fx.folder_tree(tmp_path / "mine")
    build(root)
    result = run_on(results, root)
    assert result.exit_code == 2, result.output
    assert message in error_line(result) and "Traceback" not in result.output
    assert records_readers(results) == []


def test_a_leak_allowed_by_its_option_is_a_warning_on_the_board(results, tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    copied_into_test(root)
    result = run_on(results, root, "--data-option", "allow_train_test_duplicates=true")
    assert result.exit_code == 0, result.output
    line = said(result, "a train/test leak, allowed by allow_train_test_duplicates=true")
    assert line.startswith("warning: mean-distance on folder (seed 0): 1 test image(s) have")
    [record] = records_readers(results)
    assert record["config"]["dataset_options"]["allow_train_test_duplicates"] is True
    for fmt in ("csv", "markdown"):
        board = invoke("leaderboard", "--results-dir", results, "--format", fmt)
        assert "a train/test leak, allowed by allow_train_test_duplicates=true" in board.stdout
    markdown = invoke("leaderboard", "--results-dir", results, "--format", "markdown").stdout
    assert "mean-distance [image_size=16] ⚠" in markdown


def test_files_left_out_are_named_by_datasets_and_the_run_record(results, tmp_path):
    root = fx.folder_tree(tmp_path / "mine")
    (root / "test" / "abnormal").rename(root / "test" / "Abnormal")
    (root / "README.txt").write_text("our images")
    (root / "test" / "Abnormal" / "notes.doc").write_bytes(b"\xd0\xcf\x11\xe0 not an image")
    scan = root / "test" / "Abnormal" / "scan"  # a DICOM without a suffix
    fx.write_dicom(scan, fx.chest(8, abnormal=True), 8, "MONOCHROME2")
    listed = invoke("datasets", "folder", "--data-root", root, env=WIDE)
    assert listed.exit_code == 0, listed.output
    assert "found" in listed.stdout
    assert "left out, 1 file(s) outside" in listed.stdout and "README.txt" in listed.stdout
    assert "left out, 1 file(s) not an image file" in listed.stdout
    assert "test/Abnormal/notes.doc" in listed.stdout
    result = run_on(results, root)
    assert result.exit_code == 0, result.output
    [record] = records_readers(results)
    assert record["data"]["n_test"] == 9  # 4 normal, 4 + the DICOM without a suffix abnormal
    assert {e["file"] for e in record["data"]["left_out"]} == {
        "README.txt",
        "test/Abnormal/notes.doc",
    }


@pytest.fixture
def without_the_codec_extra(monkeypatch):
    """pydicom as it is without the codec extra: Pillow's plugin is its only JPEG decoder."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGExtended12Bit

    decoder = get_decoder(JPEGExtended12Bit)
    pillow_only = {k: v for k, v in decoder._available.items() if k == "pillow"}
    monkeypatch.setattr(decoder, "_available", pillow_only)


def test_a_12_bit_jpeg_dicom_without_the_codec_names_the_extra(
    results, tmp_path, without_the_codec_extra
):
    root = fx.folder_tree(tmp_path / "mine")
    shutil.copy(fx.twelve_bit_jpeg_dicom(), root / "train" / "normal" / "0.dcm")
    (root / "train" / "normal" / "0.png").unlink()
    listed = invoke("datasets", "folder", "--data-root", root, env=WIDE)
    assert "codec missing" in listed.stdout and CODEC_EXTRA in listed.stdout
    result = run_on(results, root)
    assert result.exit_code == 1, result.output
    line = said(result, "0.dcm: DICOM in JPEG Extended (Process 2 and 4) with 12-bit samples")
    assert f"which needs a codec that is not installed ({CODEC_EXTRA})" in line


def vindr_by_wget(tmp_path: Path) -> tuple[Path, list[str]]:
    """VinDr-CXR as ``wget -r`` fetches it from PhysioNet, into ``tmp_path``."""
    release = fx.vindr_physionet_release(tmp_path / "physionet.org/files/vindr-cxr/1.0.0")
    table = vindr.build_split(release / "annotations" / "annotations_train.csv", 0.2, 2)
    table.to_csv(tmp_path / "split.csv", index=False)
    return release, ["--data-option", f"split_file={tmp_path / 'split.csv'}"]


def chexpert_from_aimi(tmp_path: Path) -> tuple[Path, list[str]]:
    """CheXpert as the Stanford AIMI download unpacks, into ``tmp_path``."""
    download = fx.chexpert_aimi_batches(tmp_path / "chexpertchestxrays-u20210408")
    train_csv = download / "CheXpert-v1.0 batch 1 (validate & csv)" / "train.csv"
    chexpert.build_split(train_csv, 0.2, 4).to_csv(tmp_path / "split.csv", index=False)
    return download, ["--data-option", f"split_file={tmp_path / 'split.csv'}"]


LAYOUTS = {"vindr": vindr_by_wget, "chexpert": chexpert_from_aimi}


@pytest.mark.parametrize("dataset", list(LAYOUTS))
def test_a_release_as_it_unpacks_is_found_from_the_folder_above(results, tmp_path, dataset):
    root, options = LAYOUTS[dataset](tmp_path)
    listed = invoke("datasets", dataset, "--data-root", tmp_path, *options, env=WIDE)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if line.strip("│ ").startswith(dataset))
    assert "found" in row, listed.stdout
    assert str(root) in listed.stdout
    result = invoke(
        *mean_distance(results, "--image-size", "16"),
        *("--dataset", dataset, "--data-root", tmp_path, *options),
    )
    assert result.exit_code == 0, result.output
    [record] = records_readers(results, dataset)
    assert record["data"]["root"] == str(root.resolve())


def test_a_folder_of_other_files_is_no_release(results, tmp_path):
    (tmp_path / "physionet.org" / "files" / "mimic-cxr" / "2.0.0").mkdir(parents=True)
    pd.DataFrame({"image_id": ["a"], "class_name": ["No finding"]}).to_csv(
        tmp_path / "physionet.org" / "files" / "mimic-cxr" / "2.0.0" / "train.csv", index=False
    )
    result = invoke(
        *mean_distance(results, "--image-size", "16"),
        *("--dataset", "vindr", "--data-root", tmp_path),
    )
    assert result.exit_code == 2
    assert "data set 'vindr' not found at" in error_line(result)


# -- values numpy, a run file or the file system would take otherwise: scores, keys, names ---


HOSTILE = str(PLUGINS / "hostile_scores.py")


TOO_LONG = "a" * 300  # one name over any common file system's limit of 255 bytes


def records_inputs(results: Path) -> int:
    return len(list((results / "runs").rglob("*.json")))


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("string-scores", "score 'score' holds strings (e.g. '"),
        ("complex-scores", "score 'score' holds complex numbers (e.g. ("),
        ("object-scores", "score 'score' holds NoneType values (e.g. None)"),
    ],
)
def test_scores_that_are_not_real_numbers_fail_the_run(results, method, message):
    result = invoke("run", "--results-dir", results, "--plugin", HOSTILE, "--method", method, *TINY)
    assert result.exit_code == 1
    assert "a score must be a real number" in said(result, message)
    assert "1 of 1 run(s) did not finish" in error_line(result)
    [record] = (results / "runs" / "synthetic" / method).glob("*.json")
    record = json.loads(record.read_text())
    assert record["status"] == "failed" and message in record["error"]["message"]
    assert "\n" not in record["error"]["message"]


def run_file(tmp_path: Path, **lines: str) -> Path:
    """A run file of the mean-distance plugin on the synthetic phantoms, ``lines`` (TOML values)
    in place of or beside its keys."""
    keys = {"method": '"mean-distance"', "dataset": '"synthetic"', **lines}
    path = tmp_path / "run.toml"
    path.write_text("".join(f"{key} = {value}\n" for key, value in keys.items()))
    return path


SIZE = "image_size must be a whole number of pixels from 1, e.g. image_size = 64"


SEED = "seed must be a whole number from 0 to 4294967295, e.g. seed = 0"


RUN_FILE_CASES = {
    "image_size a word": ({"image_size": '"big"'}, SIZE, "image_sizes"),
    "image_size 0": ({"image_size": "0"}, SIZE, "--image-size"),
    "image_size a fraction": ({"image_size": "64.5"}, SIZE, "image_sizes"),
    "seed a word": ({"seed": '"zero"'}, SEED, "seeds"),
    "seed below 0": ({"seed": "-1"}, SEED, "seeds"),
    "seed over 32 bits": ({"seed": str(2**32)}, SEED, "seeds"),
    "seed true": ({"seed": "true"}, SEED, "seeds"),
    "method a number": ({"method": "5"}, 'method must be a name, e.g. method = "ae"', "methods"),
    "dataset a list": ({"dataset": '["synthetic"]'}, "dataset is one value; use datasets", "grid"),
    "two at once": ({"seed": '"zero"', "image_size": '"big"'}, f"{SEED}; {SIZE}", "grid"),
}


@pytest.mark.parametrize("case", list(RUN_FILE_CASES))
def test_a_run_file_names_the_key_the_user_wrote(results, tmp_path, case):
    lines, message, not_said = RUN_FILE_CASES[case]
    path = run_file(tmp_path, **lines)
    before = records_inputs(results)
    result = invoke("run", "--results-dir", results, "--plugin", MEAN, "--config", path, *TINY)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: run file {path}: ") and message in line
    assert not_said not in line
    assert "Traceback" not in result.output
    assert records_inputs(results) == before  # refused before any work


@pytest.mark.parametrize("csv", [f"{TOO_LONG}.csv", f"{TOO_LONG}/list.csv"], ids=["file", "folder"])
def test_a_csv_name_over_the_system_limit_is_one_line(results, tmp_path, monkeypatch, csv):
    root = fx.folder_tree(tmp_path / "mine", n_train=10)
    monkeypatch.chdir(tmp_path)
    before = records_inputs(results)
    result = invoke(
        *mean_distance(results),
        "--image-size",
        "16",
        "--dataset",
        "folder",
        "--data-root",
        root,
        "--data-option",
        f"csv={csv}",
    )
    assert result.exit_code == 2, result.output
    line = error_line(result)
    assert line.startswith("error: cannot read CSV ")
    assert "a file or folder name in it is longer than the file system allows" in line
    assert "Traceback" not in result.output
    assert records_inputs(results) == before


OUT_CASES = {
    "below a file": ("a_file/sheet.png", "a_file is a file, so it cannot hold a_file/sheet.png"),
    "two below a file": ("a_file/deeper/sheet.png", "a_file is a file, so it cannot hold"),
    "a name too long": (f"{TOO_LONG}.png", "name in it is longer than the file system allows"),
    "a folder too long": (f"{TOO_LONG}/s.png", "name in it is longer than the file system allows"),
    "a folder": (".", "is a folder; give --out a .png file to write"),
}


@pytest.mark.parametrize("case", list(OUT_CASES))
def test_a_contact_sheet_path_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, case):
    out, message = OUT_CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("in the way\n")
    result = invoke("contact-sheet", "--out", out, "--image-size", "16", *TINY)
    assert result.exit_code == 2, result.output
    assert message in error_line(result)
    assert "Traceback" not in result.output
    assert (tmp_path / "a_file").read_text() == "in the way\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing written


# -- outputs cut short, records edited, cached arrays changed, tiny images, orphaned workers --


def files(folder: Path) -> dict[str, bytes]:
    """The bytes of every file under ``folder``, hidden ones too, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def stderr_line(stderr: str, message: str) -> str:
    """The one line of a process's stderr that holds ``message``; no traceback anywhere."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if message in line]
    assert lines, f"no line says {message!r}:\n{stderr}"
    return lines[0]


@pytest.mark.parametrize(
    ("command", "written"),
    [("board", "index.html"), ("report", "figures/roc_curves.png"), ("plot", "roc_curves.png")],
)
def test_an_output_cut_short_keeps_the_previous_file_whole(results, tmp_path, command, written):
    out = tmp_path / "out"
    first = invoke(command, "--results-dir", results, "--out", out)
    assert first.exit_code == 0, first.output
    for drawn in out.rglob(DRAWN):  # forget what was drawn: every figure is drawn again
        drawn.unlink()
    before = files(out)
    assert len(before[written]) > 2000
    # every file this process writes stops at 1000 bytes, as a full disk or a kill would stop it
    process = uadbench(
        [command, "--results-dir", results, "--out", out],
        preexec_fn=file_size_limit(1000),
    )
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stderr
    line = stderr_line(stderr, "File too large (the file there is left as it was)")
    assert line.startswith(f"error: cannot write {out}")
    assert files(out) == before  # not a byte changed, and no partial file left beside


def reported(record: dict) -> str:
    return record["test"]["reported_score"]


EDITS = {
    "auroc": lambda r: r["metrics"].update(auroc=0.97),
    "average precision": lambda r: r["metrics"].update(
        average_precision=r["metrics"]["average_precision"] + 0.01
    ),
    "a variant's auroc": lambda r: r["metrics"]["variants"][reported(r)].update(auroc=0.97),
    "interval": lambda r: r["metrics"].update(auroc_ci95=[0.96, 0.98]),
    "a score": lambda r: r["test"]["scores"].__setitem__(0, 1e6),
}


SAID = {
    "auroc": "its metrics.auroc 0.97 is not what its own test labels and scores give",
    "average precision": "its metrics.average_precision",
    "a variant's auroc": "its metrics.variants.score.auroc 0.97 is not what",
    "interval": "its metrics.auroc_ci95 [0.96, 0.98] does not hold the AUROC",
    "a score": "is not what its own test labels and scores give",
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_record_edited_after_its_run_is_refused_by_every_reader(tampered, edit):
    results = tampered
    [path] = (results / "runs" / "synthetic" / "mean-distance").rglob("*seed0*.json")
    record = json.loads(path.read_text())
    EDITS[edit](record)
    path.write_text(json.dumps(record))
    edited = finished(results)
    board = invoke("leaderboard", "--results-dir", results, "--format", "csv")
    assert board.exit_code == 1
    line = said(board, SAID[edit])
    assert line.startswith(f"unreadable record {path}: RecordMismatchError")
    assert "move it out of the results folder" in line
    rows = list(csv.DictReader(io.StringIO(board.stdout)))
    assert [(r["method"], r["seeds"]) for r in rows if r["method"] == "mean-distance"] == [
        ("mean-distance", "1")
    ]  # seed 0 left out, seed 1 kept
    assert ",0.97" not in board.stdout
    show = invoke("show", path)
    assert show.exit_code == 2
    assert error_line(show).startswith(f"error: {path}: its metrics.")
    assert finished(results) == edited  # refused, never rewritten or moved


def test_a_cached_array_changed_in_place_is_made_again(results, tmp_path):
    cache = {"UADBENCH_CACHE_DIR": str(tmp_path / "own-cache")}
    first = invoke(*mean_distance(results, "--seed", "5"), *TINY, env=cache)
    assert first.exit_code == 0, first.output
    [array] = (tmp_path / "own-cache").rglob("images.npy")
    size = array.stat().st_size
    pixels = np.load(array, mmap_mode="r+")
    pixels[:] = 255 - pixels  # the same size, other images
    pixels.flush()
    del pixels
    assert array.stat().st_size == size
    process = uadbench([*mean_distance(results, "--seed", "6"), *TINY], env=cache)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    line = stderr_line(stderr, "changed since it was written")
    assert "its sha256 checksum does not match): it is made again" in line
    aurocs = [
        json.loads(p.read_text())["metrics"]["auroc"]
        for p in sorted((results / "runs").rglob("*seed[56]*.json"))
    ]
    assert aurocs[0] == aurocs[1]  # seed 6 saw the images seed 5 saw, not the changed array


def test_an_image_too_small_to_be_a_radiograph_is_refused_naming_it(results, tmp_path):
    root = fx.folder_tree(tmp_path / "mine", n_train=10)
    Image.new("L", (1, 1), 128).save(root / "test" / "abnormal" / "tiny.png")
    args = ["--image-size", "16", "--dataset", "folder", "--data-root", root]
    refused = invoke(*mean_distance(results), *args)
    assert refused.exit_code == 1, refused.output
    line = said(refused, "tiny.png: it is 1 x 1 pixels, under 8 on a side: no radiograph")
    assert "--skip-unreadable" in line
    skipped = invoke(*mean_distance(results), *args, "--skip-unreadable")
    assert skipped.exit_code == 0, skipped.output
    said(skipped, "1 unreadable image(s) were left out")


def workers_of(pid: int) -> list[int]:
    """The processes ``pid`` forked (children running its own command line)."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            same = (entry / "cmdline").read_bytes() == command
        except OSError:
            continue
        if same and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_kill_9_while_workers_decode_leaves_no_worker_and_a_free_cell(results, tmp_path):
    from uadbench.data.decoding import MIN_PER_WORKER
    from uadbench.workers import default_workers

    if default_workers() < 2:
        pytest.skip("one core: images are decoded without workers")
    many = ["--data-option", f"n_train={2 * MIN_PER_WORKER + 40}"]
    process = start_at("prepare", results, tmp_path, *many)  # held in a worker, decoding
    workers = workers_of(process.pid)
    try:
        assert workers, "no decode worker was started"
        process.kill()
        process.wait()
        deadline = time.time() + 10
        while any(running(w) for w in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(running(w) for w in workers), "a decode worker outlived its run"
        again = invoke(
            *steady(results, 7, *many),
            env={"UADBENCH_CACHE_DIR": str(tmp_path / "own-cache")},
        )
        assert again.exit_code == 0, again.output
        assert "another uadbench process is running this cell" not in again.output
        said(again, "steady on slow-phantoms")
    finally:
        for worker in workers:  # without the fix they hold on for minutes: end them here
            if running(worker):
                os.kill(worker, signal.SIGKILL)
