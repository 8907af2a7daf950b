"""Run records on disk: atomic writes, and telling a live run from a killed one."""

import sys

import numpy as np
import pytest

from uadbench.atomic import write_atomically
from uadbench.processes import process_info
from uadbench.running.records import scan_records, write_record
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


@LINUX
@pytest.mark.parametrize("key", ["start", "boot"])
def test_a_reused_pid_or_an_earlier_boot_is_not_taken_for_the_run(tmp_path, key):
    # the pid is alive (it is ours), but it was started at another time or before a reboot
    assert status_seen(tmp_path, {**process_info(), key: "another"}) == "interrupted"


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
