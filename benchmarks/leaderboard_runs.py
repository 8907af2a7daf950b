"""Run a list of ``uadbench run`` commands one after another, timing each, then write the
leaderboard and the report of the results folder.

    python benchmarks/leaderboard_runs.py --results-dir results/zhanglab-quick \\
        --data-root ../shared/data/zhanglab-224 --dataset zhanglab \\
        --run anatpaste:0,1,2 --run cutpaste:0,1,2 --run imagenet-gaussian:0 ...

Each ``--run METHOD:SEEDS[:key=value;key=value]`` is one ``uadbench run`` process (extra
``--param``s after the second colon); ``--data-option key=value`` goes to every command, and
``--force`` reruns cells that have a finished record (``uadbench run --force``). The
commands, their exit status and wall time are appended to ``<results-dir>/COMMANDS.md``; a
failed run is listed as failed and the others go on, and the script exits non-zero. At the end
``leaderboard.md`` and ``report/`` (unless ``--no-report``) are rewritten from every record in
the folder; a leaderboard that fails to build (an unreadable record, say) leaves the previous
``leaderboard.md`` and ``report/`` as they were, and the script says why and exits non-zero.
Both files are written atomically: killed half-way, each keeps what it had.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from options import add_data_root

from uadbench.atomic import append_output, write_output


def commands(args: argparse.Namespace) -> list[list[str]]:
    """One ``uadbench run`` command per ``--run``; a malformed spec stops the script first."""
    made = []
    for spec in args.run:
        method, seeds, *extra = [*spec.split(":", 2), ""][:3]
        if not method or not seeds:
            sys.exit(f"--run {spec!r}: give METHOD:SEEDS[:key=value;key=value], e.g. ae:0,1,2")
        command = ["uadbench", "run", "--method", method, "--dataset", args.dataset]
        command += ["--seeds", seeds, "--results-dir", str(args.results_dir)]
        if args.data_root:
            command += ["--data-root", str(args.data_root)]
        for option in args.data_option:
            command += ["--data-option", option]
        for pair in extra[0].split(";") if extra[0] else []:
            command += ["--param", pair]
        made.append(command + (["--force"] if args.force else []))
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results-dir", type=Path, required=True)
    parser.add_argument("--dataset", required=True)
    add_data_root(parser)
    parser.add_argument("--run", action="append", default=[], help="METHOD:SEEDS[:k=v;k=v]")
    parser.add_argument("--data-option", action="append", default=[], help="key=value")
    parser.add_argument("--title", default="uadbench report")
    parser.add_argument("--no-report", action="store_true", help="the leaderboard only")
    parser.add_argument("--force", action="store_true", help="rerun cells that have a record")
    args = parser.parse_args()
    runs = commands(args)
    if (
        not shutil.which("uadbench")
        or subprocess.run(["uadbench", "--help"], capture_output=True).returncode
    ):
        sys.exit("`uadbench` does not start here: run pip install -e '.[test]' first.")
    log = args.results_dir / "COMMANDS.md"
    heading = "" if log.exists() else "# Commands that made these records\n\n"
    append_output(log, heading + "| started (UTC) | command | exit | wall s |\n|---|---|---|---|\n")
    total = 0.0
    problems = []
    for command in runs:
        started = datetime.now(timezone.utc)
        clock = time.perf_counter()
        status = subprocess.run(command, stdout=sys.stderr).returncode
        wall = time.perf_counter() - clock
        total += wall
        if status:
            problems.append(f"failed (exit {status}): {shlex.join(command)}")
        append_output(
            log, f"| {started:%Y-%m-%d %H:%M} | `{shlex.join(command)}` | {status} | {wall:.0f} |\n"
        )
    append_output(
        log, f"\nThis batch: {len(runs)} command(s), {total / 60:.1f} minutes of wall time.\n\n"
    )
    board = subprocess.run(
        ["uadbench", "leaderboard", "--results-dir", str(args.results_dir), "--format", "markdown"],
        capture_output=True,
        text=True,
    )
    if board.returncode:  # e.g. an unreadable record: the board would not be every record's
        problems.append(f"leaderboard.md left as it was: {board.stderr.strip()}")
    else:
        write_output(args.results_dir / "leaderboard.md", board.stdout)
    if not args.no_report and not board.returncode:
        report = ["uadbench", "report", "--results-dir", str(args.results_dir)]
        report += ["--title", args.title, "--out", str(args.results_dir / "report")]
        if subprocess.run(report).returncode:
            problems.append(f"the report failed: {shlex.join(report)}")
    if problems:
        sys.exit("\n".join(problems) + f"\nCommands and exit codes: {log}")


if __name__ == "__main__":
    main()
