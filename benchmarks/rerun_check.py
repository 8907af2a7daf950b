"""Run recorded runs again on this machine (``uadbench rerun``) and compare every test score
with the record's, bit for bit: what reproduces exactly on the same CPU model.

    python benchmarks/rerun_check.py RECORD.json [RECORD.json ...] --out FILE.md

``--uadbench PATH`` runs another installation's command (for example a clean worktree of the
commit that made the records, so that only the machine and the run differ).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from options import add_out, write_result


def scores(record: dict) -> dict[str, np.ndarray]:
    """Every test score variant of a record, by name, as float64 arrays."""
    test = record["test"]
    variants = test.get("score_variants") or {test["reported_score"]: test["scores"]}
    return {name: np.asarray(values, dtype=np.float64) for name, values in variants.items()}


def compare(original: dict, again: dict) -> dict[str, object]:
    """AUROCs, CPU models and the largest score difference of two records of one cell."""
    first, second = scores(original), scores(again)
    same = first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    largest = max(
        (float(np.max(np.abs(first[k] - second[k]))) for k in first.keys() & second.keys()),
        default=float("nan"),
    )
    machines = original["hardware"], again["hardware"]
    return {
        "auroc": (original["metrics"]["auroc"], again["metrics"]["auroc"]),
        "cpus": tuple(m.get("cpu_model") for m in machines),
        "threads": tuple(m.get("torch_threads") for m in machines),
        "identical": same,
        "largest": largest,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records", nargs="+", type=Path)
    parser.add_argument("--uadbench", default="uadbench", help="the uadbench command to run")
    add_out(parser)
    args = parser.parse_args()
    lines = [
        "# Runs made again on this machine, compared score by score",
        "",
        f"Command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`",
        "",
        "| record | AUROC % (recorded) | AUROC % (again) | CPU (recorded / again) | "
        "torch threads | every score identical | largest score difference | wall s |",
        "|---|---:|---:|---|---|---|---:|---:|",
    ]
    failed = False
    for path in args.records:
        original = json.loads(path.read_text())
        with tempfile.TemporaryDirectory() as out:
            command = [args.uadbench, "rerun", str(path), "--results-dir", out]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            wall = time.perf_counter() - started
            made = [p for p in Path(out).rglob("*.json") if p.parent.name != "index"]
            if done.returncode != 0 or len(made) != 1:
                failed = True
                lines.append(f"| `{path}` | failed: {done.stderr.strip()[-200:]} ||||||")
                continue
            seen = compare(original, json.loads(made[0].read_text()))
        before, after = seen["auroc"]
        lines.append(
            f"| `{path}` | {100 * before:.2f} | {100 * after:.2f} | "
            f"{' / '.join(map(str, seen['cpus']))} | {' / '.join(map(str, seen['threads']))} | "
            f"{'yes' if seen['identical'] else 'no'} | {seen['largest']:.3g} | {wall:.0f} |"
        )
        print(lines[-1], flush=True)
    write_result(args.out, "\n".join(lines) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
