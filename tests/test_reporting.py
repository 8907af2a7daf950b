"""Leaderboard exports, figures and the report, from tiny real runs."""

import csv
import io
import itertools
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from uadbench import registry
from uadbench.cli import app
from uadbench.outputs.leaderboard import build_leaderboard
from uadbench.running.planning import RunRequest, plan
from uadbench.running.record_store import scan_records
from uadbench.running.runner import execute
from uadbench.running.runtime import cpu_model

from .conftest import TINY_SYNTHETIC, ZHANGLAB_RESULTS, committed_board_rows, markdown_rows

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
    # mean-distance has no randomness: its two seeds are one measurement, with no spread
    assert two_seeds.deterministic and two_seeds.std("auroc") is None
    assert two_seeds.auroc_ci95[0] <= two_seeds.auroc_mean
    one_seed = next(r for r in board.rows if r.n == 1)
    assert one_seed.std("auroc") is None and not one_seed.deterministic
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

    from uadbench.outputs.exports import tex

    text = "a\\b&c%d$e#f_g{h}i~j^k"
    cells = pd.DataFrame([[text]]).style.hide(axis="index").hide(axis="columns")
    tabular = cells.format(escape="latex").to_latex()
    assert tex(text) in tabular and tex("±") == "$\\pm$"


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
    # the deterministic two-seed row's cells are numbers too
    assert re.search(r'<td class="number">[\d.]+ \(deterministic\)</td>', page)
    text = (tmp_path / "rep" / "report.md").read_text()
    for name in ("roc_curves", "auroc_heatmap", "training_curves"):
        assert (tmp_path / "rep" / "figures" / f"{name}.png").is_file()
        assert (tmp_path / "rep" / "figures" / f"{name}.pdf").is_file()
        assert f"figures/{name}.png" in text
    records = list((results / "runs").rglob("*.json"))
    assert all(path.name in text for path in records)  # every run is listed with its record
    assert "<table>" in (tmp_path / "rep" / "report.html").read_text()
    assert "## Protocol" in text and "## Published numbers on splits not run here" in text
    assert f"device cpu: {cpu_model()}," in text  # the machine by its CPU model


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
        r = Row("d", "s", 64, name, "quick", name, None, seeds=[0])
        r.costs["fit_s"], r.costs["score_s"], r.values["auroc"] = [seconds], [0.0], [auroc]
        return r

    rows = [row("fast", 10, 0.70), row("slow-better", 100, 0.90), row("slow-worse", 200, 0.80),
            row("mid", 50, 0.75), row("untimed", 1, 0.99)]  # fmt: skip
    rows[-1].costs["fit_s"] = []
    assert [r.method for r in pareto_front(rows)] == ["fast", "mid", "slow-better"]
    rows[0].costs["score_s"] = [60.0]  # fitting fast, scoring slowly: no longer the fastest
    assert [r.method for r in pareto_front(rows)] == ["mid", "slow-better"]


