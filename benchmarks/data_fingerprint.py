"""What the data fingerprint costs on the real ZhangLab set: hashing every image file once, and
the stat-only check of later runs, against reading the split alone and building the cache.

    python benchmarks/data_fingerprint.py --shared ../shared \
        > results/benchmarks/data_fingerprint.md

Each figure is the median of five repetitions in this process. "First look" starts from an
empty file-hash index (the files themselves may be in the operating system's page cache, as
they are after any earlier read); "later looks" find every file in the index.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from options import median_seconds

from uadbench.contracts.dataset import validate_split_table
from uadbench.data.fingerprint import resolve
from uadbench.data.prepare import prepare
from uadbench.data.readers.zhanglab import ZhangLab

REPEATS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    args = parser.parse_args()
    root = args.shared / "data" / "zhanglab-224"
    lines = [
        "# Data fingerprint: cost on ZhangLab",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median of {REPEATS} repetitions.",
        "",
        "| split | images | split table and file check only | first look (hash every file) "
        "| later looks (stat only) | cache build at 64 px |",
        "|---|---|---|---|---|---|",
    ]
    for split in ("uadbench-v1", "confirmation"):
        dataset = ZhangLab.from_settings(root, {"split": split})
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp)
            index = cache / "file-hashes"

            def table_only(dataset=dataset) -> None:
                table = validate_split_table(dataset.split_table(), dataset.name)
                dataset.check_files(table)

            def forget(index=index) -> None:
                for file in index.glob("*.json"):
                    file.unlink()

            n = len(validate_split_table(dataset.split_table(), dataset.name))
            plain = median_seconds(table_only, REPEATS)
            look = functools.partial(resolve, dataset, cache)
            first = median_seconds(look, REPEATS, forget)
            later = median_seconds(look, REPEATS)
            source = resolve(dataset, cache)
            started = time.perf_counter()
            prepare(dataset, 64, cache, source=source)
            build = time.perf_counter() - started
        lines.append(
            f"| `{split}` | {n:,} | {plain:.2f} s | {first:.2f} s | {later:.2f} s | {build:.1f} s |"
        )
    lines += [
        "",
        "The first look at a data set reads every listed file once more than the cache build "
        "does; later runs only stat them. The index lives in the cache folder "
        "(`file-hashes/<dataset>.json`).",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
