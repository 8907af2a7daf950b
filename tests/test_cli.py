import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from uadbench.cli import app
from uadbench.running.planning import parse_seeds

from .conftest import TINY_SYNTHETIC, markdown_rows

cli = CliRunner()
TINY = [arg for key, value in TINY_SYNTHETIC.items() for arg in ("--data-option", f"{key}={value}")]


def invoke(*args: str):
    return cli.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("run", "leaderboard", "plot", "methods", "datasets"):
        assert command in result.output


def test_an_outside_plugin_is_listed_run_and_ranked(tmp_path, plugin_file):
    listing = invoke("methods", "--plugin", plugin_file)
    assert "mean-distance" in listing.output and "ae" in listing.output
    results = tmp_path / "results"
    ran = invoke(
        "run",
        "--plugin",
        plugin_file,
        "--method",
        "mean-distance",
        "--seeds",
        "0,1",
        "--results-dir",
        results,
        *TINY,
    )
    assert ran.exit_code == 0, ran.output
    board = invoke("leaderboard", "--results-dir", results, "--format", "csv")
    assert board.exit_code == 0
    header, row = board.output.strip().splitlines()
    fields = dict(zip(header.split(","), row.split(","), strict=True))
    assert fields["method"] == "mean-distance" and fields["n_seeds"] == "2"
    assert 0 <= float(fields["auroc_mean"]) <= 1


def test_plot_writes_both_figures(tmp_path, plugin_file):
    results = tmp_path / "results"
    invoke(
        "run", "--plugin", plugin_file, "--method", "mean-distance", "--results-dir", results, *TINY
    )
    result = invoke("plot", "--results-dir", results)
    assert result.exit_code == 0, result.output
    for name in ("roc_curves.png", "auroc_heatmap.png"):
        png = results / "figures" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plot_without_runs_says_so(tmp_path):
    result = invoke("plot", "--results-dir", tmp_path)
    assert result.exit_code == 2 and "no finished runs" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "nope"], "unknown method 'nope'; valid methods: ae"),
        (["--dataset", "nope"], "unknown data set 'nope'; valid data sets:"),
        (["--image-size", "0"], "positive number of pixels"),
        (["--image-size", "-64"], "positive number of pixels"),
        (["--seeds", ""], "--seeds is empty"),
        (["--seeds", "a,b"], "--seeds wants seeds"),
        (["--param", "epochs"], "--param wants key=value"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (
            ["--plugin", "no_such_module_here"],
            "plugin no_such_module_here failed to import: ModuleNotFoundError",
        ),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_2(tmp_path, args, message):
    result = invoke("run", "--results-dir", tmp_path / "r", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "r" / "runs").exists()


def test_an_unwritable_results_dir_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    result = invoke("run", "--results-dir", tmp_path / "file" / "sub", *TINY)
    assert result.exit_code == 2 and "cannot write run records" in result.output


def test_a_failed_run_exits_non_zero_and_is_listed(tmp_path):
    plugin = tmp_path / "fails.py"
    plugin.write_text(
        "from dataclasses import dataclass\nfrom uadbench import Method\n"
        "@dataclass(frozen=True)\nclass P:\n    image_size: int = 16\n"
        "class Fails(Method):\n    '''Always fails.'''\n    name = 'fails'\n    Params = P\n"
        "    profiles = {'quick': P()}\n"
        "    def fit(self, train, val=None):\n        raise MemoryError('too big')\n"
        "    def score(self, images):\n        return images\n"
    )
    results = tmp_path / "results"
    result = invoke("run", "--plugin", plugin, "--method", "fails", "--results-dir", results, *TINY)
    assert result.exit_code == 1
    assert "FAILED" in result.output and "MemoryError: too big" in result.output
    board = invoke("leaderboard", "--results-dir", results, "--format", "markdown")
    assert "Runs that did not finish" in board.output and ["fails", "0", "failed"] in [
        r[1:4] for r in markdown_rows(board.output)
    ]


def test_corrupt_records_are_named_and_exit_non_zero(tmp_path, plugin_file):
    results = tmp_path / "results"
    invoke(
        "run", "--plugin", plugin_file, "--method", "mean-distance", "--results-dir", results, *TINY
    )
    bad = results / "runs" / "synthetic" / "junk.json"
    bad.write_text('{"schema": "uadbench.run/1", "stat')
    result = invoke("leaderboard", "--results-dir", results, "--format", "csv")
    assert result.exit_code == 1
    assert "mean-distance" in result.output and "junk.json" in result.output


def test_seed_lists():
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]


