"""Decoding many images on every core: each image read, made grey and resized in a worker
process (``uadbench.workers``), the results handed back in order; for few images, decoding
stays in this process. An unreadable image, or one too small to be a radiograph
(``MIN_SIDE``), comes back as its reason, and ``ImageReadError`` is raised here, as a serial
read would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from uadbench.contracts.dataset import Dataset
from uadbench.image_files import ImageReadError, resize_square
from uadbench.workers import can_fork, default_workers, die_with, forked_pool

MIN_PER_WORKER = 64
"""Fewer images than this per worker are decoded here: starting processes costs more."""
CHUNK = 16
"""Images a worker decodes per task."""
MIN_SIDE = 8
"""The fewest pixels an image may have on a side. A smaller one is no radiograph (a 1 x 1 image
would be upscaled to a flat one): it is unreadable, named, and left out only with
--skip-unreadable. Larger images smaller than the run's size are upscaled as they are (a
28-pixel ChestMNIST image at 64 px is a user's choice, not a broken file)."""
_WORK: tuple[Dataset, int] | None = None
"""The data set and size a worker decodes for (set in each worker as it starts, never in the
parent: a parent-wide value was cleared by another, abandoned ``decoded`` generator's exit)."""


def decoded(
    dataset: Dataset, sources: Sequence[str], image_size: int, workers: int | None = None
) -> Iterator[np.ndarray | ImageReadError]:
    """Each source's image at ``image_size`` (uint8, square), in order; an unreadable one as its
    ``ImageReadError`` (not raised)."""
    workers = default_workers() if workers is None else workers
    workers = min(workers, max(1, len(sources) // MIN_PER_WORKER))
    if workers <= 1 or not can_fork():
        for source in sources:
            yield decode(dataset, source, image_size)
        return
    with forked_pool(workers, _set_work, (dataset, image_size)) as pool:
        for result in pool.map(_read_in_worker, sources, chunksize=CHUNK):
            yield ImageReadError(*result) if isinstance(result, tuple) else result


def decode(dataset: Dataset, source: str, image_size: int) -> np.ndarray | ImageReadError:
    """The image at ``source`` at ``image_size`` (uint8, square), or why it cannot be used (an
    ``ImageReadError``, not raised)."""
    try:
        image = dataset.read_image(source, image_size)
    except ImageReadError as error:
        return error
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        path = dataset.root / source if dataset.root is not None else source
        return ImageReadError(
            path, f"it is {width} x {height} pixels, under {MIN_SIDE} on a side: no radiograph"
        )
    return resize_square(image, image_size)


def _set_work(dataset: Dataset, image_size: int, parent: int) -> None:
    global _WORK
    die_with(parent)
    _WORK = (dataset, image_size)


def _read_in_worker(source: str) -> Any:
    assert _WORK is not None, "a worker starts by _set_work"
    dataset, image_size = _WORK
    result = decode(dataset, source, image_size)
    return (result.path, result.reason) if isinstance(result, ImageReadError) else result
