"""Claims on a cell that hold across machines sharing one file system: two hosts are simulated
by the host name each process records (``processes.this_host``)."""

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from uadbench import processes
from uadbench.running import claims
from uadbench.running.claims import CellBusyError, CellTakenOverWarning, claim, claim_path

RECORD = Path("runs") / "synthetic" / "ae" / "quick-32px-seed0-abc.json"


@pytest.fixture
def record(tmp_path: Path) -> Path:
    path = tmp_path / RECORD
    path.parent.mkdir(parents=True)
    return path


@contextmanager
def on_host(monkeypatch: pytest.MonkeyPatch, name: str):
    """This process, as if it ran on the machine ``name``."""
    with monkeypatch.context() as patch:
        patch.setattr(processes, "this_host", lambda: name)
        patch.setattr(claims, "this_host", lambda: name)
        yield


def aged(path: Path, seconds: float) -> None:
    """Set the claim's heartbeat ``seconds`` into the past."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_claim_names_its_owner_and_is_gone_after_the_block(record, monkeypatch):
    with on_host(monkeypatch, "node-a"), claim(record):
        owner = json.loads(claim_path(record).read_text())
        assert owner["host"] == "node-a" and owner["pid"] == os.getpid() and owner["token"]
    assert not claim_path(record).exists()


def test_a_live_claim_of_another_host_is_busy_there(record, monkeypatch):
    with on_host(monkeypatch, "node-a"), claim(record):
        busy = pytest.raises(CellBusyError, match=r"pid .* on node-a")
        with on_host(monkeypatch, "node-b"), busy, claim(record):
            pass
        assert claim_path(record).exists()  # node-a's claim stands


def test_a_claim_whose_heartbeat_stopped_is_taken_over_by_another_host(record, monkeypatch):
    with on_host(monkeypatch, "node-a"):
        path = claim_path(record)
        path.write_text(json.dumps({**processes.process_info(), "token": "a"}))
    aged(path, claims.STALE_AFTER_S - 5)
    with on_host(monkeypatch, "node-b"), pytest.raises(CellBusyError), claim(record):
        pass  # not yet: a heartbeat may still come
    aged(path, claims.STALE_AFTER_S + 5)
    taken = "was held by uadbench process pid .* on node-a, which has ended"
    warned = pytest.warns(CellTakenOverWarning, match=taken)
    with on_host(monkeypatch, "node-b"), warned, claim(record):
        assert json.loads(path.read_text())["host"] == "node-b"


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over_at_once(record, monkeypatch):
    path = claim_path(record)
    path.write_text(json.dumps({**processes.process_info(), "pid": 2**22 + 1, "token": "x"}))
    with pytest.warns(CellTakenOverWarning), claim(record):
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_a_killed_owner_whose_forked_workers_live_on_holds_nothing(record):
    """A run killed with kill -9 while its children still run: its claim's owner is dead."""
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from uadbench.running.claims import claim\n"
        "with claim(Path(sys.argv[1])):\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    print('claimed', flush=True)\n"
        "    time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", code, str(record)], stdout=subprocess.PIPE)
    try:
        assert owner.stdout.readline() == b"claimed\n"
        with pytest.raises(CellBusyError), claim(record):  # its owner lives
            pass
        owner.kill()
        owner.wait()
        with pytest.warns(CellTakenOverWarning), claim(record):  # its worker lives on
            pass
    finally:
        owner.kill()
        subprocess.run(["pkill", "-f", str(record)], check=False)


def test_the_heartbeat_keeps_a_long_claim_fresh(record):
    with claim(record, heartbeat_s=0.05):
        path = claim_path(record)
        aged(path, 1000)
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 1


