"""Preparation speed: images decoded, made grey and resized per second with 1 and 2 worker
processes (and every core), each into a fresh cache.

    python benchmarks/prepare_speed.py --data-root ../shared/data/zhanglab-224 \\
        > results/benchmarks/prepare_speed.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from uadbench import registry
from uadbench.data.decoding import default_workers
from uadbench.data.fingerprint import resolve
from uadbench.data.prepare import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="zhanglab")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dataset = registry.datasets.get(args.dataset).from_settings(args.data_root)
    counts = sorted({1, 2, default_workers()})
    print(f"# Preparation speed: {args.dataset} at {args.image_size} px\n")
    print(f"Command: `python benchmarks/prepare_speed.py {' '.join(sys.argv[1:])}`\n")
    print(f"{default_workers()} cores here; median of {args.repeats} fresh preparations.\n")
    print("| workers | seconds | images/s |\n|---:|---:|---:|")
    for workers in counts:
        times = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cache:
                source = resolve(dataset, Path(cache))  # the file index, not timed
                started = time.perf_counter()
                size, folder = args.image_size, Path(cache)
                data = prepare(dataset, size, folder, source=source, workers=workers)
                times.append(time.perf_counter() - started)
        seconds = sorted(times)[len(times) // 2]
        print(f"| {workers} | {seconds:.1f} | {len(data.images) / seconds:.0f} |")


if __name__ == "__main__":
    main()
