"""Fit time and peak resident memory of one method per family as the training set grows.

    python benchmarks/scaling.py --out results/benchmarks/scaling.md

Each (method, number of training images) is one ``uadbench run`` process on synthetic phantoms
(``n_train`` of them, 50 validation, 100 + 100 test), the method's quick profile and image
size, seed 0; the peak resident memory is its record's (``peak_memory_mb``, the run's own
peak: ``uadbench.running.runtime.PeakMemory``). A run that fails (out of memory, say) is
listed as failed with its error, never left out. Writes a Markdown table, the log-log
exponent of fit time and memory against the training set's size per method, and a log-log
figure beside the table (``.png`` and ``.pdf``). Each measured row is appended to ``<out>.jsonl``
as it finishes, so that an interrupted invocation, run again, measures only what is missing:
a row is reused only if it was measured with the same parameters on the same kind of machine.
``--again METHODS`` measures those methods' rows anew (after a change of their code), on every
invocation that names it (leave it out to resume one that was interrupted); the earlier rows
stay in ``<out>.jsonl`` and are listed under the table, with the commit of each.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from options import add_out

FAMILIES = {
    "anatpaste": "pretext",
    "ae": "reconstruction",
    "imagenet-gaussian": "ImageNet features",
    "anomalib-patchcore": "anomalib PatchCore",
    "anomalib-padim": "anomalib PaDiM",
}
SIZES = (250, 500, 1000, 2000)
EVALUATION = {"n_val": 50, "n_test_normal": 100, "n_test_abnormal": 100}


def measure(
    method: str,
    n_train: int,
    results: Path,
    params: list[str],
    program: tuple[str, ...] = ("uadbench",),
) -> dict:
    """One run of ``method`` on ``n_train`` phantoms, in a results folder of its own (so that a
    run that writes no record is never read as another's): its timings, or its failure.
    ``program`` is the command that starts uadbench."""
    from uadbench.running.record_store import read_record

    results = results / f"{method}-{n_train}"
    command = [*program, "run", "--method", method, "--dataset", "synthetic", "--seed", "0"]
    command += ["--results-dir", str(results)]
    for key, value in {"n_train": n_train, **EVALUATION}.items():
        command += ["--data-option", f"{key}={value}"]
    for pair in params:
        command += ["--param", pair]
    clock = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    row = {"method": method, "n_train": n_train, "params": params, "machine": _machine()}
    row["command"] = shlex.join(command)
    row["process_s"] = round(time.perf_counter() - clock, 1)
    [path, *_] = [*results.glob("runs/synthetic/*/*.json"), None]
    record = read_record(path) if path else None
    if record is not None:
        row["code"] = record.code
    if done.returncode != 0 or record is None or not record.ok:
        message = record.error.message if record and record.error else None
        return row | {"status": "failed", "error": message or failure(done)}
    return row | {
        "status": "ok",
        "fit_s": record.timings["fit_s"],
        "peak_memory_mb": record.timings.get("peak_memory_mb"),
        "auroc": record.metrics["auroc"],
        "image_size": record.config.image_size,
    }


def failure(done: subprocess.CompletedProcess) -> str:
    """Why a run that wrote no failure of its own ended: the signal that killed it (the kernel
    kills the largest process when memory runs out, with SIGKILL), or its last line of output."""
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        hint = ": out of memory, most likely (the kernel's log says)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    lines = done.stderr.strip().splitlines()
    return lines[-1][:200] if lines else f"exit {done.returncode}, no record"


def exponent(rows: list[dict], key: str) -> float | None:
    """The slope of log(key) against log(n_train) over a method's finished runs."""
    points = [(r["n_train"], r[key]) for r in rows if r["status"] == "ok" and r.get(key)]
    if len(points) < 2:
        return None
    n, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(n, y, 1)[0])


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for method in dict.fromkeys(r["method"] for r in rows):
        done = [r for r in rows if r["method"] == method and r["status"] == "ok"]
        label = f"{method} ({FAMILIES.get(method, 'other')})"
        for axis, key in zip(axes, ("fit_s", "peak_memory_mb"), strict=True):
            axis.plot([r["n_train"] for r in done], [r[key] for r in done], "o-", label=label)
    finished = any(r["status"] == "ok" for r in rows)  # no point at all cannot be log-scaled
    scale = "log" if finished else "linear"
    for axis, title in zip(axes, ("fit time (s)", "peak resident memory (MiB)"), strict=True):
        axis.set(xscale=scale, yscale=scale, xlabel="training images", title=title)
        axis.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper left")
    fig.savefig(path.with_suffix(".png"), dpi=150)
    fig.savefig(path.with_suffix(".pdf"))
    plt.close(fig)


