"""Ranking methods across data sets: Demšar's worked example, ties, missing methods, power."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from uadbench.cli import app
from uadbench.outputs.across_datasets import (
    WRITERS,
    across_datasets,
    plot_critical_difference,
    to_json,
    to_markdown,
)
from uadbench.outputs.leaderboard import Leaderboard, Row
from uadbench.statistics.ranking import rank_methods


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


# Demšar (JMLR 2006), Table 6: AUC of four C4.5 variants on 14 data sets.
DEMSAR = pd.DataFrame(
    [
        [0.763, 0.768, 0.771, 0.798], [0.599, 0.591, 0.590, 0.569], [0.954, 0.971, 0.968, 0.967],
        [0.628, 0.661, 0.654, 0.657], [0.882, 0.888, 0.886, 0.898], [0.936, 0.931, 0.916, 0.931],
        [0.661, 0.668, 0.609, 0.685], [0.583, 0.583, 0.563, 0.625], [0.775, 0.838, 0.866, 0.875],
        [1.000, 1.000, 1.000, 1.000], [0.940, 0.962, 0.965, 0.962], [0.619, 0.666, 0.614, 0.669],
        [0.972, 0.981, 0.975, 0.975], [0.957, 0.978, 0.946, 0.970],
    ],
    columns=["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"],
)  # fmt: skip


def test_demsars_worked_example_gives_his_ranks_and_critical_differences():
    summary = rank_methods(DEMSAR)
    printed = {"C4.5": 3.143, "C4.5+m": 2.000, "C4.5+cf": 2.893, "C4.5+m+cf": 1.964}
    # His ranks come from the unrounded AUCs; of the table's rounded ones, one data set's
    # order differs by a half rank between C4.5+cf and C4.5+m+cf.
    for name, rank in printed.items():
        assert abs(summary.mean_ranks[name] - rank) <= 0.5 / 14 + 1e-3
    assert summary.mean_ranks.round(3).to_dict() == {
        "C4.5+m+cf": 1.929, "C4.5+m": 2.0, "C4.5+cf": 2.929, "C4.5": 3.143,
    }  # fmt: skip
    assert list(summary.mean_ranks.index) == ["C4.5+m+cf", "C4.5+m", "C4.5+cf", "C4.5"]
    assert summary.critical_difference == pytest.approx(1.25, abs=0.005)  # his CD, q = 2.569
    # "even the difference between the best and the worst is smaller than CD"
    assert (summary.nemenyi_p.to_numpy() >= 0.05).all()
    at_ten = rank_methods(DEMSAR, alpha=0.10)
    assert at_ten.critical_difference == pytest.approx(1.12, abs=0.005)
    worse = {
        (a, b) for a in DEMSAR.columns for b in DEMSAR.columns
        if at_ten.nemenyi_p.loc[a, b] < 0.10 and at_ten.mean_ranks[a] < at_ten.mean_ranks[b]
    }  # fmt: skip
    assert worse == {("C4.5+m", "C4.5"), ("C4.5+m+cf", "C4.5")}  # his Figure 1(a)


def test_friedmans_statistic_is_the_tie_corrected_one_computed_by_hand():
    summary = rank_methods(DEMSAR)
    n, k = DEMSAR.shape
    ranks = DEMSAR.rank(axis=1, ascending=False).to_numpy()
    chi2 = 12 / (n * k * (k + 1)) * (ranks.sum(axis=0) ** 2).sum() - 3 * n * (k + 1)
    ties = sum((c**3 - c).sum() for c in (np.unique(r, return_counts=True)[1] for r in ranks))
    chi2 /= 1 - ties / (n * (k**3 - k))
    assert summary.friedman_statistic == pytest.approx(chi2)
    assert summary.friedman_statistic > 9.28  # Demšar's 9.28 leaves the ties uncorrected
    assert summary.friedman_p < 0.05


def test_nemenyi_calls_a_pair_different_exactly_when_its_ranks_are_a_cd_apart():
    summary = rank_methods(DEMSAR)
    for a in DEMSAR.columns:
        for b in DEMSAR.columns:
            if a != b:
                gap = abs(summary.mean_ranks[a] - summary.mean_ranks[b])
                different = summary.nemenyi_p.loc[a, b] < summary.alpha
                assert different == (gap > summary.critical_difference)


def test_ties_share_their_mean_rank_and_a_missing_method_is_left_out_and_named():
    scores = pd.DataFrame(
        {"a": [0.9, 0.8, 0.7], "b": [0.9, 0.6, 0.5], "c": [0.5, 0.6, 0.4], "d": [0.8, None, 0.9]},
        index=["zhanglab", "rsna", "synthetic"],
    )
    summary = rank_methods(scores)
    assert summary.left_out == {"d": ["rsna"]}
    assert list(summary.ranks.columns) == ["a", "b", "c"]
    assert summary.ranks.loc["zhanglab"].tolist() == [1.5, 1.5, 3.0]
    assert summary.ranks.loc["rsna"].tolist() == [1.0, 2.5, 2.5]
    assert summary.mean_ranks.round(3).to_dict() == {"a": 1.167, "b": 2.0, "c": 2.833}


def test_the_power_note_says_how_little_three_data_sets_can_tell():
    scores = pd.DataFrame(np.arange(12).reshape(3, 4), columns=list("abcd"))
    summary = rank_methods(scores)
    q = 2.569  # Demšar's Table 5, k = 4
    assert summary.critical_difference == pytest.approx(q * math.sqrt(4 * 5 / 18), abs=0.005)
    note = summary.power_note()
    assert "3 data sets, 4 methods" in note and "not as evidence" in note
    assert f"{summary.critical_difference:.2f}" in note


@pytest.mark.parametrize(
    ("shape", "why"), [((1, 4), "needs at least two"), ((3, 2), "needs at least three")]
)
def test_too_few_data_sets_or_methods_rank_without_tests_and_say_why(shape, why):
    scores = pd.DataFrame(np.random.default_rng(0).random(shape))
    summary = rank_methods(scores)
    assert summary.friedman_p is None and summary.nemenyi_p is None
    assert why in summary.power_note()


def test_every_method_tied_everywhere_is_no_evidence_of_a_difference():
    summary = rank_methods(pd.DataFrame(np.ones((3, 4)), columns=list("abcd")))
    assert summary.friedman_p == 1.0
    assert (summary.mean_ranks == 2.5).all()


def _row(dataset, method, auroc, split="uadbench-v1", fingerprint="f", **changes):
    row = Row(dataset, split, 64, method, "quick", "", None, seeds=[0], changes=changes)
    row.values["auroc"] = [auroc]
    row.fingerprint = fingerprint
    return row


def test_the_board_across_data_sets_ranks_names_found_everywhere_and_names_the_rest():
    board = Leaderboard(
        [
            _row("zhanglab", "anatpaste", 0.84), _row("zhanglab", "cutpaste", 0.84),
            _row("zhanglab", "ae", 0.58), _row("zhanglab", "vae", 0.60),
            _row("rsna", "anatpaste", 0.70, split="uadbench-v1-available-d711b5e3"),
            _row("rsna", "cutpaste", 0.75, split="uadbench-v1-available-d711b5e3"),
            _row("rsna", "ae", 0.60, split="uadbench-v1-available-d711b5e3"),
            _row("rsna", "anatpaste", 0.72, split="uadbench-v1-available-d711b5e3", mask="x"),
        ],
        [],
    )  # fmt: skip
    summary = across_datasets(board)
    assert summary.left_out == {"vae": ["rsna"], "anatpaste [mask=x]": ["zhanglab"]}
    assert summary.ranks.loc["zhanglab"].to_dict() == {"anatpaste": 1.5, "cutpaste": 1.5, "ae": 3}
    assert summary.mean_ranks.to_dict() == {"cutpaste": 1.25, "anatpaste": 1.75, "ae": 3.0}
    text = to_markdown(summary)
    assert "Left out, not measured on every set of test images: vae (no rsna)" in text
    assert "anatpaste [mask=x] (no zhanglab)" in text and "2 data sets, 3 methods" in text
    for writer in WRITERS.values():
        assert "cutpaste" in writer(summary)
    assert json.loads(to_json(summary))["methods"][0]["rank rsna"] == 1.0


def test_rows_of_one_name_on_one_set_are_told_apart_never_one_dropped():
    older, newer = _row("zhanglab", "x", 0.5), _row("zhanglab", "x", 0.9)
    older.settings, newer.settings = {"method_version": 1}, {"method_version": 2}
    board = Leaderboard([older, newer, _row("rsna", "x", 0.7), _row("zhanglab", "y", 0.6),
                         _row("rsna", "y", 0.6), _row("zhanglab", "z", 0.7),
                         _row("rsna", "z", 0.8)], [])  # fmt: skip
    summary = across_datasets(board)
    assert set(summary.left_out) == {"x (method_version=1)", "x (method_version=2)", "x"}
    assert list(summary.ranks.columns) == ["y", "z"]


def test_two_splits_of_one_data_set_are_two_sets_of_test_images_named_by_split():
    board = Leaderboard(
        [_row("rsna", m, a, split=s) for s in ("uadbench-v1", "medad")
         for m, a in (("ae", 0.6), ("vae", 0.7), ("cutpaste", 0.8))],
        [],
    )  # fmt: skip
    summary = across_datasets(board)
    assert list(summary.ranks.index) == ["rsna (uadbench-v1)", "rsna (medad)"]
    assert across_datasets(Leaderboard(board.rows[:3], [])) is None  # one set: nothing to rank


def test_the_critical_difference_diagram_is_drawn_when_the_tests_ran(tmp_path):
    written = plot_critical_difference(rank_methods(DEMSAR), tmp_path)
    assert sorted(p.suffix for p in written) == [".pdf", ".png"]
    assert plot_critical_difference(rank_methods(DEMSAR.iloc[:1]), tmp_path / "none") == []


COMMITTED = Path(__file__).resolve().parents[1] / "results"


def test_leaderboard_report_and_board_rank_across_the_committed_folders(tmp_path):
    """ZhangLab and the phantoms share the four anatomy rows: ranked in every output, the
    rest of the ZhangLab rows named as left out."""
    folders = ["--results-dir", COMMITTED / "zhanglab-quick", "--results-dir"]
    folders.append(COMMITTED / "anatomy" / "synthetic")
    shown = invoke("leaderboard", *folders, "--across-datasets", "--format", "markdown")
    assert shown.exit_code == 0, shown.output
    assert re.search(r"\| mean rank +\| synthetic +\| zhanglab +\|", shown.stdout)
    assert "2 data sets, 4 methods" in shown.stdout and "ae (no synthetic)" in shown.stdout
    for name in ("anatpaste", "anatpaste [mask=lung-field]", "cutpaste"):
        assert f"| {name} " in shown.stdout
    made = invoke("report", *folders, "--out", tmp_path / "report")
    assert made.exit_code == 0, made.output
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Across data sets" in text and "Friedman's test over 2 sets and 4 methods" in text
    assert (tmp_path / "report" / "figures" / "critical_difference.png").is_file()
    page = invoke("board", *folders, "--out", tmp_path / "site")
    assert page.exit_code == 0, page.output
    html = (tmp_path / "site" / "index.html").read_text()
    assert '<section id="across">' in html and "critical-difference diagram" in html
    one = invoke("leaderboard", "--results-dir", COMMITTED / "zhanglab-quick", "--across-datasets")
    assert one.exit_code == 2 and "fewer than two sets of test images" in one.stderr
