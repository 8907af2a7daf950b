"""The index of a results folder: a copy of its records that boards read fast, never the truth."""

import json
import os
import shutil
from pathlib import Path

import pytest

from uadbench.outputs.leaderboard import build_leaderboard
from uadbench.running import record_store as records_module
from uadbench.running.record_index import INDEX_NAME
from uadbench.running.record_store import read_record, scan_records, write_record

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "zhanglab-quick"


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A copy of the committed ZhangLab records (no index)."""
    copy = tmp_path / "results"
    shutil.copytree(COMMITTED / "runs", copy / "runs")
    return copy


def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The record files read from disk (not from the index) from now on."""
    read: list[Path] = []

    def reading(path: Path):
        read.append(path)
        return read_record(path)

    monkeypatch.setattr(records_module, "read_record", reading)
    return read


def test_a_second_scan_reads_no_file_and_gives_the_same_board(results, monkeypatch):
    first = scan_records(results)
    assert (results / INDEX_NAME).is_file()
    read = counted_reads(monkeypatch)
    second = scan_records(results)
    assert read == []
    for a, b in zip(first.records, second.records, strict=True):
        assert a.to_json() == b.to_json()  # both without score variants: the board's view
        assert (b.partial and not b.test) or b.test.score_variants == {}
    full = {r.path: read_record(r.path) for r in first.records}
    for r in second.records:
        stored = full[r.path].to_json()
        stored.get("test", {}).pop("score_variants", None)
        mine = r.to_json()
        mine.get("test", {}).pop("score_variants", None)
        assert mine == stored  # everything but the variants is the file's, to the bit
    assert build_leaderboard(first.records).rows[0].auroc_ci95 == (
        build_leaderboard(second.records, second.memo).rows[0].auroc_ci95
    )


def test_a_file_changed_since_it_was_indexed_is_read_and_checked_again(results, monkeypatch):
    scan_records(results)
    path = next((results / "runs").rglob("*.json"))
    data = json.loads(path.read_text())
    data["metrics"]["auroc"] = 0.97  # edited by hand, the time set back
    stat = path.stat()
    path.write_text(json.dumps(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    read = counted_reads(monkeypatch)
    found = scan_records(results)
    assert read == [path]
    [bad] = found.unreadable
    assert bad.path == path and "not what its own test labels and scores give" in bad.reason


def test_a_file_gone_leaves_the_index_and_a_new_one_enters_it(results, monkeypatch):
    before = scan_records(results)
    gone, *_ = sorted((results / "runs").rglob("*.json"))
    moved = gone.with_name("copy-" + gone.name)
    shutil.move(gone, moved)
    read = counted_reads(monkeypatch)
    after = scan_records(results)
    assert read == [moved] and len(after.records) == len(before.records)
    assert gone not in {r.path for r in after.records}


@pytest.mark.parametrize("damage", ["garbage", "read-only folder"])
def test_an_index_that_cannot_be_used_is_passed_by(results, damage):
    expected = [r.to_json() for r in scan_records(results).records]
    if damage == "garbage":
        (results / INDEX_NAME).write_bytes(b"not a database" * 100)
    else:
        (results / INDEX_NAME).unlink()
        for extra in results.glob(f"{INDEX_NAME}*"):
            extra.unlink()
        results.chmod(0o555)
    try:
        again = scan_records(results)
    finally:
        results.chmod(0o755)
    assert [r.to_json() for r in again.records] == expected and not again.unreadable


def test_a_record_read_without_its_variants_is_never_written_back(results, tmp_path):
    scan_records(results)
    [record, *_] = scan_records(results).records
    assert record.partial
    with pytest.raises(ValueError, match="without its score variants"):
        write_record(tmp_path / "copy.json", record)
