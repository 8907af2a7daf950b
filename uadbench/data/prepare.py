"""Preparation: a data set's images decoded, made 8-bit grayscale, resized and cached on disk.

The cache folder is keyed by data set, data fingerprint (``uadbench.data.fingerprint``: the split
table, options, preprocessing rules and the bytes of every image file) and image size, so a
changed image, another release under another root, or a fixed unreadable file never reuses an
old array. It holds the images as one memory-mapped ``.npy`` array in split-table order, the
table itself, and a ``meta.json`` written last, which holds the checksum of the array; per-image
extras (lung masks) lie beside it, each with a checksum file. A folder whose meta or array does
not match, or an array changed on disk since it was written (its checksum, checked on every
read), is rebuilt, and a changed array says so (``CacheChecksumWarning``). A second run reads
no image file. Every method gets exactly these arrays.

Building happens in a hidden staging folder that is renamed into place when complete; one left
behind by a killed process is removed by the next build. The array's disk space is reserved
before any pixel is written, so a full disk is an error that says so, not a crash.

Over 300 lines on purpose: building, checking and reusing the cache is one protocol (staging,
reservation, owner liveness, the final rename), and it reads as one here.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from uadbench.atomic import NO_ROOM, unwritable, write_atomically
from uadbench.contracts.dataset import Dataset
from uadbench.contracts.extras import get_extra
from uadbench.contracts.method import ImageSet
from uadbench.contracts.progress import ProgressReporter, SilentProgress, track
from uadbench.data.decoding import decode, decoded
from uadbench.data.fingerprint import PREPROCESSING, DataSource, resolve
from uadbench.errors import Notice, UserError
from uadbench.file_names import slug
from uadbench.image_files import ImageReadError
from uadbench.processes import is_alive, process_info

CACHE_ENV = "UADBENCH_CACHE_DIR"
CHECKSUM = "sha256"
"""The hash (hashlib's) that every cached array is written with and checked by: SHA-256, which
CPUs with SHA extensions compute twice as fast as BLAKE2b (results/benchmarks/cache_checksum.md)."""


class CacheSpaceError(UserError, OSError):
    """The cache's disk has no room for the prepared images."""


class CacheDirError(UserError, OSError):
    """A cache folder in which nothing can be written."""


class DataChangedError(UserError):
    """Image files changed while they were being prepared."""


class CacheChecksumWarning(Notice):
    """A cached array no longer matches the checksum written with it; it is made again."""


def default_cache_dir() -> Path:
    """``$UADBENCH_CACHE_DIR``, else ``~/.cache/uadbench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "uadbench").expanduser()


def check_cache_dir(cache_dir: Path) -> None:
    """Raise ``CacheDirError`` unless prepared images can be written under ``cache_dir``."""
    if (why := unwritable(cache_dir)) is not None:
        raise CacheDirError(
            f"cannot write prepared images in {cache_dir}: {why}; point --cache-dir (or "
            f"${CACHE_ENV}) at a writable folder"
        )


@dataclass(frozen=True)
class PreparedData:
    """The prepared images of one (data set, data fingerprint, image size) and their table."""

    dataset: str
    split_version: str
    image_size: int
    table: pd.DataFrame
    images: np.ndarray
    folder: Path
    checksum: str
    fingerprint: str
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
        written = path.with_name(f"{path.name}.{CHECKSUM}")
        try:
            cached = _load_array(path, (len(images),), mmap=False)
            if checksum(cached) == written.read_text():
                return cached
            _changed(path)
        except (OSError, ValueError):
            pass  # not computed yet, cut short, or made before checksums: compute it
        per_image = [
            extra.compute(image)
            for image in track(self.progress, images, f"computing {name} ({split})", len(images))
        ]
        array = np.stack(per_image) if per_image else np.empty((0,))
        with _room_for(path.parent, array.nbytes):
            write_atomically(path, lambda handle: np.save(handle, array))
            write_atomically(written, lambda handle: handle.write(checksum(array).encode()))
        return array


def prepare(
    dataset: Dataset,
    image_size: int,
    cache_dir: Path,
    progress: ProgressReporter | None = None,
    skip_unreadable: bool = False,
    source: DataSource | None = None,
    workers: int | None = None,
) -> PreparedData:
    """Prepared images of ``dataset`` at ``image_size``, from the cache or built into it.

    ``source`` is the data set's ``resolve`` result when the caller has it already. An
    unreadable image raises ``ImageReadError``; with ``skip_unreadable`` it is left out of every
    split instead and listed in ``PreparedData.skipped``. Images are decoded by ``workers``
    processes (default: every core; see ``uadbench.data.decoding``).
    """
    progress = progress or SilentProgress()
    source = source or resolve(dataset, cache_dir, progress)
    folder = cache_folder(cache_dir, source, image_size)
    cached = _cached(folder, source, image_size)
    if cached is not None and _readable_now(dataset, cached[0].get("skipped", []), image_size):
        cached = None  # an image left out reads now (a decoder was installed): build again
    if cached is None:
        meta = _build(source, image_size, folder, progress, skip_unreadable, workers)
        changed = source.changed_files()
        if changed:
            shutil.rmtree(folder, ignore_errors=True)
            raise DataChangedError(
                f"{len(changed)} image file(s) changed while they were being prepared (e.g. "
                f"{changed[0]}), so nothing was cached; run again once the data set is complete"
            )
        images = _load_array(folder / "images.npy", (len(source.table), image_size, image_size))
    else:
        meta, images = cached
    skipped = meta.get("skipped", [])
    if skipped and not skip_unreadable:
        first = skipped[0]
        raise ImageReadError(
            first["source"], f"{first['reason']} (and {len(skipped) - 1} more unreadable)"
        )
    table = source.table.assign(readable=~source.table["id"].isin({s["id"] for s in skipped}))
    return PreparedData(
        dataset.name,
        dataset.split_version,
        image_size,
        table,
        images,
        folder,
        source.checksum,
        source.fingerprint,
        progress,
        skipped,
    )


def _readable_now(dataset: Dataset, skipped: list[dict[str, str]], size: int) -> bool:
    """Whether any image that was left out as unreadable can be read now."""
    return any(
        not isinstance(decode(dataset, image["source"], size), ImageReadError) for image in skipped
    )


def cache_folder(cache_dir: Path, source: DataSource, image_size: int) -> Path:
    """Where the prepared images of ``source`` at ``image_size`` are cached."""
    return Path(cache_dir) / slug(source.dataset.name) / source.fingerprint / f"{image_size}px"


def _load_array(path: Path, leading: tuple[int, ...], mmap: bool = True) -> np.ndarray:
    """The array at ``path`` (memory-mapped, or read); ``ValueError`` unless its shape starts
    with ``leading`` (a file cut short does not load)."""
    array = np.load(path, mmap_mode="r" if mmap else None)
    if array.shape[: len(leading)] != leading:
        raise ValueError(f"{path} holds an array of shape {array.shape}, not {leading}")
    return array


def checksum(array: np.ndarray) -> str:
    """The ``CHECKSUM`` of ``array``'s type, shape and values, as hex digits."""
    digest = hashlib.new(CHECKSUM, f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array))
    return digest.hexdigest()


