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


def test_what_a_board_derives_from_scores_is_kept_and_shown_unchanged(results, monkeypatch):
    """Per-seed metrics, intervals, p-values and the rows' figure data come from the index the
    second time, to the bit what they are computed as."""
    from uadbench.outputs import leaderboard, plots, web_figures

    def figures(board):
        return [web_figures.row_figures(row, board.memo) for row in board.rows]

    def shown(board):
        return [(r.values, r.auroc_ci95, r.p_value, r.p_holm) for r in board.rows]

    fresh = build_leaderboard(scan_records(results).records)  # nothing kept: computed now
    expected = shown(fresh), figures(fresh)
    found = scan_records(results)
    kept_first = build_leaderboard(found.records, found.memo)
    assert (shown(kept_first), figures(kept_first)) == expected

    def never(*args, **kwargs):
        raise AssertionError("computed again")

    for module, name in ((leaderboard, "seed_values"), (leaderboard, "compare"),
                         (leaderboard, "auroc_interval"), (plots, "roc_band"),
                         (web_figures, "score_densities")):  # fmt: skip
        monkeypatch.setattr(module, name, never)
    found = scan_records(results)
    kept = build_leaderboard(found.records, found.memo)
    assert (shown(kept), figures(kept)) == expected
    assert any(r.p_value is not None for r in kept.rows)


def test_a_value_is_kept_under_what_it_was_computed_from(results):
    found = scan_records(results)
    assert found.memo("kind", [b"scores"], lambda: 1) == 1
    assert found.memo("kind", [b"scores"], lambda: 2) == 1
    assert found.memo("kind", [b"other scores"], lambda: 3) == 3
    assert found.memo("another kind", [b"scores"], lambda: 4) == 4


def test_a_forked_worker_keeps_values_through_a_connection_of_its_own(results):
    """SQLite forbids using a connection made before a fork: a worker opens its own, and what it
    keeps is there for the parent."""
    from uadbench.workers import called_in_workers

    found = scan_records(results)
    found.memo("opened here", [b"."], lambda: 0)  # the parent's connection exists
    parents = found._index._db

    def in_worker(i: int) -> tuple[int, bool]:
        pid = found.memo("in a worker", [bytes([i])], os.getpid)
        return pid, found._index._db is parents

    made = called_in_workers([lambda i=i: in_worker(i) for i in range(2)], workers=2)
    assert os.getpid() not in {pid for pid, _ in made}
    assert not any(inherited for _, inherited in made)
    kept = [found.memo("in a worker", [bytes([i])], lambda: -1) for i in range(2)]
    assert kept == [pid for pid, _ in made]


def test_records_read_are_out_of_the_collectors_passes_until_the_command_ends(results):
    import gc

    from .commands import invoke

    scan_records(results)  # builds the index
    gc.unfreeze()
    scan_records(results)
    assert gc.get_freeze_count() > 0  # read from the index: frozen
    gc.unfreeze()
    assert invoke("leaderboard", "--results-dir", results).exit_code == 0
    assert gc.get_freeze_count() == 0  # the command handed them back


def test_a_record_holding_nan_is_read_from_the_index_as_from_its_file(results, monkeypatch):
    path = next((results / "runs" / "zhanglab" / "ae").glob("*seed0*.json"))
    data = json.loads(path.read_text())
    data["history"]["loss"]["value"][0] = float("nan")  # a training step's loss was NaN
    path.write_text(json.dumps(data))
    first = {r.path: r for r in scan_records(results).records}
    read = counted_reads(monkeypatch)
    second = {r.path: r for r in scan_records(results).records}
    assert read == []  # from the index, which keeps NaN as json.dumps writes it
    value = second[path].history["loss"]["value"][0]
    assert (
        value != value
        and first[path].history["loss"]["value"][1:] == (second[path].history["loss"]["value"][1:])
    )