def report(rows: list[dict], invocation: str, figure_name: str, earlier: list[dict]) -> str:
    lines = [
        "# Cost as the training set grows",
        "",
        f"Made by `{invocation}` on {platform.machine()} with {_cores()} cores, one run at a "
        "time, on synthetic phantoms (quick profiles, seed 0; 50 validation, 100 + 100 test "
        "images). Peak memory is each run's own peak resident set (its record's `peak_memory_mb`).",
        "",
        "| method | family | px | training images | fit s | peak memory MiB | AUROC % |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        family = FAMILIES.get(r["method"], "other")
        if r["status"] == "ok":
            memory = f"{r['peak_memory_mb']:,.0f}" if r.get("peak_memory_mb") else "-"
            lines.append(
                f"| {r['method']} | {family} | {r['image_size']} | {r['n_train']:,} | "
                f"{r['fit_s']:,.1f} | {memory} | {100 * r['auroc']:.1f} |"
            )
        else:
            lines.append(
                f"| {r['method']} | {family} | | {r['n_train']:,} | failed | | "
                f"{r['error'].replace('|', '/')} |"
            )
    lines += ["", "Growth, as the log-log slope over the sizes (1 = linear in the images):", ""]
    lines += ["| method | fit time | peak memory |", "|---|---:|---:|"]
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        slopes = [exponent(mine, key) for key in ("fit_s", "peak_memory_mb")]
        cells = " | ".join("-" if s is None else f"{s:.2f}" for s in slopes)
        lines.append(f"| {method} | {cells} |")
    lines += ["", f"![fit time and memory against training images]({figure_name})", ""]
    lines += ["Commands:", ""] + [f"- `{r['command']}` ({r['process_s']} s)" for r in rows]
    if earlier:
        lines += ["", "Earlier measurements of the same cells, measured again since:", ""]
        lines += ["| method | training images | code | result |", "|---|---:|---|---|"]
        for r in earlier:
            result = (
                f"fit {r['fit_s']:,.1f} s, peak "
                + (f"{r['peak_memory_mb']:,.0f} MiB" if r.get("peak_memory_mb") else "unknown")
                if r["status"] == "ok"
                else f"failed: {r['error'].replace('|', '/')}"
            )
            lines.append(f"| {r['method']} | {r['n_train']:,} | {_commit(r)} | {result} |")
    return "\n".join(lines) + "\n"


def _commit(row: dict) -> str:
    code = row.get("code") or {}
    commit = (code.get("commit") or "unknown")[:7]
    return commit + (" with uncommitted changes" if code.get("uncommitted_changes") else "")


def _newest(saved: list[dict]) -> dict[tuple[str, int], dict]:
    """The rows earlier invocations measured, by (method, training images), the newest of each:
    kept, not measured again, where their parameters and machine are this invocation's; delete
    ``<out>.jsonl`` to start over."""
    return {(r["method"], r["n_train"]): r for r in saved}


def _saved(path: Path) -> list[dict]:
    """Every row ``<out>.jsonl`` holds, oldest first."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _machine() -> str:
    """The kind of machine a row was measured on: fit times of two kinds are not one curve."""
    from uadbench.running.runtime import cpu_model

    return f"{platform.machine()}, {_cores()} cores, {cpu_model()}"


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_out(parser)
    parser.add_argument("--methods", default=",".join(FAMILIES))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument(
        "--param", action="append", default=[], help="METHOD:key=value, for that method's runs"
    )
    parser.add_argument("--again", default="", help="METHODS to measure anew, saved rows or not")
    args = parser.parse_args()
    rows_file = args.out.with_suffix(".jsonl")
    again = set(filter(None, args.again.split(",")))
    saved = _saved(rows_file)
    done = {key: row for key, row in _newest(saved).items() if key[0] not in again}
    machine = _machine()
    rows = []
    with tempfile.TemporaryDirectory() as results:
        for method in args.methods.split(","):
            params = [p.split(":", 1)[1] for p in args.param if p.split(":", 1)[0] == method]
            for n_train in map(int, args.sizes.split(",")):
                row = done.get((method, n_train))
                if row is None or (row.get("params"), row.get("machine")) != (params, machine):
                    row = measure(method, n_train, Path(results), params)
                    with open(rows_file, "a") as handle:
                        handle.write(json.dumps(row) + "\n")
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure_path = args.out.with_suffix(".png")
    figure(rows, figure_path)
    invocation = shlex.join(["python", "benchmarks/scaling.py", *sys.argv[1:]])
    shown = {(r["method"], r["n_train"]): r for r in rows}
    earlier = [r for r in saved if shown.get((r["method"], r["n_train"]), r) is not r]
    args.out.write_text(report(rows, invocation, figure_path.name, earlier))


if __name__ == "__main__":
    main()
