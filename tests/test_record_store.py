"""The record store: one home for a record file's life, walked through once per run."""

import inspect
import sys
from collections import Counter
from pathlib import Path

from uadbench import registry
from uadbench.running.planning import RunRequest, plan
from uadbench.running.record_store import RecordStore
from uadbench.running.runner import execute

from .conftest import PLUGINS, TINY_SYNTHETIC

RUNNING = Path(__file__).resolve().parents[1] / "uadbench" / "running"
LIFE = ("planning.py", "runner.py", "record_store.py", "claims.py")
"""The modules a run's record lives through: planned, run, kept, claimed."""


def entries(call: object) -> Counter:
    """How often control passes into each module of ``uadbench/running/`` from outside it
    while ``call()`` runs: a Python function of the module called from another file (frames
    of generated code, such as a dataclass's ``__init__``, are looked through; a generator
    resumed, as a ``with`` block's end resumes its context manager, is the same entry)."""
    counted: Counter = Counter()
    started: set[int] = set()

    def profile(frame, event, arg):
        if event != "call" or not frame.f_code.co_filename.startswith(str(RUNNING)):
            return
        if frame.f_code.co_flags & inspect.CO_GENERATOR:
            if id(frame) in started:
                return
            started.add(id(frame))
        caller = frame.f_back
        while caller is not None and caller.f_code.co_filename.startswith("<"):
            caller = caller.f_back
        if caller is None or caller.f_code.co_filename != frame.f_code.co_filename:
            counted[Path(frame.f_code.co_filename).name] += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return counted


def test_one_run_enters_each_module_of_its_records_life_at_most_twice(tmp_path):
    registry.load_plugins([str(PLUGINS / "mean_distance.py")])
    request = RunRequest(
        method="mean-distance",
        dataset="synthetic",
        data_options=TINY_SYNTHETIC,
        image_size=16,
        results_dir=tmp_path / "results",
    )
    done = []
    counted = entries(lambda: done.extend(execute(r, tmp_path / "cache") for r in plan(request)))
    assert [o.status for o in done] == ["ok"]
    assert {name: counted[name] for name in LIFE} == {
        "planning.py": 1,  # plan
        "runner.py": 2,  # execute, and the work the cell calls back
        "record_store.py": 2,  # place (at planning), Cell.run
        "claims.py": 2,  # the claim (its block), and whether it is still this run's
    }


def test_the_store_names_cells_and_reads_its_records_back(tmp_path):
    registry.load_plugins([str(PLUGINS / "mean_distance.py")])
    request = RunRequest(
        method="mean-distance",
        dataset="synthetic",
        seeds=(0, 1),
        data_options=TINY_SYNTHETIC,
        image_size=16,
        results_dir=tmp_path / "results",
    )
    runs = plan(request)
    store = RecordStore(tmp_path / "results")
    assert [store.cell(r.config) for r in runs] == [r.cell for r in runs]
    assert [execute(r, tmp_path / "cache").status for r in runs] == ["ok", "ok"]
    found = store.records()
    assert sorted(r.path for r in found.records) == sorted(r.path for r in runs)
    again = [execute(r, tmp_path / "cache").status for r in runs]
    assert again == ["skipped", "skipped"]