def test_datasets_lists_synthetic_with_counts():
    result = invoke("datasets")
    assert result.exit_code == 0
    assert "synthetic" in result.output and "generated in memory" in result.output
    assert "800" in result.output  # default training count


def test_kill_9_during_a_run_leaves_readable_results(tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uadbench",
            "run",
            "--results-dir",
            str(results),
            *TINY,
            "--param",
            "epochs=200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.time() + 60
    records: list[Path] = []
    while time.time() < deadline and not records:
        records = list((results / "runs").rglob("*.json"))
        time.sleep(0.2)
    time.sleep(1.0)
    assert process.poll() is None, "the run ended before it could be killed"
    live = invoke("leaderboard", "--results-dir", results, "--format", "markdown")
    assert ["ae", "0", "running", "still running"] in [r[1:5] for r in markdown_rows(live.output)]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert json.loads(records[0].read_text())["status"] == "running"
    result = invoke("leaderboard", "--results-dir", results, "--format", "markdown")
    assert result.exit_code == 0, result.output
    rows = [r[1:5] for r in markdown_rows(result.output)]
    assert ["ae", "0", "interrupted", "no error recorded (killed?)"] in rows


@pytest.mark.parametrize(
    "args",
    [["--help"], ["methods"], ["datasets"], ["leaderboard", "--format", "csv"]],
)
def test_listing_commands_import_no_torch(tmp_path, args):
    # what keeps them fast (results/benchmarks/command_speed.md): no timing here
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom uadbench.cli import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('torch', 'sklearn', 'anomalib', 'pandas') if m in sys.modules))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    imported = shown.stdout.strip().splitlines()[-1]
    assert "torch" not in imported and "sklearn" not in imported and "anomalib" not in imported


