"""Decoding many images on every core: each image read, made grey and resized in a worker
process, the results handed back in order.

Workers are forked (the data set object, a plugin's included, needs no pickling); where fork is
not available, or for few images, decoding stays in this process. An unreadable image comes
back as its reason, and ``ImageReadError`` is raised here, as a serial read would.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from uadbench.contracts.dataset import Dataset
from uadbench.data.image_files import ImageReadError, resize_square

MIN_PER_WORKER = 64
"""Fewer images than this per worker are decoded here: starting processes costs more."""
CHUNK = 16
"""Images a worker decodes per task."""
_WORK: tuple[Dataset, int] | None = None
"""The data set and size a worker decodes for (set in each worker as it starts, never in the
parent: a parent-wide value was cleared by another, abandoned ``decoded`` generator's exit)."""


def default_workers() -> int:
    """Every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def decoded(
    dataset: Dataset, sources: Sequence[str], image_size: int, workers: int | None = None
) -> Iterator[np.ndarray | ImageReadError]:
    """Each source's image at ``image_size`` (uint8, square), in order; an unreadable one as its
    ``ImageReadError`` (not raised)."""
    workers = default_workers() if workers is None else workers
    workers = min(workers, max(1, len(sources) // MIN_PER_WORKER))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for source in sources:
            yield _read(dataset, source, image_size)
        return
    context = multiprocessing.get_context("fork")  # a forked worker's arguments are not pickled
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_set_work, initargs=(dataset, image_size)
    ) as pool:
        for result in pool.map(_read_in_worker, sources, chunksize=CHUNK):
            yield ImageReadError(*result) if isinstance(result, tuple) else result


def _set_work(dataset: Dataset, image_size: int) -> None:
    global _WORK
    _WORK = (dataset, image_size)


def _read(dataset: Dataset, source: str, image_size: int) -> np.ndarray | ImageReadError:
    try:
        return resize_square(dataset.read_image(source, image_size), image_size)
    except ImageReadError as error:
        return error


def _read_in_worker(source: str) -> Any:
    assert _WORK is not None, "a worker starts by _set_work"
    dataset, image_size = _WORK
    result = _read(dataset, source, image_size)
    return (result.path, result.reason) if isinstance(result, ImageReadError) else result
