"""The web board: one self-contained page, checked as a file and driven in a real browser."""

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from uadbench import registry
from uadbench.cli import app
from uadbench.running.planning import RunRequest, plan
from uadbench.running.runner import execute

from .conftest import TINY_SYNTHETIC, committed_board_rows

cli = CliRunner()
ZHANGLAB = Path(__file__).resolve().parents[1] / "results" / "zhanglab-quick" / "runs"


@pytest.fixture
def site(tmp_path, plugin_file) -> Path:
    """The board of the committed ZhangLab records and two seeds of a tiny synthetic run."""
    results = tmp_path / "results"
    shutil.copytree(ZHANGLAB, results / "runs")
    registry.load_plugin(str(plugin_file))
    request = RunRequest(
        method="mean-distance", dataset="synthetic", seeds=(0, 1), data_options=TINY_SYNTHETIC,
        device="cpu", results_dir=results,
    )  # fmt: skip
    for planned in plan(request):
        assert execute(planned, tmp_path / "cache").status == "ok"
    out = tmp_path / "site"
    made = cli.invoke(
        app, ["board", "--results-dir", str(results), "--out", str(out), "--title", "A & B"]
    )
    assert made.exit_code == 0, made.output
    return out / "index.html"


def test_the_page_needs_no_network_and_names_its_title(site):
    page = site.read_text(encoding="utf-8")
    assert "<title>A &amp; B</title>" in page
    outside_scripts = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", outside_scripts)
    assert not re.search(r"""<script[^>]+src=""", page)  # every script is inline
    assert "anatpaste" in page and "mean-distance" in page
    # it states its rows, its page length and its own size
    stated = re.search(r"(\d+) rows, 25 a page to start\s+with; this page is ([\d.]+) MB", page)
    assert stated and int(stated[1]) == committed_board_rows() + 1
    assert abs(float(stated[2]) - site.stat().st_size / 1e6) <= 0.05


def test_a_board_of_no_finished_runs_is_refused_in_one_line(tmp_path):
    result = cli.invoke(app, ["board", "--results-dir", str(tmp_path), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no finished runs" in result.output


def _cells(page, column: int) -> list[str]:
    return page.eval_on_selector_all(
        "#board tbody tr", f"rows => rows.map(r => r.cells[{column}].textContent)"
    )


@pytest.mark.browser
def test_in_a_browser_sort_filter_and_open_a_row(site, chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors, requests = [], []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(site.as_uri())
        page.wait_for_function("window.uadbenchBoard && window.uadbenchBoard.ready")
        headers = page.eval_on_selector_all("#board thead th", "h => h.map(x => x.textContent)")
        auroc, dataset, method, seeds = (
            headers.index(n) for n in ("AUROC %", "data set", "method", "seeds")
        )
        # the committed ZhangLab board's rows and the synthetic one
        assert page.evaluate("uadbenchBoard.table.rows().count()") == committed_board_rows() + 1

        header = page.locator("#board thead th").nth(auroc)
        # the header's aria-sort can change before the rows are redrawn: wait for each draw
        page.evaluate("window.draws = 0; uadbenchBoard.table.on('draw', () => window.draws++)")
        while header.get_attribute("aria-sort") != "descending":
            drawn = page.evaluate("window.draws")
            header.click()
            page.wait_for_function(f"window.draws > {drawn}")
        values = [float(v) for v in _cells(page, auroc)]
        assert values == sorted(values, reverse=True) and values[0] > values[-1]

        page.locator(".dtsp-searchPane").first.get_by_text("synthetic", exact=True).click()
        page.wait_for_function("document.querySelectorAll('#board tbody tr').length === 1")
        assert _cells(page, dataset) == ["synthetic"]

        page.locator("#board tbody tr").first.click()
        shown = page.locator(".details:not([hidden])")
        assert shown.count() == 1
        assert shown.locator("h2").text_content() == _cells(page, method)[0]
        assert (
            "--method mean-distance --dataset synthetic --seeds 0,1"
            in shown.locator("pre.command").text_content()
        )
        assert shown.locator("[data-figure=roc] .main-svg").count() >= 1  # Plotly drew it
        # mean-distance has no randomness: its seeds' scores are one, drawn once
        assert _cells(page, seeds) == ["0, 1 (deterministic)"]
        scores = shown.locator("[data-figure=scores]").text_content()
        assert scores.count("threshold") == 1 and "deterministic" in scores
        assert shown.locator("table.per-seed tr").count() == 3  # a header and each seed

        page.get_by_text("Clear All").click()
        page.get_by_role("cell", name="anatpaste", exact=True).click()
        shown = page.locator(".details:not([hidden])")
        curves = shown.locator("[data-figure=curves]")
        assert "loss" in curves.text_content() and "step" in curves.text_content()
        scores = shown.locator("[data-figure=scores]").text_content()
        assert all(f"abnormal, seed {seed}" in scores for seed in (0, 1, 2))  # every seed's
        per_seed = shown.locator("table.per-seed").inner_text()
        for needed in ("fit s", "score s", "wall s", "peak memory MiB", "82.7", "83.9", "84.6",
                       "Intel(R) Xeon(R) Processor"):  # fmt: skip
            assert needed in per_seed
        browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "blob:", "data:")) for url in requests), requests


