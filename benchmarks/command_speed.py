"""How long the everyday commands take as whole processes: --help, methods, datasets and the
leaderboard of the committed ZhangLab records (targets: under 0.5 s for --help, 1.5 s for the
others, on a 2-core CPU).

    python benchmarks/command_speed.py > results/benchmarks/command_speed.md

Each figure is the median of five runs after one warm-up, from a scratch folder.
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

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "uadbench --help": ["--help"],
    "uadbench methods": ["methods"],
    "uadbench datasets": ["datasets"],
    "uadbench leaderboard (ZhangLab quick, 18 rows)": [
        "leaderboard",
        "--results-dir",
        str(REPO / "results" / "zhanglab-quick"),
    ],
}
RUNS = 5


def wall(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "uadbench", *args], cwd=cwd, check=True, capture_output=True
    )
    return time.perf_counter() - started


def main() -> None:
    lines = [
        "# Command speed",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median of {RUNS} runs after one warm-up.",
        "",
        "| command | median s | min s | max s |",
        "|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in COMMANDS.items():
            wall(args, Path(tmp))
            times = [wall(args, Path(tmp)) for _ in range(RUNS)]
            lines.append(
                f"| `{name}` | {statistics.median(times):.2f} | {min(times):.2f} | "
                f"{max(times):.2f} |"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