def test_methods_name_shows_every_parameter_in_every_profile():
    from uadbench import registry
    from uadbench.contracts.param_docs import parameters

    result = CliRunner().invoke(app, ["methods", "anatpaste"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    cls = registry.methods.get("anatpaste")
    found = parameters(cls)
    assert [p.name for p in found] == [f.name for f in dataclasses.fields(cls.Params)]
    for p in found:
        assert p.name in result.stdout
        assert set(p.values) == {"quick", "paper"}
        assert p.values["paper"] == getattr(cls.profiles["paper"], p.name)
    assert "65536" in result.stdout and "Optimiser steps of pretext training." in result.stdout


def test_methods_describe_by_the_first_paragraph_in_plain_text():
    from uadbench import registry

    described = registry.methods.get("imagenet-gaussian").describe()
    assert described.endswith("or summed per-level Mahalanobis.")  # not cut at a line's end
    listing = CliRunner().invoke(app, ["methods"], env={"COLUMNS": "250"})
    assert listing.exit_code == 0, listing.output
    assert "summed per-level Mahalanobis." in listing.stdout
    cells = [line.split("│") for line in listing.stdout.splitlines() if line.count("│") > 4]
    maps = {c[1].strip(): c[3].strip() for c in cells if c[1].strip()}
    assert maps["ae"] == maps["anomalib-patchcore"] == "yes"
    assert maps["anomalib-ganomaly"] == "-"  # anomalib's GANomaly gives no map
    shown = CliRunner().invoke(app, ["methods", "anatpaste"], env={"COLUMNS": "250"})
    assert "``" not in shown.stdout  # reStructuredText literals read as plain words
    assert "random (none) or ImageNet" in shown.stdout


def test_methods_params_lists_every_method():
    from uadbench import registry

    result = CliRunner().invoke(app, ["methods", "--params"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in registry.methods.names():
        assert f"{name}: " in result.stdout


def test_show_prints_a_run_and_a_command_that_reproduces_its_cell(tmp_path, plugin_file):
    import shlex

    results = tmp_path / "results"
    common = ["--plugin", plugin_file, "--results-dir", results]
    ran = invoke("run", *common, "--method", "mean-distance", "--seed", "3", "--param", "power=2",
                 "--image-size", "24", *TINY)  # fmt: skip
    assert ran.exit_code == 0, ran.output
    shown = invoke("show", "mean-distance/synthetic/3", "--results-dir", results)
    assert shown.exit_code == 0, shown.output
    assert "status: ok" in shown.stdout and "AUROC" in shown.stdout
    [line] = [x for x in shown.stdout.splitlines() if "reproduce:" in x]
    command = shlex.split(line.split("reproduce:", 1)[1])
    assert command[:2] == ["uadbench", "run"] and "--param" in command and "power=2.0" in command
    again = invoke(*command[1:], *common)
    assert again.exit_code == 0 and "already recorded" in again.stderr  # the very same cell


def test_show_names_what_it_cannot_find(tmp_path):
    shown = invoke("show", "ae/synthetic/0", "--results-dir", tmp_path)
    assert shown.exit_code == 2 and "no record of ae/synthetic/0" in shown.stderr


def test_rerun_reproduces_a_run_from_its_record(tmp_path, plugin_file):
    first, second = tmp_path / "first", tmp_path / "second"
    ran = invoke("run", "--plugin", plugin_file, "--results-dir", first, "--method",
                 "mean-distance", "--param", "power=2", "--image-size", "24", *TINY)  # fmt: skip
    assert ran.exit_code == 0, ran.output
    [record] = (first / "runs").rglob("*.json")
    again = invoke("rerun", record, "--plugin", plugin_file, "--results-dir", second)
    assert again.exit_code == 0, again.output
    [copy] = (second / "runs").rglob("*.json")
    assert copy.relative_to(second) == record.relative_to(first)  # the same cell
    old, new = json.loads(record.read_text()), json.loads(copy.read_text())
    assert new["test"]["scores"] == old["test"]["scores"]
    assert "AUROC" in again.stderr and "recorded" in again.stderr
    same_place = invoke("rerun", record, "--plugin", plugin_file)
    assert same_place.exit_code == 0 and "already recorded" in same_place.stderr


def test_the_eta_stays_when_one_step_takes_longer_than_a_minute():
    from uadbench.contracts.progress import rich_bars

    now = [0.0]
    bars = rich_bars(clock=lambda: now[0])
    task = bars.add_task("epochs", total=10, info="")
    for _ in range(3):
        now[0] += 120.0  # one epoch: two minutes
        bars.update(task, advance=1)
    remaining = bars.tasks[0].time_remaining
    assert remaining is not None and abs(remaining - 7 * 120) < 1


def test_a_cells_bars_join_the_sweep_bar_and_leave_with_the_cell():
    from uadbench.contracts.progress import RichProgress, rich_bars

    sweep = rich_bars()
    sweep.add_task("sweep", total=3, info="")
    with RichProgress(into=sweep).task("epochs", 5) as bar:
        bar.advance(2, loss=0.5)
        assert [t.description for t in sweep.tasks] == ["sweep", "epochs"]
        assert sweep.tasks[1].completed == 2 and "loss 0.5" in sweep.tasks[1].fields["info"]
    assert [t.description for t in sweep.tasks] == ["sweep"]


def test_run_from_a_config_file_is_the_same_cell_as_its_options(tmp_path, plugin_file):
    results = tmp_path / "results"
    options = "".join(f'{k} = "{v}"\n' for k, v in TINY_SYNTHETIC.items())
    run_file = tmp_path / "run.toml"
    run_file.write_text(
        'method = "mean-distance"\ndataset = "synthetic"\nseed = 2\nimage_size = 24\n'
        f'results_dir = "{results}"\n[params]\npower = 2\n[data_options]\n{options}'
    )
    from_file = invoke("run", "--plugin", plugin_file, "--config", run_file)
    assert from_file.exit_code == 0, from_file.output
    [record] = (results / "runs").rglob("*.json")
    config = json.loads(record.read_text())["config"]
    assert config["seed"] == 2 and config["params"]["power"] == 2.0
    as_options = invoke("run", "--plugin", plugin_file, "--results-dir", results, "--method",
                        "mean-distance", "--seed", "2", "--image-size", "24", "--param",
                        "power=2", *TINY)  # fmt: skip
    assert "already recorded" in as_options.stderr  # the same cell
    other_seed = invoke("run", "--plugin", plugin_file, "--config", run_file, "--seed", "5")
    assert other_seed.exit_code == 0
    files = (results / "runs").rglob("*.json")
    seeds = {json.loads(p.read_text())["config"]["seed"] for p in files}
    assert seeds == {2, 5}


def test_run_and_sweep_override_a_file_by_one_rule(tmp_path, plugin_file):
    """A value given on the command line replaces the file's; a --param or --data-option pair
    replaces that one key of the file's table, the others standing: the same for a run file
    and a grid file."""
    options = "".join(f'{k} = "{v}"\n' for k, v in TINY_SYNTHETIC.items())
    tables = f"[params]\npower = 3\n[params.mean-distance]\npower = 4\n[data_options]\n{options}"
    keys = {
        "run": 'method = "mean-distance"\nseed = 2\ndataset = "synthetic"\nimage_size = 24\n',
        "sweep": 'methods = ["mean-distance"]\nseeds = [2]\ndatasets = ["synthetic"]\n'
        "image_sizes = [24]\n",
    }
    for command, named in keys.items():
        results = tmp_path / command
        file = tmp_path / f"{command}.toml"
        file.write_text(named + tables)
        flag = ["--config"] if command == "run" else []
        done = invoke(command, *flag, file, "--plugin", plugin_file, "--results-dir", results,
                      "--param", "power=2", "--data-option", "n_val=4")  # fmt: skip
        assert done.exit_code == 0, done.output
        [record] = (results / "runs").rglob("*.json")
        config = json.loads(record.read_text())["config"]
        assert config["params"]["power"] == 2.0, command  # over the file's, the method's too
        assert config["dataset_options"]["n_val"] == 4, command
        assert config["dataset_options"]["n_train"] == int(TINY_SYNTHETIC["n_train"]), command


def test_a_run_file_with_two_methods_says_to_sweep(tmp_path):
    run_file = tmp_path / "run.toml"
    run_file.write_text('methods = ["ae", "vae"]\ndataset = "synthetic"\n')
    result = invoke("run", "--config", run_file)
    assert result.exit_code == 2 and "uadbench sweep" in result.stderr


def completions(words: str) -> list[str]:
    """What the shell completion offers after ``words`` (bash)."""
    env = {"_UADBENCH_COMPLETE": "complete_bash", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(len(words.split()) - (not words.endswith(" ")))
    result = cli.invoke(app, [], env=env, prog_name="uadbench")
    return result.output.split()


def test_choices_from_their_tables_are_in_help_and_completion():
    from uadbench.outputs.formats import FORMATS
    from uadbench.running.executors import EXECUTORS

    assert completions("uadbench sweep --executor ") == list(EXECUTORS)
    assert completions("uadbench leaderboard --format ") == list(FORMATS)
    assert completions("uadbench leaderboard --format m") == ["markdown"]
    assert "<local|ray|slurm>" in invoke("sweep", "--help").output
    from uadbench import registry

    anatpaste = sorted(registry.methods.get("anatpaste").profile_table())
    assert completions("uadbench run --method anatpaste --profile ") == anatpaste
    assert completions("uadbench run --method nope --profile ") == []
