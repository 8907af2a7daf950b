import json
import os
from pathlib import Path

import numpy as np
import pytest

from uadbench import registry
from uadbench.running.planning import RunRequest, plan
from uadbench.running.record_store import ResultsDirError, scan_records
from uadbench.running.runner import execute

from .conftest import TINY_SYNTHETIC

BROKEN_METHODS = '''
from dataclasses import dataclass
import numpy as np
from uadbench import Method


@dataclass(frozen=True)
class P:
    image_size: int = 16


class Exploding(Method):
    """Raises in fit."""
    name = "exploding"
    Params = P
    profiles = {"quick": P()}
    def fit(self, train, val=None):
        raise RuntimeError("out of ideas")
    def score(self, images):
        return np.zeros(len(images))


class Diverging(Method):
    """Its loss becomes NaN at step 3."""
    name = "diverging"
    Params = P
    profiles = {"quick": P()}
    def fit(self, train, val=None):
        for step, loss in enumerate([1.0, 0.5, 0.7, float("nan")]):
            self.context.history.record(step, loss=loss)
        return self
    def score(self, images):
        return np.zeros(len(images))


class NanScores(Method):
    """Returns NaN scores."""
    name = "nan-scores"
    Params = P
    profiles = {"quick": P()}
    def fit(self, train, val=None):
        return self
    def score(self, images):
        return np.full(len(images), np.nan)


class Exiting(Method):
    """Exits with status 0 mid-fit, as Lightning does on SIGTERM."""
    name = "exiting"
    Params = P
    profiles = {"quick": P()}
    def fit(self, train, val=None):
        raise SystemExit
    def score(self, images):
        return np.zeros(len(images))


class Constant(Method):
    """Gives every image the same score."""
    name = "constant"
    Params = P
    profiles = {"quick": P()}
    def fit(self, train, val=None):
        return self
    def score(self, images):
        return np.ones(len(images))
'''


@pytest.fixture
def broken_plugin(tmp_path: Path) -> Path:
    path = tmp_path / "broken_methods.py"
    path.write_text(BROKEN_METHODS)
    registry.load_plugin(str(path))
    return path


def request(tmp_path: Path, method: str = "mean-distance", **changes) -> RunRequest:
    values = dict(
        method=method,
        dataset="synthetic",
        seeds=(0,),
        data_options=TINY_SYNTHETIC,
        results_dir=tmp_path / "results",
        device="cpu",
    )
    values.update(changes)
    return RunRequest(**values)


def run_all(req: RunRequest, tmp_path: Path, force: bool = False):
    return [execute(run, tmp_path / "cache", force=force) for run in plan(req)]


def test_a_run_writes_a_complete_record_and_is_skipped_the_second_time(tmp_path, plugin_file):
    registry.load_plugin(str(plugin_file))
    [outcome] = run_all(request(tmp_path), tmp_path)
    assert outcome.status == "ok"
    record = json.loads(outcome.path.read_text())
    assert record["status"] == "ok" and record["config"]["seed"] == 0
    assert record["config"]["params"] == {"image_size": 32, "power": 1.0}
    assert record["config"]["split_version"].startswith("phantom-v")
    assert len(record["test"]["scores"]) == len(record["test"]["ids"]) == 24
    assert len(record["val"]["scores"]) == 8
    assert set(record["timings"]) >= {"prepare_s", "fit_s", "score_s", "wall_s"}
    assert record["timings"]["peak_memory_mb"] > 50  # this process holds numpy and torch
    assert record["hardware"]["cpu_model"]
    if (Path(__file__).resolve().parents[1] / ".git").exists():  # a checkout: its commit
        assert len(record["code"]["commit"]) == 40
        assert isinstance(record["code"]["uncommitted_changes"], bool)
    assert record["versions"]["numpy"] == np.__version__
    assert record["hardware"]["device"] == "cpu"
    assert record["history"]["loss"] == {"step": [0], "value": [1.0], "unit": "step"}
    low, high = record["metrics"]["auroc_ci95"]
    assert low <= record["metrics"]["auroc"] <= high
    umask = os.umask(0)
    os.umask(umask)
    assert outcome.path.stat().st_mode & 0o777 == 0o666 & ~umask  # not owner-only

    [again] = run_all(request(tmp_path), tmp_path)
    assert again.status == "skipped" and again.path == outcome.path
    [forced] = run_all(request(tmp_path), tmp_path, force=True)
    assert forced.status == "ok"


