"""Leaderboard exports, figures and the report, from tiny real runs."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from uadbench import registry
from uadbench.cli import app
from uadbench.outputs.leaderboard import build_leaderboard
from uadbench.running.planning import RunRequest, plan
from uadbench.running.records import scan_records
from uadbench.running.runner import execute

from .conftest import TINY_SYNTHETIC, committed_board_rows, markdown_rows

cli = CliRunner()


@pytest.fixture
def results(tmp_path, plugin_file):
    """mean-distance with two seeds and two parameter settings, and a second split version."""
    registry.load_plugin(str(plugin_file))
    for params, seeds, options in (
        ({}, (0, 1), TINY_SYNTHETIC),
        ({"power": "2"}, (0,), TINY_SYNTHETIC),
        ({}, (0,), {**TINY_SYNTHETIC, "data_seed": "5"}),
    ):
        request = RunRequest(
            method="mean-distance",
            dataset="synthetic",
            seeds=seeds,
            params=params,
            data_options=options,
            device="cpu",
            results_dir=tmp_path / "results",
        )
        for planned in plan(request):
            assert execute(planned, tmp_path / "cache").status == "ok"
    return tmp_path / "results"


def test_rows_stats_and_comparisons(results):
    records = scan_records(results).records
    board = build_leaderboard(records)
    assert len(board.rows) == 3
    versions = {row.split_version for row in board.rows}
    assert len(versions) == 2  # split versions are never pooled
    two_seeds = next(r for r in board.rows if r.n == 2)
    assert two_seeds.std("auroc") is not None and two_seeds.auroc_ci95[0] <= two_seeds.auroc_mean
    one_seed = next(r for r in board.rows if r.n == 1)
    assert one_seed.std("auroc") is None
    same_test = [r for r in board.rows if r.split_version == two_seeds.split_version]
    assert {r.verdict for r in same_test} <= {"best", "not worse", "worse"}
    assert sum(r.verdict == "best" for r in same_test) == 1
    assert all(0 <= r.mean("specificity") <= 1 for r in board.rows)  # threshold from val normals


def test_every_export_format(results):
    for fmt in ("csv", "markdown", "latex", "json"):
        result = cli.invoke(app, ["leaderboard", "--results-dir", str(results), "--format", fmt])
        assert result.exit_code == 0, result.output
    data = json.loads(
        cli.invoke(app, ["leaderboard", "--results-dir", str(results), "--format", "json"]).output
    )
    assert len(data["rows"]) == 3 and len(data["rows"][0]["per_seed"]["auroc"]) >= 1
    markdown = cli.invoke(
        app, ["leaderboard", "--results-dir", str(results), "--format", "markdown"]
    ).output
    assert "(one seed)" in markdown  # one seed: no standard deviation printed
    # a changed parameter is in the row's name
    names = [row[1] for row in markdown_rows(markdown)]
    assert "mean-distance" in names and "mean-distance [power=2.0]" in names
    latex = cli.invoke(
        app, ["leaderboard", "--results-dir", str(results), "--format", "latex"]
    ).output
    assert latex.count("\\begin{tabular}") == 2 and "\\pm" in latex


def test_latex_captions_escape_as_pandas_escapes_the_cells():
    import pandas as pd

    from uadbench.outputs.exports import _tex

    text = "a\\b&c%d$e#f_g{h}i~j^k"
    cells = pd.DataFrame([[text]]).style.hide(axis="index").hide(axis="columns")
    tabular = cells.format(escape="latex").to_latex()
    assert _tex(text) in tabular and _tex("±") == "$\\pm$"


@pytest.mark.parametrize("width", [80, 200])
def test_terminal_table_keeps_names_and_settings_readable(results, width):
    from rich.console import Console

    from uadbench.outputs.exports import print_table

    console = Console(width=width, record=True)
    print_table(build_leaderboard(scan_records(results).records), console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "mean-distance" in text and "[power=2.0]" in text
    assert ("AP %" in text) == (width == 200)


def test_report_with_figures_traces_every_run(results, tmp_path):
    result = cli.invoke(
        app,
        ["report", "--results-dir", str(results), "--out", str(tmp_path / "rep"), "--title", "T&1"],
    )
    assert result.exit_code == 0, result.output
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<title>T&amp;1</title>" in page
    assert 'src="figures/' not in page and page.count("data:image/png;base64,") >= 3  # one file
    assert 'href="' not in page  # no link that a moved page would break
    assert '<td class="number">' in page
    text = (tmp_path / "rep" / "report.md").read_text()
    for name in ("roc_curves", "auroc_heatmap", "training_curves"):
        assert (tmp_path / "rep" / "figures" / f"{name}.png").is_file()
        assert (tmp_path / "rep" / "figures" / f"{name}.pdf").is_file()
        assert f"figures/{name}.png" in text
    records = list((results / "runs").rglob("*.json"))
    assert all(path.name in text for path in records)  # every run is listed with its record
    assert "<table>" in (tmp_path / "rep" / "report.html").read_text()
    assert "## Protocol" in text and "## Published numbers on splits not run here" in text


def test_empty_results_are_said_so(tmp_path):
    board = cli.invoke(app, ["leaderboard", "--results-dir", str(tmp_path)])
    assert board.exit_code == 0 and "no run records" in board.output
    report = cli.invoke(app, ["report", "--results-dir", str(tmp_path)])
    assert report.exit_code == 2 and "no run records" in report.output


def test_published_numbers_only_beside_the_same_split():
    from uadbench.outputs.published import published_for

    assert published_for("zhanglab", "official", "cutpaste").auroc == 73.9
    assert published_for("zhanglab", "uadbench-v1", "cutpaste") is None
    assert published_for("zhanglab", "anatpaste-paper", "anatpaste").auroc == 92.1


def test_the_pandas_entry_points_give_the_board_and_the_records():
    import io

    import pandas as pd

    import uadbench
    from uadbench.outputs.exports import to_csv

    results = Path(__file__).resolve().parents[1] / "results" / "zhanglab-quick"
    frame = uadbench.load_leaderboard(results)
    exported = pd.read_csv(io.StringIO(to_csv(build_leaderboard(scan_records(results).records))))
    assert list(frame.columns) == list(exported.columns)
    assert len(frame) == len(exported) == committed_board_rows() > 10
    assert frame["auroc_mean"].tolist() == exported["auroc_mean"].tolist()
    records = uadbench.load_records(results)
    assert len(records) == len(list((results / "runs").rglob("*.json")))
    assert set(records["state"]) == {"ok"} and records["auroc"].between(0, 1).all()


def test_the_pareto_front_keeps_only_rows_no_other_beats_on_time_and_auroc():
    from uadbench.outputs.cost_plot import pareto_front
    from uadbench.outputs.leaderboard import Row

    def row(name, seconds, auroc):
        r = Row("d", "s", 64, name, "quick", name, None)
        r.costs["fit_s"], r.values["auroc"] = [seconds], [auroc]
        return r

    rows = [row("fast", 10, 0.70), row("slow-better", 100, 0.90), row("slow-worse", 200, 0.80),
            row("mid", 50, 0.75), row("untimed", 1, 0.99)]  # fmt: skip
    rows[-1].costs["fit_s"] = []
    assert [r.method for r in pareto_front(rows)] == ["fast", "mid", "slow-better"]


def test_figures_include_the_cost_view_with_truetype_fonts(tmp_path):
    from uadbench.outputs.plots import plot_all

    results = Path(__file__).resolve().parents[1] / "results" / "zhanglab-quick"
    records = scan_records(results).records
    written = plot_all(build_leaderboard(records), records, tmp_path)
    assert tmp_path / "cost.png" in written and tmp_path / "cost.pdf" in written
    pdf = (tmp_path / "roc_curves.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType (Type 42), not Type 3


def test_mlflow_export_round_trips_through_a_real_local_store(tmp_path):
    from mlflow.tracking import MlflowClient

    results = Path(__file__).resolve().parents[1] / "results" / "zhanglab-quick"
    store = tmp_path / "mlruns"
    first = cli.invoke(app, ["export", "mlflow", "--results-dir", str(results),
                             "--tracking-uri", str(store)])  # fmt: skip
    assert first.exit_code == 0, first.output
    records = scan_records(results).records
    client = MlflowClient(store.resolve().as_uri())
    experiment = client.get_experiment_by_name("uadbench")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert len(runs) == len(records)
    by_path = {run.data.tags["uadbench.record"]: run for run in runs}
    for record in records:
        run = by_path[str(record.path)]
        assert run.data.metrics["auroc"] == record.metrics["auroc"]
        assert run.data.params["seed"] == str(record.config.seed)
        assert run.data.params["method"] == record.config.method
    artifact = client.download_artifacts(runs[0].info.run_id, "test_scores.json", str(tmp_path))
    assert len(json.loads(Path(artifact).read_text())["scores"]) == 624
    again = cli.invoke(app, ["export", "mlflow", "--results-dir", str(results),
                             "--tracking-uri", str(store)])  # fmt: skip
    assert f"{len(records)} were there already" in again.stderr
    assert len(client.search_runs([experiment.experiment_id], max_results=1000)) == len(records)
