"""A run keeps its test images' anomaly maps beside its record, named by their hash, with the
localisation numbers computed from exactly those maps."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from uadbench.data.readers.synthetic import SyntheticChest
from uadbench.errors import RecordError
from uadbench.running.kept_maps import MAP_SIDE, kept_side, localisation, read_maps, reduced
from uadbench.running.record_store import scan_records

from .commands import TINY, invoke
from .conftest import TINY_SYNTHETIC

MAPPED = '''
from dataclasses import dataclass
import numpy as np
from uadbench import Method


@dataclass(frozen=True)
class P:
    image_size: int = 32


class MappedDistance(Method):
    """Distance to the mean training image; its map is that distance per pixel."""
    name = "mapped-distance"
    Params = P
    profiles = {"quick": P()}
    def fit(self, train, val=None):
        self.mean_ = train.images.astype(np.float64).mean(axis=0)
        return self
    def anomaly_map(self, images):
        return np.abs(images.astype(np.float64) - self.mean_)
    def score(self, images):
        return self.anomaly_map(images).mean(axis=(1, 2))


class NanMap(MappedDistance):
    """Its maps are NaN, its scores fine."""
    name = "nan-map"
    def anomaly_map(self, images):
        return np.full(images.shape, np.nan)
    def score(self, images):
        return MappedDistance.anomaly_map(self, images).mean(axis=(1, 2))
'''


@pytest.fixture
def plugin(tmp_path):
    path = tmp_path / "mapped.py"
    path.write_text(MAPPED)
    return path


def run(results, plugin, method: str):
    done = invoke("run", "--results-dir", results, "--plugin", plugin, "--method", method, *TINY)
    assert done.exit_code == 0, done.output
    [record] = scan_records(results).records
    return record


def test_the_maps_are_kept_and_their_numbers_come_from_them(tmp_path, plugin):
    record = run(tmp_path / "results", plugin, "mapped-distance")
    kept = record.localisation
    assert kept.truth == "mask" and kept.side == 32
    stored = read_maps(record)
    maps, regions, val_maps = stored
    assert maps.dtype == np.float16 and maps.shape == (len(record.test.ids), 32, 32)
    assert val_maps.dtype == np.float16 and val_maps.shape == (len(record.val.ids), 32, 32)
    data = SyntheticChest.from_settings(None, TINY_SYNTHETIC)
    table = data.split_table().set_index("id").loc[record.test.ids].reset_index()
    assert (regions == data.lesion_regions(table, 32)).all()  # the truth, in test order
    again = localisation(stored, "mask")
    assert again.metrics == kept.metrics and kept.metrics["n_images"] == 24
    assert 0.5 < kept.metrics["pixel_auroc"] <= 1 and 0 <= kept.metrics["aupro"] <= 1
    # the Dice's threshold comes from the validation normals' maps, never from a test label
    threshold = np.percentile(val_maps.astype(np.float64), 95)
    assert kept.metrics["pixel_threshold"] == pytest.approx(threshold)
    called = maps.astype(np.float64) > threshold
    tp, fp = (called & regions).sum(), (called & ~regions).sum()
    fn = (~called & regions).sum()
    assert kept.metrics["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn)) and tp > 0
    assert "map_s" in record.timings


def test_a_changed_maps_file_is_refused(tmp_path, plugin):
    record = run(tmp_path / "results", plugin, "mapped-distance")
    path = record.path.parent / record.localisation.maps
    content = bytearray(path.read_bytes())
    content[-30] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(RecordError, match="changed since the run"):
        read_maps(record)
    path.unlink()
    with pytest.raises(RecordError, match="cannot be read"):
        read_maps(record)


def test_a_localisation_number_edited_by_hand_is_refused(tmp_path, plugin):
    record = run(tmp_path / "results", plugin, "mapped-distance")
    data = json.loads(record.path.read_text())
    for name in ("pixel_auroc", "dice"):
        edited = json.loads(json.dumps(data))
        edited["localisation"]["metrics"][name] = 0.99
        record.path.write_text(json.dumps(edited))
        [bad] = scan_records(tmp_path / "results").unreadable
        assert f"localisation.metrics.{name} 0.99 is not what its kept anomaly maps give" in (
            bad.reason
        )


def test_maps_that_cannot_be_scored_leave_a_warning_and_the_scores(tmp_path, plugin):
    record = run(tmp_path / "results", plugin, "nan-map")
    assert record.ok and record.localisation is None
    assert any("anomaly maps not kept" in w for w in record.warnings)
    assert not (record.path.parent / "maps").exists()


def test_a_method_without_maps_keeps_none(tmp_path):
    from .commands import mean_distance

    assert invoke(*mean_distance(tmp_path / "results"), *TINY).exit_code == 0
    [record] = scan_records(tmp_path / "results").records
    assert record.localisation is None and not (record.path.parent / "maps").exists()


def test_maps_are_kept_as_block_means_at_most_map_side_a_side():
    maps = np.arange(32, dtype=float).reshape(2, 4, 4)
    assert reduced(maps, 2).tolist() == [[[2.5, 4.5], [10.5, 12.5]], [[18.5, 20.5], [26.5, 28.5]]]
    assert kept_side(32) == 32 and kept_side(224) == MAP_SIDE == kept_side(128)
    assert reduced(np.ones((1, 100, 100)), 64).shape == (1, 64, 64)


def test_the_board_shows_where_maps_point_only_where_runs_kept_them(tmp_path, plugin):
    from .commands import mean_distance

    results = tmp_path / "results"
    run(results, plugin, "mapped-distance")
    assert invoke(*mean_distance(results), *TINY).exit_code == 0
    board = invoke("leaderboard", "--results-dir", results, "--format", "markdown").stdout
    header = next(line for line in board.splitlines() if line.startswith("|   #"))
    assert "pixel AUROC %" in header and "AUPRO %" in header and "hit %" not in header
    assert "Dice %" in header
    mapped = next(line for line in board.splitlines() if "| mapped-distance" in line)
    plain = next(line for line in board.splitlines() if "| mean-distance" in line)
    cells = dict(zip(header.split("|"), mapped.split("|"), strict=True))
    assert cells[next(c for c in cells if "pixel AUROC" in c)].strip().endswith("(one seed)")
    mapped_cells = cells
    cells = dict(zip(header.split("|"), plain.split("|"), strict=True))
    assert cells[next(c for c in cells if "pixel AUROC" in c)].strip() == "-"
    assert "Where the anomaly maps point" in board
    # the intervals' table: the board's number inside its bootstrap interval, the best row
    tested = board[board.index("intervals and paired tests of the maps") :]
    line = next(line for line in tested.splitlines() if "| mapped-distance" in line)
    value, low, high = map(float, re.findall(r"(\d+\.\d) \[(\d+\.\d), (\d+\.\d)\]", line)[0])
    shown = mapped_cells[next(c for c in mapped_cells if "pixel AUROC" in c)]
    assert f"{value:.1f}" in shown and low <= value <= high and "| best" in line
    page = invoke("board", "--results-dir", results, "--out", tmp_path / "site")
    assert page.exit_code == 0 and "pixel AUROC %" in (tmp_path / "site" / "index.html").read_text()


def test_a_board_without_kept_maps_has_no_localisation_column(tmp_path):
    from .commands import mean_distance

    results = tmp_path / "results"
    assert invoke(*mean_distance(results), *TINY).exit_code == 0
    board = invoke("leaderboard", "--results-dir", results, "--format", "markdown").stdout
    assert "pixel AUROC" not in board and "Where the anomaly maps point" not in board
    latex = invoke("leaderboard", "--results-dir", results, "--format", "latex").stdout
    assert "AUPRO" not in latex


def test_the_figures_show_where_the_maps_point_with_or_without_the_cached_images(
    tmp_path, plugin, monkeypatch
):
    import shutil

    from uadbench.outputs import map_sheets
    from uadbench.outputs.leaderboard import build_leaderboard

    results = tmp_path / "results"
    record = run(results, plugin, "mapped-distance")
    titles = []
    real = map_sheets.save_figure

    def capture(fig, path, dpi=150):
        titles.append(fig._suptitle.get_text())
        return real(fig, path, dpi)

    monkeypatch.setattr(map_sheets, "save_figure", capture)
    board = build_leaderboard(scan_records(results).records)
    written = map_sheets.plot_map_sheets(board, tmp_path / "figures")
    assert [p.suffix for p in written] == [".png", ".pdf"]
    assert written[0].name.startswith("anomaly_maps_synthetic") and written[0].stat().st_size
    assert "maps alone" not in titles[-1] and "mapped-distance" not in titles[-1]
    shutil.rmtree(record.data.cache)
    map_sheets.plot_map_sheets(board, tmp_path / "figures")
    assert "prepared images gone from the cache: maps alone" in titles[-1]


@pytest.mark.browser
def test_in_a_browser_a_row_that_kept_maps_shows_where_they_point(tmp_path, plugin, chromium):
    from playwright.sync_api import sync_playwright

    from .commands import mean_distance

    results = tmp_path / "results"
    run(results, plugin, "mapped-distance")
    assert invoke(*mean_distance(results), *TINY).exit_code == 0
    made = invoke("board", "--results-dir", results, "--out", tmp_path / "site")
    assert made.exit_code == 0, made.output
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto((tmp_path / "site" / "index.html").as_uri())
        page.wait_for_function("window.uadbenchBoard && window.uadbenchBoard.ready")
        sheet = page.locator(".details figure.map-sheet")
        page.get_by_role("cell", name="mapped-distance", exact=True).click()
        assert sheet.is_visible()
        page.wait_for_function(
            "document.querySelector('.details figure.map-sheet img').naturalWidth > 100"
        )
        page.get_by_role("cell", name="mean-distance", exact=True).click()
        assert not sheet.is_visible()
        assert page.locator(".details figure.map-sheet img").get_attribute("src") is None
        browser.close()
    assert not errors


def test_a_sheet_is_drawn_again_when_a_maps_file_comes_or_goes(tmp_path, plugin):
    from uadbench.outputs.figures import figure_drawings
    from uadbench.outputs.leaderboard import build_leaderboard

    results = tmp_path / "results"
    record = run(results, plugin, "mapped-distance")

    def keys():
        records = scan_records(results).records
        drawings = figure_drawings(build_leaderboard(records), records, tmp_path / "f", None)
        return [d.key for d in drawings]

    before = keys()
    (record.path.parent / record.localisation.maps).unlink()
    after = keys()
    changed = [a != b for a, b in zip(before, after, strict=True)]
    assert changed[-1] and not any(changed[:-1])  # the sheet of maps, and only it
