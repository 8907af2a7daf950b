"""glibc's allocator and loops over large temporary arrays.

glibc serves an allocation from its heap unless the allocation is at least its *mmap threshold*,
which it raises (up to 32 MiB) each time a mapped block is freed. A loop that allocates and frees
an array of a few MiB up to 32 MiB per step, while small arrays made in between stay alive, can
leave each freed array as a hole the next one no longer fits, and the heap grows by one array per
step. anomalib's k-center greedy coreset (PatchCore) is such a loop: one distance array per point
it selects. Through the bridge it peaked at 17.4 GiB on 250 phantoms at 64 px and was killed
for memory on 500 (``results/benchmarks/scaling.md``); from 1,000 images on, the arrays are above
32 MiB, mapped, and the peak was 1.2 GiB. A fixed low threshold maps such arrays and unmaps them
when freed.

It is not set for every method: mapping each large array costs a ResNet-18 training step at
64 px about 12% on a 2-core CPU (0.55 s against 0.61 s per batch of 32, one thread).
"""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""``mallopt``'s parameters (glibc's ``malloc.h``)."""
GLIBC_MAX_MMAP_THRESHOLD = 32 << 20
"""``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit glibc: the highest its moving threshold goes."""
MAPPED_FROM = 1 << 20
"""Inside ``large_blocks_mapped``, every allocation of 1 MiB or more is mapped on its own."""

_depth = 0  # blocks now open: only the outermost one sets the threshold back


@contextmanager
def large_blocks_mapped(threshold: int = MAPPED_FROM) -> Iterator[bool]:
    """Inside, allocations of ``threshold`` bytes or more get a mapping of their own, returned to
    the system when freed. Yields whether glibc's ``mallopt`` accepted the setting (elsewhere
    nothing changes). glibc cannot be given back its moving threshold, so after the block, for
    the rest of the process, the threshold stays where glibc's own moves end: 32 MiB, with the
    heap trimmed above twice that."""
    global _depth
    mallopt = _glibc_mallopt()
    taken = bool(mallopt and (_depth or mallopt(M_MMAP_THRESHOLD, threshold)))
    _depth += taken
    try:
        yield taken
    finally:
        _depth -= taken
        if taken and not _depth:
            mallopt(M_MMAP_THRESHOLD, GLIBC_MAX_MMAP_THRESHOLD)
            mallopt(M_TRIM_THRESHOLD, 2 * GLIBC_MAX_MMAP_THRESHOLD)


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt
