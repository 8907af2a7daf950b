"""Foundation timings on this machine: CLI start-up, phantom drawing, README command 1.

    python benchmarks/foundation.py > results/benchmarks/foundation.md

Each figure is the median of several repetitions, measured as whole processes where a user
would run a whole process. README command 1 (``uadbench run``) runs in a fresh results folder
and a fresh cache, then again to show that an identical record is skipped.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from uadbench.data.readers.phantom import FINDINGS, ChestPhantom


def wall(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    uadbench = [sys.executable, "-m", "uadbench"]
    lines = ["# Foundation timings", "", f"Command: `python {' '.join(sys.argv)}`", ""]
    lines += [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "UADBENCH_CACHE_DIR": str(work / "cache")}
        help_times = [wall([*uadbench, "--help"], env, work) for _ in range(5)]
        lines.append(
            f"- `uadbench --help`: median {statistics.median(help_times):.2f} s "
            f"(max {max(help_times):.2f} s, 5 runs; target < 2 s)"
        )

        draws = []
        for repeat in range(3):
            started = time.perf_counter()
            for i in range(1000):
                finding = None if i % 2 == 0 else FINDINGS[i % len(FINDINGS)]
                rng = np.random.default_rng([repeat, i])
                ChestPhantom.sample(rng, finding).render(128)
            draws.append(time.perf_counter() - started)
        lines.append(
            f"- 1,000 phantoms at 128 px, one process: median {statistics.median(draws):.1f} s "
            "(3 runs; target < 10 s)"
        )

        first = wall([*uadbench, "run"], env, work)
        again = wall([*uadbench, "run"], env, work)
        lines.append(
            f"- README command 1 (`uadbench run`, fresh cache and results): {first:.1f} s "
            "(target <= 90 s)"
        )
        lines.append(
            f"- the same command again (identical record skipped): {again:.1f} s (target <= 10 s)"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
