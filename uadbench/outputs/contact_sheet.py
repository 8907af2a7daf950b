"""A contact sheet: which prepared images it shows, with their titles and an optional overlay,
and the figure itself.

For the test split: a row of normals, then a row of abnormals with their findings interleaved so
that every kind shows up; for train and val: the first two rows of images.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uadbench.contracts.dataset import SPLITS
from uadbench.data.prepare import PreparedData
from uadbench.errors import OutputPathError, ParameterError, refused_path


@dataclass(frozen=True)
class ContactSheet:
    """The images of a sheet, a title each, and the overlay masks (or None)."""

    images: np.ndarray
    titles: list[str]
    masks: np.ndarray | None


def pick(prepared: PreparedData, split: str, count: int, overlay: str | None) -> ContactSheet:
    """The sheet of ``split``: ``count`` images per row; ``ParameterError`` for a split that is
    not one or holds no images."""
    if split not in SPLITS:
        raise ParameterError(f"unknown split {split!r}; choose {', '.join(SPLITS)}")
    rows = prepared.rows(split)
    if not len(rows):
        held = [s for s in SPLITS if len(prepared.rows(s))]
        raise ParameterError(
            f"the {split} split of {prepared.dataset} holds no images; choose {' or '.join(held)}"
        )
    chosen = prepared.table.iloc[rows]
    kind = (
        chosen["finding"]
        if "finding" in chosen
        else chosen["label"].map({0: "normal", 1: "abnormal"})
    )
    if split == "test":
        picked = []
        for label in (0, 1):
            group = chosen[chosen["label"] == label]
            order = group.groupby(kind[group.index]).cumcount().sort_values(kind="stable").index
            picked += list(order[:count])
    else:
        picked = list(chosen.index[: 2 * count])
    positions = [prepared.table.index.get_loc(i) for i in picked]
    masks = None
    if overlay:
        extra = prepared.split(split, extras=[overlay]).extras[overlay]
        where = {row: j for j, row in enumerate(rows)}
        masks = extra[[where[p] for p in positions]]
    titles = [
        str(kind[i]) if split == "test" else str(prepared.table["id"].iat[p]).split("/")[-1][:18]
        for p, i in zip(positions, picked, strict=True)
    ]
    return ContactSheet(np.asarray(prepared.images[positions]), titles, masks)


def output_file(path: Path) -> Path:
    """``path`` as the sheet's file, its folder made if missing; ``OutputPathError`` saying
    what is in the way (a folder of that name, a file where a folder must be, a name too long)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = stat.S_ISDIR(os.stat(path).st_mode)  # os.stat: pathlib hides a name too long
    except FileNotFoundError:
        folder = False
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in path.parents if p.is_file()), path.parent)
        raise OutputPathError(
            f"{blocking} is a file, so it cannot hold {path}; give --out a path in a folder"
        ) from None
    except OSError as error:
        raise OutputPathError(f"cannot write {path}: {refused_path(error)}") from None
    if folder:
        raise OutputPathError(f"{path} is a folder; give --out a .png file to write")
    return path


def plot_contact_sheet(
    images: np.ndarray,
    titles: list[str],
    out: Path,
    columns: int = 8,
    overlays: np.ndarray | None = None,
) -> Path:
    """A grid of grayscale images with a title each (and masks drawn over them), as one file."""
    from uadbench.outputs.plots import pyplot, save_figure

    plt = pyplot()
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.75 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8)
    for ax, mask in zip(axes.flat, overlays if overlays is not None else [], strict=False):
        ax.imshow(np.ma.masked_where(~mask.astype(bool), mask), cmap="autumn", alpha=0.45)
    return save_figure(fig, Path(out), dpi=110)[0]
