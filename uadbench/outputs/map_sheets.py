"""Where the maps point, as pictures: for each set of test images whose runs kept anomaly maps,
a sheet of the best rows (by how well their maps point: pixel AUROC against masks, hit rate
against boxes), each row a method and each column one test image with a lesion, the same
images for every method. Each panel shows the image, the first seed's kept map over it (scaled
to its own range), the map's maximum (+) and the true outline or boxes (drawn as a contour).

The images come from the prepared cache the run names (``data.cache``); where it is gone the
panel shows the map alone and the sheet says so. Records keep maps, never images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from uadbench.file_names import slug
from uadbench.outputs.leaderboard import Leaderboard, Row
from uadbench.outputs.plots import pyplot, row_labels, save_figure, test_set_panels
from uadbench.running.kept_maps import MapsFileError, read_maps
from uadbench.running.run_record import RunRecord

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SHEET_METHODS = 4
"""Rows of the board a sheet shows (the best at pointing)."""
SHEET_IMAGES = 6
"""Test images with a lesion a sheet shows, spread evenly over the test order."""
RANKED_BY = {"mask": "pixel_auroc", "boxes": "hit_rate"}
"""The localisation metric that orders the rows of a sheet, by the kind of truth."""


def plot_map_sheets(board: Leaderboard, out: Path) -> list[Path]:
    """A sheet per set of test images with kept maps (none where no run kept them)."""
    written, labels = [], row_labels(board.rows)
    for (dataset, split), rows in test_set_panels(board).items():
        mapped = [r for r in rows if r.runs and r.runs[0].localisation is not None]
        if not mapped:
            continue
        truth = mapped[0].runs[0].localisation.truth
        ranked = sorted(mapped, key=lambda r: -(r.mean(RANKED_BY[truth]) or -1))
        name = slug(f"anomaly_maps_{dataset}_{split}")
        written += _sheet(ranked[:SHEET_METHODS], labels, f"{dataset} ({split})", Path(out) / name)
    return written


def _sheet(rows: list[Row], labels: dict[int, str], title: str, path: Path) -> list[Path]:
    fig = sheet_figure(rows, labels, title)
    return [] if fig is None else save_figure(fig, path, dpi=110)


def row_sheet_png(row: Row, label: str) -> bytes | None:
    """The sheet of one row (its first seed) as PNG bytes, for the web board's row details;
    None where its maps cannot be read."""
    import io

    fig = sheet_figure([row], {id(row): label}, label)
    if fig is None:
        return None
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    pyplot().close(fig)
    return buffer.getvalue()


def sheet_figure(rows: list[Row], labels: dict[int, str], title: str) -> Figure | None:
    """The sheet of ``rows`` (the first seed of each): the same test images with a lesion in
    each, map over image, its maximum and the truth's contour; None where no row's maps can be
    read."""
    plt = pyplot()
    kept, unreadable = [], []
    for row in rows:
        try:
            kept.append((row, *_maps_by_id(row.runs[0])))
        except MapsFileError:  # gone or changed since the board's index read the record
            unreadable.append(labels[id(row)])
    if not kept:
        return None
    first_ids, first_regions = kept[0][1], kept[0][3]
    with_lesion = [first_ids[i] for i in np.flatnonzero(first_regions.any(axis=(1, 2)))]
    picked = [with_lesion[i] for i in _spread(len(with_lesion), SHEET_IMAGES)]
    fig, axes = plt.subplots(
        len(kept), len(picked), figsize=(1.9 * len(picked), 2.1 * len(kept)), squeeze=False
    )
    missing_images = False
    for ax_row, (row, ids, maps, regions) in zip(axes, kept, strict=True):
        where = {image_id: i for i, image_id in enumerate(ids)}
        images = _cached_images(row.runs[0], picked)
        missing_images |= images is None
        for j, (ax, image_id) in enumerate(zip(ax_row, picked, strict=True)):
            i = where[image_id]
            _panel(ax, maps[i], regions[i], None if images is None else images[j])
            if j == 0:
                ax.set_ylabel(_wrapped(labels[id(row)]), fontsize=7)
            ax.set_title(str(image_id).split("/")[-1][:14], fontsize=6)
    note = "; prepared images gone from the cache: maps alone" if missing_images else ""
    note += f"; maps unreadable, left out: {', '.join(unreadable)}" if unreadable else ""
    fig.suptitle(
        f"Where the maps point: {title}, seed {rows[0].seeds[0]} of each row (colour: the map, "
        f"+: its maximum, contour: the truth){note}",
        fontsize=8,
    )
    return fig


def _panel(ax, heat: np.ndarray, truth: np.ndarray, image: np.ndarray | None) -> None:
    side = heat.shape[-1]
    extent = (0, side, side, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if image is not None:
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, extent=extent)
    heat = np.asarray(heat, np.float64)
    low, high = heat.min(), max(heat.max(), heat.min() + 1e-12)
    alpha = 0.45 if image is not None else 1.0
    ax.imshow(heat, cmap="jet", alpha=alpha, extent=extent, vmin=low, vmax=high)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    ax.plot(x + 0.5, y + 0.5, "+", color="white", markersize=8, markeredgewidth=1.5)
    if truth.any():
        centres = np.arange(side) + 0.5  # pixel (i, j) covers [j, j + 1] x [i, i + 1]
        ax.contour(centres, centres, truth.astype(float), levels=[0.5], colors="lime",
                   linewidths=0.9)  # fmt: skip
    ax.set_xlim(0, side)
    ax.set_ylim(side, 0)


def _maps_by_id(run: RunRecord) -> tuple[list[str], np.ndarray, np.ndarray]:
    kept = read_maps(run)
    return list(run.test.ids), kept.maps, kept.regions


def _cached_images(run: RunRecord, ids: list[str]) -> np.ndarray | None:
    """The prepared images of ``ids`` from the cache ``run`` names; None where it is gone."""
    folder = Path(run.data.cache) if run.data and run.data.cache else None
    try:
        table = pd.read_csv(folder / "table.csv", usecols=["id"], dtype=str)
        images = np.load(folder / "images.npy", mmap_mode="r")
        position = {image_id: i for i, image_id in enumerate(table["id"])}
        return np.asarray(images[[position[i] for i in ids]])
    except (OSError, TypeError, KeyError, ValueError):
        return None


def _spread(n: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(n)`` (all of them when fewer)."""
    if n <= count:
        return list(range(n))
    return sorted({round(float(x)) for x in np.linspace(0, n - 1, count)})


def _wrapped(text: str, width: int = 22) -> str:
    words, lines = text.split(), [""]
    for word in words:
        if len(lines[-1]) + len(word) + 1 > width and lines[-1]:
            lines.append("")
        lines[-1] = f"{lines[-1]} {word}".strip()
    return "\n".join(lines)
