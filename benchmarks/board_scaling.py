"""How long the board's commands take as a results folder grows to a real benchmark's size:
``leaderboard``, ``board`` and ``report`` on 500 and 5,000 generated run records.

    python benchmarks/board_scaling.py --records 500 5000 \\
        --out results/benchmarks/board_scaling.md

The records are generated, not run: copies of one committed ZhangLab record (624 test images,
its 18 score variants, validation scores and training curve) under other method names,
parameters, data sets and seeds, each with its own scores (the record's scores plus seeded
noise) and the metrics a run stores computed from them, written as ``uadbench run`` writes
records. A grid of 50 methods x 5 data sets x 4 parameter settings x 5 seeds is 5,000 records
in 1,000 rows. Each command runs as its own process (what a user waits for), timed from start
to exit, median of ``--repeats``; the first run of a command on a folder builds its index
("cold"), the later ones read it ("warm"). A warm report keeps the figures nothing changed
for; "one record changed" times it again after rewriting one record file before each run (the
figures that show that record are drawn again).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from options import add_out, write_result

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "results" / "zhanglab-quick" / "runs" / "zhanglab" / "anatpaste"
DATASETS = ("zhanglab", "rsna", "chexpert", "vindr", "nih")
SEEDS = 5
SETTINGS = 4


def generate(folder: Path, count: int) -> int:
    """Write ``count`` records (methods x data sets x settings x seeds) under ``folder``; the
    number of rows they make."""
    from uadbench.running.record_store import RecordStore, write_record
    from uadbench.running.run_record import RunRecord
    from uadbench.statistics.metrics import record_metrics

    template = RunRecord.from_json(json.loads(next(TEMPLATE.glob("*seed0*.json")).read_text()))
    rng = np.random.default_rng(0)
    per_method = len(DATASETS) * SETTINGS * SEEDS
    labels = np.asarray(template.test.labels)
    rows = set()
    for i in range(count):
        method, rest = divmod(i, per_method)
        dataset, rest = divmod(rest, SETTINGS * SEEDS)
        setting, seed = divmod(rest, SEEDS)
        record = copy.deepcopy(template)
        params = {**record.config.params, "lr": 1e-4 * (setting + 1)}
        record.config = record.config.__class__(
            **{
                **record.config.to_json(),
                "method": f"method-{method:03d}",
                "dataset": DATASETS[dataset],
                "params": params,
                "seed": seed,
            }
        )
        record.changed_params = {"lr": params["lr"]}
        variants = {
            name: list(np.asarray(s) + rng.normal(0, 0.05 * (method % 7 + 1), len(s)))
            for name, s in template.test.score_variants.items()
        }
        record.test.score_variants = variants
        record.test.scores = variants[record.test.reported_score]
        record.metrics = record_metrics(labels, np.asarray(record.test.scores), variants)
        write_record(RecordStore(folder).cell(record.config).path, record)
        rows.add(record.row_key)
    return len(rows)


def timed(
    command: list[str], repeats: int, before: Callable[[], None] = lambda: None
) -> tuple[float, float, int]:
    """The wall seconds of the first run of ``command`` (cold), the median of the ``repeats``
    runs after it (warm), and its last exit status; ``before`` is called before each run."""
    times, status = [], 0
    for _ in range(1 + repeats):
        before()
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        status = done.returncode
        if status:
            sys.stderr.write(done.stderr[-2000:])
    return times[0], statistics.median(times[1:]), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--repeats", type=int, default=3)
    add_out(parser)
    args = parser.parse_args()
    lines = [
        "# Board commands on many records",
        "",
        f"Command: `python benchmarks/board_scaling.py {shlex.join(sys.argv[1:])}`",
        "",
        f"{os.cpu_count()} cores; load average before: "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
        + f"; each command its own process: its first run on the folder (cold: the index is "
        f"built) and the median of {args.repeats} runs after it (warm).",
        "",
        "| records | rows | leaderboard s, cold / warm | board s, cold / warm | page MB | "
        "report s, cold / warm | report s, one record changed |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count in args.records:
        with tempfile.TemporaryDirectory() as tmp:
            results = Path(tmp) / "results"
            rows = generate(results, count)
            board_out, report_out = Path(tmp) / "board", Path(tmp) / "report"
            base = ["uadbench"]
            leaderboard = timed(
                [*base, "leaderboard", "--results-dir", str(results), "--format", "markdown"],
                args.repeats,
            )
            board = timed(
                [*base, "board", "--results-dir", str(results), "--out", str(board_out)],
                args.repeats,
            )
            report_command = [*base, "report", "--results-dir", str(results)]
            report = timed([*report_command, "--out", str(report_out)], args.repeats)
            one = next(results.rglob("*.json"))
            changed = timed(
                [*report_command, "--out", str(report_out)],
                args.repeats,
                lambda one=one: one.write_bytes(one.read_bytes()),
            )
            size = (board_out / "index.html").stat().st_size / 1e6
        timings = {"leaderboard": leaderboard, "board": board, "report": report}
        failed = [name for name, (*_, status) in timings.items() if status]
        cells = {name: f"{cold:.1f} / {warm:.1f}" for name, (cold, warm, _) in timings.items()}
        lines.append(
            f"| {count:,} | {rows:,} | {cells['leaderboard']} | {cells['board']} | {size:.1f} | "
            f"{cells['report']} | {changed[1]:.1f} |"
            + (f" failed: {', '.join(failed)}" if failed else "")
        )
        print(lines[-1], flush=True)
    write_result(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
