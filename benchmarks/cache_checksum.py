"""What checking the prepared-image cache's checksum costs: reading a data set's cached images
with and without the check, the checksum alone, and reading every pixel once (what a run's
splits do anyway), medians of fresh repetitions on a cache built once in a temporary folder.

    python benchmarks/cache_checksum.py --data-root ../shared/data/zhanglab-224 \\
        --out results/benchmarks/cache_checksum.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
from options import add_data_root, add_out, median_seconds, write_result

import uadbench.data.prepare as preparation
from uadbench import registry
from uadbench.data.fingerprint import resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="zhanglab")
    add_data_root(parser)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    add_out(parser)
    args = parser.parse_args()
    dataset = registry.datasets.get(args.dataset).from_settings(args.data_root)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as cache:
        source = resolve(dataset, Path(cache))

        def read() -> preparation.PreparedData:
            return preparation.prepare(dataset, args.image_size, Path(cache), source=source)

        images = read().images  # built here, once
        written = preparation.checksum(images)
        checked = median_seconds(read, args.repeats)
        with mock.patch.object(preparation, "checksum", lambda array: written):
            unchecked = median_seconds(read, args.repeats)
            every_pixel = median_seconds(lambda: np.array(read().images), args.repeats)
        hashing = median_seconds(lambda: preparation.checksum(images), args.repeats)
        other = "blake2b" if preparation.CHECKSUM != "blake2b" else "sha256"
        alternative = median_seconds(lambda: hashlib.new(other, images).digest(), args.repeats)
    load_after = os.getloadavg()
    megabytes = images.nbytes / 2**20
    rows = [
        ("reading the cache, checking its checksum (as uadbench does)", checked),
        ("reading the cache without the check (as before)", unchecked),
        (f"the {preparation.CHECKSUM} checksum of the images alone", hashing),
        (f"the {other} hash of the images, for comparison", alternative),
        (
            "reading the cache without the check, then every pixel once (a run's splits)",
            every_pixel,
        ),
    ]
    lines = [
        f"# Cache checksum: cost on {args.dataset} at {args.image_size} px",
        "",
        f"Command: `python benchmarks/cache_checksum.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{', '.join(f'{x:.2f}' for x in load_after)} after. {len(images)} images, "
        f"{megabytes:.1f} MiB of pixels, in the page cache (a warm cache); median of "
        f"{args.repeats}.",
        "",
        "| what | seconds |",
        "|---|---:|",
        *[f"| {what} | {seconds:.3f} |" for what, seconds in rows],
        "",
        f"The check costs {checked - unchecked:.3f} s per preparation read from the cache "
        f"({megabytes / hashing:.0f} MiB/s), "
        f"{100 * (checked - unchecked) / every_pixel:.0f}% of reading every pixel once.",
    ]
    write_result(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
