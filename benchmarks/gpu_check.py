"""AnatPaste's paper profile on a GPU, in one script that fits 8 minutes of GPU time.

    python benchmarks/gpu_check.py --data-root ../shared/data \\
        --out results/benchmarks/gpu_check.md
    python benchmarks/gpu_check.py --cpu --dataset synthetic --out /tmp/gpu_check.md  # CPU mode

Through uadbench's own runner and the method's own training loop (nothing re-implemented):
1. a timing run of the paper profile (ResNet-18 from scratch, 256 px, 64 + 64 images per step,
   bf16 autocast and channels-last on CUDA) for ``--timing-steps`` steps, each step's end taken
   after a device synchronisation, and the augmentation timed apart (synchronised before and
   after it): images per second, the augmentation's share of a step, and the predicted
   training time of the full paper schedule (65,536 steps);
2. one shortened paper run on the data set (steps chosen to fit what is left of
   ``--budget-s``; from scratch, kernel density, last checkpoint, as the paper), with its
   AUROC on the official test set and its record.
``--cpu`` is the CPU mode the test suite runs so that the script cannot rot: 64 px, 8 + 8
images per step, two steps. Writes one Markdown file (``--out``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from options import add_data_root, add_out, write_result
from uadbench.methods.anatpaste import PAPER, AnatPaste

from uadbench.running.planning import RunRequest, plan
from uadbench.running.runner import execute

FAST = {"mixed_precision": "true", "channels_last": "true"}
RESERVE_S = 90
"""Time kept back from the budget for preparing, embedding and scoring the shortened run."""


class StepClock:
    """A progress reporter that notes when each training step ends (after synchronising)."""

    def __init__(self, sync: Any) -> None:
        self.sync, self.ends = sync, []

    @contextmanager
    def task(self, description: str, total: int):
        clock = self

        class Task:
            def advance(self, n: int = 1, **info: float) -> None:
                if n and description.startswith("training"):
                    clock.sync()
                    clock.ends.append(time.perf_counter())

        yield Task()

    def step_times(self) -> list[float]:
        return [b - a for a, b in zip(self.ends, self.ends[1:], strict=False)]


@contextmanager
def timed_augmentation(sync: Any, times: list[float]):
    """AnatPaste's augmentation, timed per call between two synchronisations."""
    original = AnatPaste.augmentation

    def augmentation(self: AnatPaste, images: Any) -> Any:
        inner = original(self, images)

        class Timed:
            def __call__(self, *args: Any) -> Any:
                sync()
                started = time.perf_counter()
                out = inner(*args)
                sync()
                times.append(time.perf_counter() - started)
                return out

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return Timed()

    AnatPaste.augmentation = augmentation
    try:
        yield
    finally:
        AnatPaste.augmentation = original


def run(args: argparse.Namespace, steps: int, results: Path, cache: Path, progress: Any = None):
    params = {**args.params, "steps": str(steps), "log_every": str(max(1, min(50, steps)))}
    request = RunRequest(
        method="anatpaste", dataset=args.dataset, profile="paper", image_size=args.image_size,
        params=params, device=args.device, data_root=args.data_root, results_dir=results,
        data_options=dict(option.split("=", 1) for option in args.data_option),
    )  # fmt: skip
    [planned] = plan(request)
    outcome = execute(planned, cache, progress)
    if outcome.status != "ok":
        sys.exit(f"the run failed: {outcome.message}")
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="zhanglab")
    add_data_root(parser)
    parser.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE")
    add_out(parser)
    parser.add_argument("--budget-s", type=float, default=480)
    parser.add_argument("--timing-steps", type=int, default=60)
    parser.add_argument("--cpu", action="store_true", help="CPU mode: tiny, for the test suite")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.cpu:
        args.device, args.image_size, args.timing_steps, run_steps = "cpu", 64, 3, 2
        args.params = {"batch_size": "8"}
    elif not torch.cuda.is_available():
        sys.exit("no CUDA GPU here; --cpu runs the CPU mode")
    else:
        args.device, args.image_size, run_steps = "cuda", None, None
        args.params = dict(FAST)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        clock, augmenting = StepClock(sync), []
        with timed_augmentation(sync, augmenting):
            run(args, args.timing_steps, scratch / "timing", scratch / "cache", clock)
        skip = min(5, len(clock.step_times()) - 1)  # warm-up steps left out
        warm = clock.step_times()[skip:]  # durations of steps skip + 1, ...
        step_s = statistics.median(warm)
        augment_s = statistics.median(augmenting[skip + 1 : args.timing_steps])
        if run_steps is None:
            left = args.budget_s - (time.perf_counter() - started) - RESERVE_S
            run_steps = max(1, min(PAPER.steps, int(left / step_s)))
        outcome = run(args, run_steps, args.out.parent / "gpu_check_runs", scratch / "cache")
    text = report(args, outcome.record, outcome.path, step_s, augment_s, len(warm))
    write_result(args.out, text)


def report(
    args: argparse.Namespace, record: Any, path: Path, step_s: float, augment_s: float, n: int
) -> str:
    batch = int(args.params.get("batch_size", PAPER.batch_size))
    cpu = record.hardware.get("cpu_model") or "CPU"
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else cpu
    size = args.image_size or PAPER.image_size
    full_h = PAPER.steps * step_s / 3600
    c = record.config
    return "\n".join(
        [
            "# AnatPaste's paper profile on a GPU" + (" (CPU mode)" if args.cpu else ""),
            "",
            f"Command: `python benchmarks/gpu_check.py {' '.join(sys.argv[1:])}`",
            "",
            f"Device: {device}; torch {torch.__version__}; parameters changed from the paper "
            f"profile: {', '.join(f'{k}={v}' for k, v in args.params.items()) or 'none'}.",
            "",
            f"- Training step, {batch} + {batch} images at {size} px (median of {n} steps, "
            f"warm-up left out): {step_s * 1000:.0f} ms, {2 * batch / step_s:.0f} images/s.",
            f"- Augmentation: {augment_s * 1000:.1f} ms per step, {100 * augment_s / step_s:.0f}% "
            "of the step.",
            f"- The full paper schedule ({PAPER.steps:,} steps) would train for about "
            f"{full_h:.1f} h at this speed (embedding and the density not counted).",
            f"- Shortened paper run on {c.dataset} (split {c.split_version}, seed {c.seed}): "
            f"{c.params['steps']} steps, trained in {record.timings.get('fit_s', 0):.0f} s, "
            f"AUROC {100 * record.metrics['auroc']:.1f} ({record.test.reported_score} density, "
            f"last checkpoint); record `{path.name}`.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
