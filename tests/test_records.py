"""Run records on disk: atomic writes, telling a live run from a killed one, checks of what a
record holds, and the lock of a cell."""

import os
import sys

import numpy as np
import pytest

from uadbench.atomic import write_atomically
from uadbench.processes import process_info
from uadbench.running.record_store import scan_records, write_record
from uadbench.running.run_record import RunConfig, RunRecord

LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


CONFIG = RunConfig(
    method="ae",
    profile="quick",
    params={"image_size": 32},
    dataset="synthetic",
    dataset_options={},
    split_version="v1",
    seed=0,
    label_use=None,
    skip_unreadable=False,
)


def status_seen(tmp_path, process: dict) -> str:
    path = tmp_path / "runs" / "synthetic" / "ae" / "quick-32px-seed0-abc.json"
    write_record(path, RunRecord("running", CONFIG, "2026-01-01T00:00:00+00:00", process=process))
    written = path.read_bytes()
    found = scan_records(tmp_path)
    assert not found.unreadable
    [record] = found.records
    assert record.status == "running" and path.read_bytes() == written  # computed, not written
    return record.state


def test_a_running_record_of_this_process_is_running(tmp_path):
    assert status_seen(tmp_path, process_info()) == "running"


def test_a_running_record_of_a_dead_pid_is_interrupted(tmp_path):
    assert status_seen(tmp_path, {**process_info(), "pid": 2**22 + 1}) == "interrupted"


@pytest.mark.parametrize("pid", [None, 0, -1, "12"])
def test_a_running_record_without_a_usable_pid_is_interrupted(tmp_path, pid):
    # 0 and -1 would signal a whole process group and look alive
    assert status_seen(tmp_path, {**process_info(), "pid": pid}) == "interrupted"


def test_a_reused_pid_is_not_taken_for_the_run(tmp_path):
    # the pid is alive (it is ours), but the process it names started at another time
    started = process_info()["started"]
    assert status_seen(tmp_path, {**process_info(), "started": started - 3600}) == "interrupted"


@LINUX
def test_records_made_before_2026_12_tell_a_reused_pid_by_their_clock_ticks(tmp_path):
    import psutil

    ticks = round((psutil.Process().create_time() - psutil.boot_time()) * os.sysconf("SC_CLK_TCK"))
    legacy = {"pid": os.getpid(), "host": process_info()["host"], "boot": "b", "start": str(ticks)}
    assert status_seen(tmp_path, legacy) == "running"
    assert status_seen(tmp_path, {**legacy, "start": str(ticks - 10_000)}) == "interrupted"


def test_records_without_start_time_fall_back_to_the_pid(tmp_path):
    legacy = {key: value for key, value in process_info().items() if key in ("pid", "host")}
    assert status_seen(tmp_path, legacy) == "running"


def test_a_failed_atomic_write_leaves_the_old_file_and_no_debris(tmp_path):
    path = tmp_path / "extras" / "mask.npy"
    write_atomically(path, lambda handle: np.save(handle, np.arange(3)))

    def broken(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, broken)
    assert np.load(path).tolist() == [0, 1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["mask.npy"]


# -- issue 27: outputs written whole, records checked against their own scores, cell locks --


def test_an_output_refused_half_way_keeps_the_old_file_and_says_so(tmp_path):
    import errno

    from uadbench.atomic import write_output
    from uadbench.errors import OutputPathError

    page = write_output(tmp_path / "site" / "index.html", "<p>the board</p>")

    def full_disk(handle):
        handle.write(b"<p>half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputPathError, match=r"index.html: No space left on device \(the file"):
        write_output(page, full_disk)
    assert page.read_text() == "<p>the board</p>"
    assert [p.name for p in page.parent.iterdir()] == ["index.html"]


def test_a_records_metrics_are_recomputed_as_scikit_learn_computes_them():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from uadbench.running.run_record import METRIC_TOLERANCE
    from uadbench.statistics.metrics import ranked_metrics

    rng = np.random.default_rng(0)
    for trial in range(200):
        labels = rng.permutation(np.r_[0, 1, rng.integers(0, 2, rng.integers(0, 300))])
        levels = rng.integers(1, 12)  # few distinct values: many ties
        scores = (
            rng.integers(0, levels, (3, len(labels)))
            if trial % 2
            else rng.normal(size=(3, len(labels)))
        )
        aurocs, precisions = ranked_metrics(labels, scores.astype(float))
        for row, auroc, precision in zip(scores, aurocs, precisions, strict=True):
            assert abs(auroc - roc_auc_score(labels, row)) < METRIC_TOLERANCE / 1000
            assert abs(precision - average_precision_score(labels, row)) < METRIC_TOLERANCE / 1000


def test_every_metric_a_run_stores_is_checked_when_its_record_is_read():
    from uadbench.running.run_record import CHECKED_METRICS
    from uadbench.statistics.metrics import METRICS

    image = {m.name for m in METRICS if not m.at_threshold and not m.localisation}
    assert image == set(CHECKED_METRICS)