def test_figures_include_the_cost_view_with_truetype_fonts(tmp_path):
    from uadbench.outputs.figures import plot_all

    results = Path(__file__).resolve().parents[1] / "results" / "zhanglab-quick"
    records = scan_records(results).records
    written = plot_all(build_leaderboard(records), records, tmp_path).files
    assert tmp_path / "cost.png" in written and tmp_path / "cost.pdf" in written
    pdf = (tmp_path / "roc_curves.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType (Type 42), not Type 3


@pytest.fixture(scope="module")
def committed_records():
    return scan_records(ZHANGLAB_RESULTS).records


def test_a_deterministic_row_says_so_in_every_format_and_has_no_seed_spread(committed_records):
    from uadbench.outputs.exports import to_csv, to_json, to_latex, to_markdown

    board = build_leaderboard(committed_records)
    rows = {r.name: r for r in board.rows}
    fixed, trained = rows["imagenet-gaussian"], rows["cutpaste"]
    assert fixed.n == 3 and fixed.deterministic and fixed.std("auroc") is None
    assert not trained.deterministic and trained.std("auroc") > 0
    assert not rows["vae"].deterministic  # one seed is not a deterministic row
    cells = {r[1]: r for r in markdown_rows(to_markdown(board))}
    assert cells["imagenet-gaussian"][4] == f"{100 * fixed.auroc_mean:.1f} (deterministic)"
    assert "±" in cells["cutpaste"][4]
    assert "82.9 (deterministic)" in to_latex(board)
    csv_rows = {r["name"]: r for r in csv.DictReader(io.StringIO(to_csv(board)))}
    assert csv_rows["imagenet-gaussian"]["deterministic"] == "True"
    assert csv_rows["imagenet-gaussian"]["auroc_std"] == ""  # not a measured spread of 0
    assert csv_rows["cutpaste"]["deterministic"] == "False"
    json_rows = {r["name"]: r for r in json.loads(to_json(board))["rows"]}
    assert json_rows["imagenet-gaussian"]["deterministic"] is True
    assert json_rows["imagenet-gaussian"]["auroc_std"] is None


def test_seeds_on_different_cpu_models_mark_the_row_in_every_format(committed_records):
    from rich.console import Console

    from uadbench.outputs.exports import print_table, to_csv, to_json, to_markdown

    xeon = "Intel(R) Xeon(R) Processor"
    epyc = "AMD EPYC 7B13 64-Core Processor"
    records = [
        replace(r, hardware={**r.hardware, "cpu_model": epyc})
        if (r.config.method, r.config.seed, r.changed_params) == ("anatpaste", 2, {})
        else r
        for r in committed_records
    ]
    board = build_leaderboard(records)
    rows = {r.name: r for r in board.rows}
    mixed = rows["anatpaste"]
    assert mixed.cpu_models == {xeon: [0, 1], epyc: [2]}
    assert rows["cutpaste"].cpu_models == {xeon: [0, 1, 2]}
    assert mixed.label == "anatpaste ⚠" and rows["cutpaste"].label == "cutpaste"
    note = f"seeds ran on different CPU models: {xeon} (seeds 0, 1); {epyc} (seed 2)"
    assert note in mixed.warnings[-1]
    assert note in to_markdown(board)
    csv_rows = {r["name"]: r for r in csv.DictReader(io.StringIO(to_csv(board)))}
    assert csv_rows["anatpaste"]["cpu_models"] == f"{xeon}; {epyc}"
    assert note in csv_rows["anatpaste"]["warnings"]
    assert csv_rows["cutpaste"]["cpu_models"] == xeon and csv_rows["cutpaste"]["warnings"] == ""
    json_rows = {r["name"]: r for r in json.loads(to_json(board))["rows"]}
    assert json_rows["anatpaste"]["cpu_models"] == f"{xeon}; {epyc}"
    console = Console(width=200, record=True)
    print_table(board, console)
    text = console.export_text()
    assert "anatpaste ⚠" in text and epyc in text


def test_the_cost_view_times_fitting_and_scoring_and_tells_every_row_apart(
    committed_records, monkeypatch, tmp_path
):
    from uadbench.outputs import cost_plot
    from uadbench.outputs.cost_plot import run_seconds

    shown = []
    monkeypatch.setattr(cost_plot, "save_figure", lambda fig, path: shown.append(fig) or [path])
    board = build_leaderboard(committed_records)
    cost_plot.plot_cost(board, tmp_path)
    [ax] = shown[0].axes
    assert ax.get_xlabel().startswith("mean fit + score time per seed")
    fixed = next(r for r in board.rows if r.name == "imagenet-gaussian")
    fit = [r.timings["fit_s"] for r in fixed.runs]
    score = [r.timings["score_s"] for r in fixed.runs]
    assert np.mean(score) > 10  # scoring is a large share of this method's time
    assert run_seconds(fixed) == pytest.approx(np.mean(fit) + np.mean(score))
    points = ax.collections
    assert len(points) == len(board.rows) == committed_board_rows()
    looks = {(tuple(p.get_facecolor()[0]), p.get_paths()[0].vertices.tobytes()) for p in points}
    assert len(looks) == len(points)  # no two rows drawn alike: colour and marker shape
    xs = sorted(float(p.get_offsets()[0][0]) for p in points)
    assert xs == pytest.approx(sorted(run_seconds(r) for r in board.rows))
    legend = ax.get_legend()
    assert len(legend.get_texts()) == len(points) + 1  # every row and the Pareto front


def test_row_styles_repeat_no_colour_and_shape_pair():
    from uadbench.outputs.plots import row_styles

    styles = row_styles(50)
    assert len(set(styles)) == 50
    assert len({s.colour for s in styles[:10]}) == 10
    assert all(s.colour != t.colour for s, t in itertools.pairwise(styles))


def test_a_one_row_heat_map_keeps_its_label_level_and_its_colour_bar_tall(
    committed_records, monkeypatch, tmp_path
):
    from uadbench.outputs import plots

    shown = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: shown.append(fig) or [path])
    board = build_leaderboard([r for r in committed_records if r.config.method == "ae"])
    plots.plot_auroc_heatmap(board, tmp_path)
    fig = shown[0]
    heat, bar = fig.axes
    [label] = heat.get_yticklabels()
    assert label.get_text() == "ae · 64px" and label.get_rotation() == 0
    assert fig.get_size_inches()[1] >= plots.HEATMAP_MIN_HEIGHT
    assert bar.get_position().height * fig.get_size_inches()[1] >= 2  # inches of colour bar