def test_rows_on_other_images_of_one_split_get_their_own_cost_view_and_label():
    import numpy as np

    from uadbench.outputs.leaderboard import Leaderboard, Row
    from uadbench.outputs.plots import split_label
    from uadbench.outputs.web_board import cost_figures

    rows = []
    for fingerprint, method in (("aaaa", "ae"), ("bbbb", "vae")):
        row = Row("zhanglab", "uadbench-v1", 64, method, "quick", fingerprint, None,
                  fingerprint=fingerprint)  # fmt: skip
        row.seeds, row.values["auroc"] = [0], [0.7]
        row.costs["fit_s"], row.costs["score_s"] = [10.0], [2.0]
        row.scores, row.labels = np.zeros((1, 4)), np.array([0, 0, 1, 1])
        rows.append(row)
    board = Leaderboard(rows, [])
    figures = cost_figures(board, {id(r): r.method for r in rows})
    assert sorted(figures) == [
        "zhanglab (uadbench-v1, data aaaa)", "zhanglab (uadbench-v1, data bbbb)",
    ]  # fmt: skip
    assert [split_label(board, r) for r in rows] == [
        "uadbench-v1, data aaaa", "uadbench-v1, data bbbb",
    ]  # fmt: skip


def test_columns_with_one_value_in_every_row_go_to_the_caption():
    from uadbench.outputs.web_board import folded

    columns = ("key", "data set", "split", "method", "AUROC %", "published", "warnings")
    cells = [["0", "zhanglab", "v1", "ae", 70.0, "-", ""], ["1", "zhanglab", "v1", "vae", 70.0,
             "-", "⚠ 1"]]  # fmt: skip
    kept, rows, shared = folded(columns, cells)
    assert kept == ["key", "method", "AUROC %", "warnings"]  # a metric is never folded
    assert rows == [["0", "ae", 70.0, ""], ["1", "vae", 70.0, "⚠ 1"]]
    assert shared == [("data set", "zhanglab"), ("split", "v1"), ("published", "none")]


@pytest.fixture
def committed_site(tmp_path) -> Path:
    """The board of the committed ZhangLab records alone: 17 rows of one data set and split."""
    made = cli.invoke(app, ["board", "--results-dir", str(ZHANGLAB.parent), "--out",
                            str(tmp_path / "site")])  # fmt: skip
    assert made.exit_code == 0, made.output
    return tmp_path / "site" / "index.html"