def _changed(path: Path) -> None:
    """Say that the cached array ``path`` is not what was written (it is made again)."""
    warnings.warn(
        f"the cached array {path} changed since it was written (its {CHECKSUM} checksum does "
        "not match): it is made again",
        CacheChecksumWarning,
        stacklevel=3,
    )


def _cached(
    folder: Path, source: DataSource, image_size: int
) -> tuple[dict[str, Any], np.ndarray] | None:
    """The cache's meta and images, if the cache is complete, holds exactly these images and
    they match the checksum written with them."""
    meta = _read_json(folder / "meta.json")
    expected = {
        "fingerprint": source.fingerprint,
        "preprocessing": PREPROCESSING,
        "n_images": len(source.table),
        "image_size": image_size,
    }
    if meta is None or any(meta.get(k) != v for k, v in expected.items()):
        return None
    try:
        images = _load_array(folder / "images.npy", (len(source.table), image_size, image_size))
    except (OSError, ValueError):
        return None  # cut short or replaced: rebuilt
    written = meta.get(f"images_{CHECKSUM}")
    if written is None:
        return None  # made before checksums: rebuilt
    if checksum(images) != written:
        _changed(folder / "images.npy")
        return None
    return meta, images


def _build(
    source: DataSource,
    image_size: int,
    folder: Path,
    progress: ProgressReporter,
    skip_unreadable: bool,
    workers: int | None,
) -> dict[str, Any]:
    dataset, table = source.dataset, source.table
    shape = (len(table), image_size, image_size)
    with _room_for(folder.parent, int(np.prod(shape))):
        folder.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(folder)
        staging = folder.parent / f".{folder.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    try:
        with _room_for(folder.parent, int(np.prod(shape))):
            (staging / "owner.json").write_text(json.dumps(process_info()))
            images = np.lib.format.open_memmap(
                staging / "images.npy", mode="w+", dtype=np.uint8, shape=shape
            )
            _reserve(staging / "images.npy")
        started = time.perf_counter()
        skipped = []
        description = f"preparing {dataset.name} at {image_size}px"
        sources = list(table["source"])
        images_read = decoded(dataset, sources, image_size, workers)
        for i, image in enumerate(track(progress, images_read, description, len(table))):
            if isinstance(image, ImageReadError):
                if not skip_unreadable:
                    raise image
                unread = {"id": table["id"].iat[i], "source": sources[i], "reason": image.reason}
                skipped.append(unread)
            else:
                images[i] = image
        meta = {
            "dataset": dataset.name,
            "split_version": dataset.split_version,
            "options": dataset.get_options(),
            "image_size": image_size,
            "preprocessing": PREPROCESSING,
            "checksum": source.checksum,
            "fingerprint": source.fingerprint,
            "n_images": len(table),
            "skipped": skipped,
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        with _room_for(folder.parent, 0):
            images.flush()
            meta[f"images_{CHECKSUM}"] = checksum(images)
            del images
            table.to_csv(staging / "table.csv", index=False)
            (staging / "meta.json").write_text(json.dumps(meta, indent=1))
            _replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta


def _reserve(path: Path) -> None:
    """Give ``path`` real disk blocks for its whole length now, so that writing through a
    memory map can never meet a full disk (which kills the process with SIGBUS)."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
        if shutil.disk_usage(path.parent).free < size:  # no fallocate here: check instead
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
    finally:
        os.close(fd)


@contextmanager
def _room_for(folder: Path, nbytes: int) -> Iterator[None]:
    """Turn a write that finds no room under ``folder`` into ``CacheSpaceError``."""
    try:
        yield
    except OSError as error:
        if error.errno not in NO_ROOM or isinstance(error, UserError):
            raise
        need = f" ({nbytes / 2**20:.1f} MB needed)" if nbytes else ""
        raise CacheSpaceError(
            f"no room for the prepared images in {folder}{need}: {error.strerror}; free space "
            f"there, or point --cache-dir (or ${CACHE_ENV}) at a disk with room"
        ) from error


def _remove_abandoned(folder: Path) -> None:
    """Remove staging folders of ``folder`` left by processes that are gone."""
    for staging in folder.parent.glob(f".{folder.name}.building-*"):
        owner = _read_json(staging / "owner.json")
        if owner is None:  # made before owners were written: the pid is in the name
            pid = staging.name.rsplit("building-", 1)[1].split("-")[0]
            owner = {"pid": int(pid) if pid.isdigit() else None, "host": socket.gethostname()}
        if not is_alive(owner):
            shutil.rmtree(staging, ignore_errors=True)


def _replace_folder(staging: Path, folder: Path) -> None:
    """Move ``staging`` to ``folder``; a stale ``folder`` is moved aside first."""
    if folder.exists():
        stale = folder.parent / f".{folder.name}.stale-{uuid.uuid4().hex[:8]}"
        folder.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        staging.rename(folder)
    except OSError:
        # Another process finished the same preparation first; its result is identical.
        if _read_json(folder / "meta.json") is None:
            raise


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