def test_a_figure_is_drawn_again_only_when_what_drew_it_changed(tmp_path):
    from uadbench.outputs.figures import DRAWN, plot_all

    from .commands import TINY, invoke, mean_distance

    results, figures = tmp_path / "results", tmp_path / "figures"
    assert invoke(*mean_distance(results), "--seeds", "0,1", *TINY).exit_code == 0

    def plotted():
        records = scan_records(results).records
        return plot_all(build_leaderboard(records), records, figures)

    def stamps(paths):
        return {p: p.stat().st_mtime_ns for p in paths}

    first = plotted()
    assert tmp_path / "figures" / "roc_curves.png" in first.files and not first.kept
    second = plotted()  # nothing changed: every figure kept, not one file written
    assert second.files == second.kept == first.files
    assert stamps(second.files) == stamps(first.files)
    assert invoke("plot", "--results-dir", results, "--out", figures).stdout.count("kept ") == len(
        first.files
    )
    record = next((results / "runs").rglob("*seed1*.json"))
    record.write_bytes(record.read_bytes())  # the same bytes, written again: a changed file
    assert not plotted().kept
    (figures / "cost.png").unlink()  # a figure gone is drawn again, the others are kept
    fourth = plotted()
    assert (figures / "cost.png").is_file() and figures / "cost.png" not in fourth.kept
    assert figures / "roc_curves.png" in fourth.kept and (figures / DRAWN).is_file()
    listed = json.loads((figures / DRAWN).read_text())
    damaged = {key: 5 if "roc_curves.png" in names else names for key, names in listed.items()}
    (figures / DRAWN).write_text(json.dumps(damaged))  # an entry damaged: drawn again
    fifth = plotted()
    assert figures / "roc_curves.png" not in fifth.kept and figures / "cost.png" in fifth.kept


def test_seeds_under_different_mkl_settings_mark_the_row(committed_records):
    records = [
        replace(r, hardware={**r.hardware, "mkl_reproducibility": "AUTO"})
        if (r.config.method, r.config.seed, r.changed_params) == ("cutpaste", 1, {})
        else r
        for r in committed_records
    ]
    rows = {r.name: r for r in build_leaderboard(records).rows}
    mixed = rows["cutpaste"]
    assert mixed.mkl_settings == {"not recorded": [0, 2], "AUTO": [1]}
    assert mixed.label == "cutpaste ⚠" and rows["anatpaste"].label == "anatpaste"
    assert (
        "seeds ran under different Intel MKL reproducibility settings (MKL_CBWR): not recorded "
        "(seeds 0, 2); AUTO (seed 1)" in mixed.warnings[-1]
    )