@pytest.mark.browser
def test_in_a_browser_the_board_fits_1280_px_and_its_cost_legend_is_whole(committed_site, chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(committed_site.as_uri())
        page.wait_for_function("window.uadbenchBoard && window.uadbenchBoard.ready")
        page.locator("#cost").scroll_into_view_if_needed()  # the cost view is drawn when seen
        page.wait_for_selector("#cost-figures .legend")
        headers = page.eval_on_selector_all("#board thead th", "h => h.map(x => x.textContent)")
        assert not {"data set", "split", "profile", "published", "CPU"} & set(headers)
        shared = page.locator("#board-shared").inner_text()
        assert "data set zhanglab" in shared and "CPU Intel(R) Xeon(R) Processor" in shared
        assert page.evaluate("uadbenchBoard.table.rows().count()") == committed_board_rows()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        right = page.evaluate("document.querySelector('#board').getBoundingClientRect().right")
        assert right <= 1280  # the table itself, not only the page, fits: no hidden columns
        assert "warnings" in headers and "vs best" in headers
        bars = page.eval_on_selector_all(
            "#cost-figures .legend .scrollbar", "s => s.map(x => x.getBBox().height)"
        )
        assert bars and all(height == 0 for height in bars)  # Plotly scrolls a clipped legend
        browser.close()


def _many_rows(results: Path, count: int) -> None:
    """``count`` rows of three seeds under ``results``: one configuration's committed anatpaste
    records (624 test images, two training curves) under other method names."""
    from uadbench.running.record_store import RecordStore, write_record
    from uadbench.running.run_record import RunRecord

    found = sorted((ZHANGLAB / "zhanglab" / "anatpaste").glob("*.json"))
    records = [RunRecord.from_json(json.loads(path.read_text())) for path in found]
    seeds = [record for record in records if record.row_key == records[0].row_key]
    assert len(seeds) == 3
    for i in range(count):
        for record in seeds:
            record.config = replace(record.config, method=f"method-{i:03d}")
            write_record(RecordStore(results).cell(record.config).path, record)


def _board(tmp_path: Path, rows: int) -> Path:
    """The page of a board of ``rows`` generated rows."""
    results, out = tmp_path / f"results-{rows}", tmp_path / f"site-{rows}"
    _many_rows(results, rows)
    made = cli.invoke(app, ["board", "--results-dir", str(results), "--out", str(out)])
    assert made.exit_code == 0, made.output
    return out / "index.html"


BYTES_PER_ROW = 20_000
"""What a row of three seeds of 624 test images may add to the page: its table cells, and the
data its details are drawn from when it is opened (15 KB when this was written)."""


def test_a_row_adds_little_to_the_page(tmp_path):
    few, more = _board(tmp_path, 2), _board(tmp_path, 12)
    per_row = (more.stat().st_size - few.stat().st_size) / 10
    assert per_row < BYTES_PER_ROW, per_row
    page = more.read_text(encoding="utf-8")
    assert "12 rows, 25 a page" in page
    assert page.count('class="details"') == 1  # one place the opened row's details go


@pytest.mark.browser
def test_in_a_browser_a_board_of_many_rows_pages_and_opens_a_row_of_a_later_page(
    tmp_path, chromium
):
    from playwright.sync_api import sync_playwright

    site = _board(tmp_path, 60)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors, requests = [], []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(site.as_uri())
        page.wait_for_function("window.uadbenchBoard && window.uadbenchBoard.ready")
        assert "60 rows, 25 a page" in page.locator("p.made").first.inner_text()
        assert len(_cells(page, 0)) == 25  # one page of rows in the document
        assert "1 to 25 of 60" in page.locator(".dt-info").inner_text()
        headers = page.eval_on_selector_all("#board thead th", "h => h.map(x => x.textContent)")
        method = headers.index("method")
        assert page.locator(".details:not([hidden])").count() == 0  # nothing drawn yet
        for length in (50, 25):  # the reader's choice of page length
            page.select_option(".dt-length select", str(length))
            page.wait_for_function(
                f"document.querySelectorAll('#board tbody tr').length === {length}"
            )

        page.locator(".dt-paging-button", has_text="3").click()
        page.wait_for_function("uadbenchBoard.table.page() === 2")
        assert "51 to 60 of 60" in page.locator(".dt-info").inner_text()
        clicked = _cells(page, method)[4]
        page.locator("#board tbody tr").nth(4).click()
        shown = page.locator(".details:not([hidden])")
        assert shown.locator("h2").text_content() == clicked
        assert f"--method {clicked.split()[0]} " in shown.locator("pre.command").text_content()
        for figure in ("roc", "scores", "curves"):  # Plotly drew each
            assert shown.locator(f"[data-figure={figure}] .main-svg").count() >= 1
        roc = shown.locator("[data-figure=roc]").text_content()
        assert all(f"seed {seed}" in roc for seed in (0, 1, 2)) and "95% band" in roc
        scores = shown.locator("[data-figure=scores]").text_content()
        assert all(f"abnormal, seed {seed}" in scores for seed in (0, 1, 2))
        assert "loss" in shown.locator("[data-figure=curves]").text_content()
        assert shown.locator("table.per-seed tr").count() == 4  # a header and each seed
        page.locator("#cost").scroll_into_view_if_needed()
        page.wait_for_selector("#cost-figures .main-svg")  # drawn when seen
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        for other, highlighted in (("1", []), ("3", [clicked])):  # the opened row stays marked
            page.locator(".dt-paging-button", has_text=other).click()
            page.wait_for_function(f"uadbenchBoard.table.page() === {int(other) - 1}")
            marked = page.eval_on_selector_all(
                "#board tbody tr.shown", f"rows => rows.map(r => r.cells[{method}].textContent)"
            )
            assert marked == highlighted
        browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "blob:", "data:")) for url in requests), requests