def test_each_seed_and_each_parameter_change_is_its_own_record(tmp_path, plugin_file):
    registry.load_plugin(str(plugin_file))
    outcomes = run_all(request(tmp_path, seeds=(0, 1)), tmp_path)
    outcomes += run_all(request(tmp_path, params={"power": "2"}), tmp_path)
    assert len({o.path for o in outcomes}) == 3


def test_a_failing_method_leaves_a_failure_record(tmp_path, broken_plugin):
    [outcome] = run_all(request(tmp_path, "exploding"), tmp_path)
    assert outcome.status == "failed"
    record = json.loads(outcome.path.read_text())
    assert record["error"]["message"] == "RuntimeError: out of ideas"
    assert "Traceback" in record["error"]["traceback"]
    records = scan_records(tmp_path / "results").records
    assert [r.status for r in records] == ["failed"]


def test_a_run_stopped_by_an_exit_is_failed_and_exits_non_zero(tmp_path, broken_plugin):
    with pytest.raises(SystemExit) as stop:
        run_all(request(tmp_path, "exiting"), tmp_path)
    assert stop.value.code not in (None, 0)
    records = scan_records(tmp_path / "results").records
    assert [r.status for r in records] == ["failed"]
    assert "stopped before the end" in records[0].error.message


def test_a_nan_loss_stops_the_run_naming_the_step(tmp_path, broken_plugin):
    [outcome] = run_all(request(tmp_path, "diverging"), tmp_path)
    assert outcome.status == "failed"
    assert "loss became nan at step 3" in outcome.record.error.message
    assert outcome.record.history["loss"]["value"] == [1.0, 0.5, 0.7]


def test_nan_scores_fail_rather_than_give_a_number(tmp_path, broken_plugin):
    [outcome] = run_all(request(tmp_path, "nan-scores"), tmp_path)
    assert outcome.status == "failed"
    assert "24 non-finite value(s) among 24 test images" in outcome.record.error.message


def test_constant_scores_are_flagged(tmp_path, broken_plugin):
    [outcome] = run_all(request(tmp_path, "constant"), tmp_path)
    assert outcome.status == "ok" and outcome.record.metrics["auroc"] == 0.5
    assert "same score" in outcome.record.warnings[0]


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"seeds": ()}, ValueError, "no seeds"),
        ({"image_size": 0}, ValueError, "positive number of pixels"),
        ({"image_size": -3}, ValueError, "positive number of pixels"),
        ({"profile": "huge"}, ValueError, "no profile 'huge'"),
        ({"params": {"nope": "1"}}, ValueError, "unknown parameter 'nope'"),
        ({"data_options": {"n_trian": "3"}}, ValueError, "unknown parameter 'n_trian'"),
    ],
)
def test_bad_requests_fail_before_any_work(tmp_path, plugin_file, changes, error, message):
    registry.load_plugin(str(plugin_file))
    with pytest.raises(error, match=message):
        plan(request(tmp_path, **changes))
    assert not (tmp_path / "results" / "runs").exists()


def test_an_unwritable_results_dir_fails_before_any_work(tmp_path, plugin_file):
    registry.load_plugin(str(plugin_file))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ResultsDirError, match="cannot write run records in"):
        plan(request(tmp_path, results_dir=blocker / "results"))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux resets the peak")
def test_a_runs_peak_memory_is_its_own_not_that_of_earlier_work_in_the_process():
    import resource

    from uadbench.running.runtime import PeakMemory

    held = np.ones(2**30 // 8)  # 1 GiB, touched, then given back
    del held
    process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    run_peak = PeakMemory().timings()["peak_memory_mb"]
    assert 50 < run_peak < process_peak - 512


def test_only_changes_of_the_code_make_a_checkout_uncommitted(tmp_path):
    import subprocess

    from uadbench.running.runtime import uncommitted_code

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    for name in ("methods/ae.py", "results/zhanglab/COMMANDS.md", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    (tmp_path / "results/zhanglab/COMMANDS.md").write_text("2\n")
    (tmp_path / "results/zhanglab/run.json").write_text("{}\n")
    (tmp_path / "README.md").write_text("2\n")
    assert not uncommitted_code(tmp_path)
    (tmp_path / "methods/mine.py").write_text("1\n")  # a new method file is a change of code
    assert uncommitted_code(tmp_path)
    (tmp_path / "methods/mine.py").unlink()
    (tmp_path / "methods/ae.py").write_text("2\n")
    assert uncommitted_code(tmp_path)
