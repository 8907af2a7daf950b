"""Every command uadbench prints for copying runs as printed: from another folder, with nothing
added, for a plugin method on a real data set's folder (``show``, the web board, the report,
``rerun``, and the commands error messages suggest)."""

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from uadbench.cli import app

from . import release_fixtures as fx

cli = CliRunner()


def invoke(*args: object):
    return cli.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def recorded(tmp_path, plugin_file, monkeypatch):
    """Two seeds of the mean-distance plugin on a ``folder`` data set, run from one folder with
    relative paths; the test then works from another folder."""
    start = tmp_path / "start"
    fx.folder_tree(start / "data" / "folder")
    monkeypatch.chdir(start)
    ran = invoke("run", "--plugin", plugin_file, "--method", "mean-distance", "--dataset",
                 "folder", "--data-root", "data", "--seeds", "0,1", "--image-size", "24",
                 "--results-dir", "results")  # fmt: skip
    assert ran.exit_code == 0, ran.output
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return start / "results"


def records(results: Path) -> dict[Path, dict]:
    return {p: json.loads(p.read_text()) for p in sorted((results / "runs").rglob("*.json"))}


def runs_again_as_printed(line: str, results: Path) -> None:
    """Move the records away, run ``line`` verbatim: the same cells come back, same scores."""
    before = records(results)
    shutil.move(results / "runs", results.parent / "moved-runs")
    command = shlex.split(line)
    assert command[:2] == ["uadbench", "run"]
    ran = invoke(*command[1:])
    assert ran.exit_code == 0, ran.output
    after = records(results)
    assert after and set(after) <= set(before)  # the same record files
    for path, record in after.items():
        assert record["test"]["scores"] == before[path]["test"]["scores"]
    shutil.rmtree(results / "runs")
    shutil.move(results.parent / "moved-runs", results / "runs")


def test_show_prints_a_command_that_runs_as_printed(recorded):
    shown = invoke("show", "mean-distance/folder/1", "--results-dir", recorded)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())  # the terminal folds long lines
    assert "data folder:" in text and str(recorded.parent / "data" / "folder") in text
    assert "plugins:" in text
    [line] = re.findall(r"reproduce: (uadbench run .*?--results-dir \S+)", text)
    assert "--plugin" in line and "--data-root" in line and "--seed 1" in line
    runs_again_as_printed(line, recorded)


def test_the_web_board_and_the_report_print_commands_that_run_as_printed(recorded, tmp_path):
    board = invoke("board", "--results-dir", recorded, "--out", tmp_path / "site")
    assert board.exit_code == 0, board.output
    page = (tmp_path / "site" / "index.html").read_text()
    data = re.search(r'<script type="application/json" id="board-details">(.*?)</script>', page,
                     re.S)[1]  # fmt: skip
    [line] = {row["command"] for row in json.loads(data)["rows"]}
    assert "--seeds 0,1" in line
    runs_again_as_printed(line, recorded)
    report = invoke("report", "--results-dir", recorded, "--out", tmp_path / "report")
    assert report.exit_code == 0, report.output
    text = (tmp_path / "report" / "report.md").read_text()
    [line] = re.findall(r"`(uadbench run [^`]*)`", text)
    assert line == shlex.join(shlex.split(line))
    runs_again_as_printed(line, recorded)


def test_rerun_takes_the_data_folder_and_plugin_from_the_record(recorded, tmp_path):
    [first, _] = records(recorded)
    again = invoke("rerun", first, "--results-dir", tmp_path / "again")
    assert again.exit_code == 0, again.output
    [copy] = records(tmp_path / "again")
    assert json.loads(copy.read_text())["test"] == json.loads(first.read_text())["test"]
    said = " ".join(again.stderr.split())
    assert "recorded on:" in said and "now on:" in said  # both CPU models beside both AUROCs
    moved = tmp_path / "moved-data"
    shutil.copytree(recorded.parent / "data", moved)
    elsewhere = invoke("rerun", first, "--results-dir", tmp_path / "third", "--data-root", moved)
    assert elsewhere.exit_code == 0, elsewhere.output  # --data-root overrides the record's


def test_the_commands_error_messages_suggest_run(recorded, plugin_file):
    wrong = invoke("run", "--plugin", plugin_file, "--method", "mean-distance", "--seed", "0-1",
                   "--dataset", "synthetic")  # fmt: skip
    assert wrong.exit_code == 2
    [suggested] = re.findall(r"use --seeds \(e\.g\. (--seeds \S+)\)", wrong.stderr)
    assert suggested == "--seeds 0-1"
    base = ["run", "--plugin", plugin_file, "--method", "mean-distance", "--image-size", "24"]
    base += ["--data-option", "n_train=12", "--data-option", "n_test_normal=4"]
    base += ["--data-option", "n_test_abnormal=4", "--data-option", "n_val=2"]
    assert invoke(*base, *shlex.split(suggested)).exit_code == 0
    again = invoke(*base, "--seed", "0")
    assert "--force runs it again" in again.stderr
    assert invoke(*base, "--seed", "0", "--force").exit_code == 0
    listed = invoke("datasets", "--data-root", "nowhere")
    [hint] = re.findall(r"`(uadbench datasets NAME)`", listed.stdout)
    named = invoke(*shlex.split(hint.replace("NAME", "zhanglab"))[1:], "--data-root", "nowhere")
    assert named.exit_code == 0 and "Download it from" in named.stdout


def test_a_record_kept_outside_a_results_folder_is_shown_and_rerun_into_a_named_one(
    recorded, tmp_path
):
    [first, _] = records(recorded)
    loose = tmp_path / "loose.json"
    shutil.copy(first, loose)
    shown = invoke("show", loose)
    assert shown.exit_code == 0, shown.output
    assert "--results-dir" not in " ".join(shown.stdout.split())  # none to name
    refused = invoke("rerun", loose)
    assert refused.exit_code == 2 and "say where the new record goes with --results-dir" in (
        " ".join(refused.stderr.split())
    )
    again = invoke("rerun", loose, "--results-dir", tmp_path / "again")
    assert again.exit_code == 0, again.output
