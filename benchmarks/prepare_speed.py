"""Preparation speed: images decoded, made grey and resized per second with 1 and 2 worker
processes (and every core), each into a fresh cache.

    python benchmarks/prepare_speed.py --data-root ../shared/data/zhanglab-224 \\
        > results/benchmarks/prepare_speed.md
    python benchmarks/prepare_speed.py --dataset rsna \\
        --data-root ../shared/data/rsna-kaggle-sample --data-option split=available \\
        --data-option abnormal=lung-opacity+not-normal \\
        > results/benchmarks/prepare_speed_rsna.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from options import add_data_root

from uadbench import registry
from uadbench.data.fingerprint import resolve
from uadbench.data.prepare import prepare
from uadbench.workers import default_workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="zhanglab")
    add_data_root(parser)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-option", action="append", default=[], help="key=value")
    args = parser.parse_args()
    options = dict(option.split("=", 1) for option in args.data_option)
    dataset = registry.datasets.get(args.dataset).from_settings(args.data_root, options)
    counts = sorted({1, 2, default_workers()})
    print(f"# Preparation speed: {args.dataset} at {args.image_size} px\n")
    print(f"Command: `python benchmarks/prepare_speed.py {' '.join(sys.argv[1:])}`\n")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{default_workers()} cores here (load average before: {load}); median of "
        f"{args.repeats} fresh preparations.\n"
    )
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
