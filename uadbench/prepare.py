"""Preparation: a data set's images decoded, made 8-bit grayscale, resized and cached on disk.

The cache folder is keyed by data set, split version and image size; it holds the images as one
memory-mapped ``.npy`` array in split-table order, the table itself, and a ``meta.json`` written
last, so that a folder without it is never read. A second run reads no image file. Every method
gets exactly these arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from uadbench.atomic import write_atomically
from uadbench.dataset import Dataset, table_checksum, validate_split_table
from uadbench.extras import get_extra
from uadbench.image_files import ImageReadError, resize_square
from uadbench.method import ImageSet
from uadbench.progress import ProgressReporter, SilentProgress, track

PREPROCESSING = "gray8-bilinear-v1"
"""Names the decoding and resizing rules; bump it when they change, so caches are rebuilt."""

CACHE_ENV = "UADBENCH_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$UADBENCH_CACHE_DIR``, else ``~/.cache/uadbench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "uadbench").expanduser()


@dataclass(frozen=True)
class PreparedData:
    """The prepared images of one (data set, split version, image size) and their table."""

    dataset: str
    split_version: str
    image_size: int
    table: pd.DataFrame
    images: np.ndarray
    folder: Path
    checksum: str
    progress: ProgressReporter
    skipped: list[dict[str, str]]
    """Images left out because they could not be read (id, source, reason)."""

    def rows(self, split: str) -> np.ndarray:
        """Row indices of the readable images of ``split`` in the table and the image array."""
        table = self.table
        return np.flatnonzero((table["split"].to_numpy() == split) & table["readable"].to_numpy())

    def split(self, name: str, extras: Sequence[str] = ()) -> ImageSet:
        """The images of split ``name`` with the requested per-image extras."""
        rows = self.rows(name)
        images = np.ascontiguousarray(self.images[rows])
        computed = {extra: self._extra(extra, name, images) for extra in extras}
        return ImageSet(images, tuple(self.table["id"].iloc[rows]), computed)

    def labels(self, split: str) -> np.ndarray:
        """The 0/1 labels of ``split``."""
        return self.table["label"].to_numpy()[self.rows(split)].astype(int)

    def _extra(self, name: str, split: str, images: np.ndarray) -> np.ndarray:
        extra = get_extra(name)
        path = self.folder / "extras" / f"{name}-v{extra.version}-{split}.npy"
        if not path.exists():
            per_image = [
                extra.compute(image)
                for image in track(
                    self.progress, images, f"computing {name} ({split})", len(images)
                )
            ]
            array = np.stack(per_image) if per_image else np.empty((0,))
            write_atomically(path, lambda handle: np.save(handle, array))
        return np.load(path)


def prepare(
    dataset: Dataset,
    image_size: int,
    cache_dir: Path,
    progress: ProgressReporter | None = None,
    skip_unreadable: bool = False,
) -> PreparedData:
    """Prepared images of ``dataset`` at ``image_size``, from the cache or built into it.

    An unreadable image raises ``ImageReadError``; with ``skip_unreadable`` it is left out of
    every split instead and listed in ``PreparedData.skipped``.
    """
    progress = progress or SilentProgress()
    table = validate_split_table(dataset.split_table(), dataset.name)
    checksum = table_checksum(table)
    options = hashlib.sha256(json.dumps(dataset.get_options(), sort_keys=True).encode())
    key = f"{_slug(dataset.split_version)}-{options.hexdigest()[:8]}"
    folder = Path(cache_dir) / dataset.name / key / f"{image_size}px"
    meta = _read_meta(folder)
    current = meta is not None and (meta["checksum"], meta["preprocessing"]) == (
        checksum,
        PREPROCESSING,
    )
    if not current:
        meta = _build(dataset, table, image_size, folder, checksum, progress, skip_unreadable)
    skipped = meta.get("skipped", [])
    if skipped and not skip_unreadable:
        first = skipped[0]
        raise ImageReadError(
            first["source"], f"{first['reason']} (and {len(skipped) - 1} more unreadable)"
        )
    table = table.assign(readable=~table["id"].isin({s["id"] for s in skipped}))
    images = np.load(folder / "images.npy", mmap_mode="r")
    return PreparedData(
        dataset.name,
        dataset.split_version,
        image_size,
        table,
        images,
        folder,
        checksum,
        progress,
        skipped,
    )


def _build(
    dataset: Dataset,
    table: pd.DataFrame,
    image_size: int,
    folder: Path,
    checksum: str,
    progress: ProgressReporter,
    skip_unreadable: bool,
) -> dict[str, Any]:
    dataset.check_files(table)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        started = time.perf_counter()
        images = np.lib.format.open_memmap(
            staging / "images.npy",
            mode="w+",
            dtype=np.uint8,
            shape=(len(table), image_size, image_size),
        )
        skipped = []
        description = f"preparing {dataset.name} at {image_size}px"
        for i, source in enumerate(track(progress, table["source"], description, len(table))):
            try:
                images[i] = resize_square(dataset.read_image(source, image_size), image_size)
            except ImageReadError as error:
                if not skip_unreadable:
                    raise
                skipped.append({"id": table["id"].iat[i], "source": source, "reason": error.reason})
        images.flush()
        del images
        table.to_csv(staging / "table.csv", index=False)
        meta = {
            "dataset": dataset.name,
            "split_version": dataset.split_version,
            "options": dataset.get_options(),
            "image_size": image_size,
            "preprocessing": PREPROCESSING,
            "checksum": checksum,
            "n_images": len(table),
            "skipped": skipped,
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=1))
        _replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta


def _replace_folder(staging: Path, folder: Path) -> None:
    """Move ``staging`` to ``folder``; a stale ``folder`` is moved aside first."""
    if folder.exists():
        stale = folder.parent / f".{folder.name}.stale-{os.getpid()}"
        folder.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        staging.rename(folder)
    except OSError:
        # Another process finished the same preparation first; its result is identical.
        if _read_meta(folder) is None:
            raise


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)
