"""The anomaly maps a run record keeps, and the localisation numbers they give.

A finished run of a method that gives maps (``Method.has_anomaly_map``) on a data set whose
release says where findings lie (``Dataset.lesion_truth``) keeps the maps of its test images
at ``MAP_SIDE`` pixels a side (its own size when smaller; block means of the run's maps),
float16, with the truth drawn at that size (and, against masks, the validation normals' maps,
which set the Dice's threshold), in a compressed NumPy file beside the record,
``maps/<SHA-256 of the file>.npz``: named
by its content, so a record moved within its folder (set aside, replaced by a rerun) still
finds it, and a changed file is never taken for it. The record's ``localisation`` names the
file and holds the numbers computed from exactly these maps and the truth drawn at that size
(``uadbench.statistics.localisation``), so they are computed again when the record is read
(``check_localisation``), as its image metrics are from its scores.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from uadbench.atomic import write_atomically
from uadbench.errors import RecordError
from uadbench.running.run_record import (
    METRIC_TOLERANCE,
    Localisation,
    RecordMismatchError,
    RunRecord,
)


class MapsFileError(RecordError, ValueError):
    """A record's kept anomaly maps that cannot be read, or changed since its run."""


class KeptMaps(NamedTuple):
    """What a record's maps file holds: the test images' maps, the truth they are scored
    against (same shape, bool) and the validation normals' maps (None where not kept)."""

    maps: np.ndarray
    regions: np.ndarray
    val_maps: np.ndarray | None = None


MAP_SIDE = 64
"""Pixels a side of the maps a record keeps (a run at a smaller size keeps its own)."""
MAPS_FOLDER = "maps"


def kept_side(image_size: int) -> int:
    """The side of the maps kept of a run at ``image_size``: ``MAP_SIDE``, or the run's own size
    when smaller."""
    return min(image_size, MAP_SIDE)


def reduced(maps: np.ndarray, side: int) -> np.ndarray:
    """``maps`` ``(N, H, H)`` at ``side`` as float16: block means where ``side`` divides ``H``,
    else resized with anti-aliasing."""
    maps = np.asarray(maps, np.float64)
    n, height, width = maps.shape
    if height % side == 0 and width % side == 0:
        blocks = maps.reshape(n, side, height // side, side, width // side)
        return blocks.mean(axis=(2, 4)).astype(np.float16)
    from skimage.transform import resize

    return resize(maps, (n, side, side), order=1, anti_aliasing=True).astype(np.float16)


def localisation(kept: KeptMaps, truth: str) -> Localisation:
    """The ``localisation`` of ``kept`` maps against their regions, of kind ``truth`` (``mask``
    or ``boxes``); its file name is set as the maps are written."""
    from uadbench.statistics import localisation as metrics

    maps, regions = np.asarray(kept.maps, np.float64), kept.regions
    if truth == "mask":
        numbers = {
            "pixel_auroc": metrics.pixel_auroc(maps, regions),
            "aupro": metrics.aupro(maps, regions),
            "n_images": len(maps),
        }
        if kept.val_maps is not None and len(kept.val_maps):
            threshold = metrics.pixel_threshold(kept.val_maps)
            numbers["dice"] = metrics.dice(metrics.dice_counts(maps, regions, threshold))
            numbers["pixel_threshold"] = threshold
    else:
        boxed = regions.any(axis=(1, 2))
        numbers = {
            "hit_rate": float(metrics.pointing_hits(maps[boxed], regions[boxed]).mean()),
            "mass_inside": float(metrics.mass_inside(maps[boxed], regions[boxed]).mean()),
            "uniform_share": float(metrics.uniform_share(regions[boxed]).mean()),
            "n_images": int(boxed.sum()),
        }
    return Localisation(truth, maps.shape[-1], "", numbers)


def maps_file_bytes(kept: KeptMaps) -> bytes:
    """``kept`` as the bytes of its compressed file."""
    arrays = {"maps": np.asarray(kept.maps, np.float16), "regions": kept.regions.astype(bool)}
    if kept.val_maps is not None:
        arrays["val_maps"] = np.asarray(kept.val_maps, np.float16)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def write_maps(record_path: Path, record: RunRecord) -> None:
    """Write ``record``'s maps beside ``record_path`` (atomically; once per content) and name
    the file in its ``localisation``."""
    if record.anomaly_maps is None or record.localisation is None:
        return
    content = maps_file_bytes(record.anomaly_maps)
    name = f"{MAPS_FOLDER}/{hashlib.sha256(content).hexdigest()}.npz"
    target = Path(record_path).parent / name
    if not target.is_file():
        write_atomically(target, content)
    record.localisation.maps = name


def read_maps(record: RunRecord) -> KeptMaps:
    """The maps ``record`` kept, the truth they were scored against and the validation
    normals' maps where kept, checked against the hash that names their file;
    ``MapsFileError`` saying what to do when the file is missing or changed."""
    if record.localisation is None or record.path is None:
        raise MapsFileError(f"{record.path or 'the record'} keeps no anomaly maps")
    path = record.path.parent / record.localisation.maps
    try:
        content = path.read_bytes()
    except OSError as error:
        raise MapsFileError(
            f"the anomaly maps of {record.path} ({path}) cannot be read: "
            f"{error.strerror or error}; restore the file or run the cell again"
        ) from None
    if hashlib.sha256(content).hexdigest() != path.stem:
        raise MapsFileError(
            f"the anomaly maps of {record.path} ({path}) changed since the run (their SHA-256 "
            "is not the one that names them); restore the file or run the cell again"
        )
    try:
        with np.load(io.BytesIO(content)) as stored:
            val_maps = stored["val_maps"] if "val_maps" in stored.files else None
            return KeptMaps(stored["maps"], stored["regions"], val_maps)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as error:
        raise MapsFileError(
            f"the anomaly maps of {record.path} ({path}) are not a maps file this uadbench reads "
            f"({error}); run the cell again"
        ) from None


def check_localisation(record: RunRecord) -> None:
    """Raise ``RecordMismatchError`` unless ``record``'s localisation numbers are those its kept
    maps give (``MapsFileError`` when the maps cannot be read)."""
    kept = record.localisation
    if kept is None:
        return
    again = localisation(read_maps(record), kept.truth).metrics
    for name, value in again.items():
        stored = kept.metrics.get(name)
        if not isinstance(stored, int | float) or abs(stored - value) > METRIC_TOLERANCE:
            raise RecordMismatchError(
                f"{record.path}: its localisation.metrics.{name} {stored!r} is not what its "
                f"kept anomaly maps give ({value:.4f}): it was changed after its run; move it "
                "out of the results folder and run the cell again"
            )