def test_an_owner_whose_claim_was_taken_over_does_not_remove_the_new_one(record, monkeypatch):
    with on_host(monkeypatch, "node-a"), claim(record):
        path = claim_path(record)
        aged(path, claims.STALE_AFTER_S + 5)  # node-a stalls (a network partition)
        with on_host(monkeypatch, "node-b"), pytest.warns(CellTakenOverWarning):
            claims._acquire(path, record)  # node-b holds the cell now
    assert json.loads(path.read_text())["host"] == "node-b"  # node-a's release left it alone


def test_two_hosts_taking_over_one_stale_claim_at_once_make_one_owner(record, monkeypatch):
    """The takers' race: both saw the stale claim; whoever removes it second finds it gone or
    already someone's, so exactly one creates the new claim."""
    path = claim_path(record)
    stale = {"pid": 1, "host": "node-gone", "token": "old", "started": 0}
    path.write_text(json.dumps(stale))
    aged(path, claims.STALE_AFTER_S + 5)
    with on_host(monkeypatch, "node-a"), pytest.warns(CellTakenOverWarning):
        claims._take_over(path, stale, record)  # node-a removes it ...
        claims._create(path, {**processes.process_info(), "token": "a"})  # ... and claims
    with on_host(monkeypatch, "node-b"):
        claims._take_over(path, stale, record)  # node-b, late, finds another owner: no change
        with pytest.raises(CellBusyError, match=r"pid .* on node-a"):
            claims._acquire(path, record)


def test_a_claim_file_that_cannot_be_read_once_keeps_the_heartbeat(record):
    """A read that fails (a network file system's hiccup) is no sign of a takeover."""
    with claim(record, heartbeat_s=0.05) as held:
        path = claim_path(record)
        kept = path.read_text()
        path.write_text("{not json")  # read fails for a moment
        assert held.ours()
        path.write_text(kept)
        aged(path, 1000)
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 1  # still beating


def test_a_run_whose_cell_was_taken_over_while_it_worked_writes_nothing_there(
    tmp_path, monkeypatch
):
    from uadbench.running.record_store import UNSAVED_FOLDERS, RecordStore
    from uadbench.running.run_record import RunConfig, RunRecord

    monkeypatch.setattr("uadbench.running.record_store.UNSAVED_FOLDERS", (tmp_path / "kept",))
    config = RunConfig("ae", "quick", {"image_size": 32}, "synthetic", {}, "v1", 0, None, False)
    cell = RecordStore(tmp_path / "results").cell(config)

    def work(record):
        owner = {"pid": 1, "host": "node-b", "token": "b", "started": 0}
        claim_path(cell.path).write_text(json.dumps(owner))  # node-b took the cell over

    record = RunRecord("running", config, "2026-12-06T00:00:00+00:00", process={"pid": 1})
    outcome = cell.run(record, ("f",), work)
    assert outcome.status == "failed" and "taken over by another process" in outcome.message
    assert json.loads(cell.path.read_text())["status"] == "running"  # the new owner's to finish
    assert json.loads(claim_path(cell.path).read_text())["host"] == "node-b"  # left alone
    [kept] = (tmp_path / "kept").iterdir()
    assert UNSAVED_FOLDERS and json.loads(kept.read_text())["status"] == "ok"


def test_a_running_record_of_another_host_runs_while_its_claim_beats(record, monkeypatch):
    from uadbench.running.record_store import scan_records, write_record
    from uadbench.running.run_record import RunConfig, RunRecord

    config = RunConfig("ae", "quick", {"image_size": 32}, "synthetic", {}, "v1", 0, None, False)
    owner = {"pid": 4321, "host": "node-b", "started": 1.0}
    write_record(record, RunRecord("running", config, "2026-12-06T00:00:00+00:00", process=owner))
    results = record.parents[3]
    [seen] = scan_records(results).records
    assert seen.state == "interrupted"  # no claim: nobody runs it
    claim_path(record).write_text(json.dumps({**owner, "token": "b"}))
    assert seen.state == "running"  # node-b's claim beats
    aged(claim_path(record), claims.STALE_AFTER_S + 5)
    assert seen.state == "interrupted"  # its heartbeat stopped
