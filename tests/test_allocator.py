import os
import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes

from uadbench.running.allocator import large_blocks_mapped

libc = ctypes.CDLL(None)
FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS.split()]


libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]


def mapped(size):
    before = libc.mallinfo2().hblkhd  # bytes in blocks mapped on their own
    block = libc.malloc(size)
    grown = libc.mallinfo2().hblkhd - before
    libc.free(block)
    return grown >= size


libc.free(libc.malloc(16 << 20))  # a mapped 16 MiB block freed: glibc's threshold rises to it
# each probe larger than the last, so that none fits in the heap's free top left by the one before
print(mapped(4 << 20))
with large_blocks_mapped() as taken:
    print(taken, mapped(8 << 20), mapped(512 << 10))
    with large_blocks_mapped():
        pass
    print(mapped(10 << 20))  # the inner block's end leaves the outer one's setting
print(mapped(12 << 20))
"""


GLIBC = platform.libc_ver()
ALLOCATOR_SETTINGS = (
    "LD_PRELOAD",
    "GLIBC_TUNABLES",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
)


@pytest.mark.skipif(
    GLIBC[0] != "glibc" or tuple(map(int, GLIBC[1].split("."))) < (2, 33),
    reason="glibc's heap, glibc's setting; mallinfo2 is glibc 2.33's",
)
def test_inside_large_blocks_mapped_blocks_of_1_mib_and_more_are_mapped_on_their_own():
    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_SETTINGS}  # glibc's defaults
    command = [sys.executable, "-c", PROBE]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    lines = [line.split() for line in done.stdout.splitlines()]
    before, (taken, large, small), still, after = lines
    assert before == ["False"]  # from the heap, where freed blocks can leave holes
    assert (taken, large, small) == ("True", "True", "False")
    assert still == ["True"]
    assert after == ["False"]  # the threshold is glibc's ceiling again, 32 MiB
