"""What every benchmark script shares, one definition each: where the data are (``--data-root``,
else ``$UADBENCH_DATA_ROOT``, else ``~/uadbench-data``, as ``uadbench run`` finds them), where
the result goes (``--out``, written atomically), and the median time of a piece of work."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from uadbench.atomic import write_output


def add_data_root(parser: argparse.ArgumentParser, help: str = "") -> None:
    """``--data-root DIR``: None leaves the data set to find its default root."""
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help=help or "folder of the data sets (default $UADBENCH_DATA_ROOT or ~/uadbench-data)",
    )


def add_out(parser: argparse.ArgumentParser, help: str = "the Markdown file to write") -> None:
    """``--out FILE``, required."""
    parser.add_argument("--out", type=Path, required=True, help=help)


def write_result(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole (never half a file), and say where."""
    write_output(path, text)
    print(f"wrote {path}")


def median_seconds(
    work: Callable[[], object], repeats: int, before: Callable[[], object] = lambda: None
) -> float:
    """The median wall time of ``repeats`` calls of ``work``, each after ``before`` (untimed)."""
    times = []
    for _ in range(repeats):
        before()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
