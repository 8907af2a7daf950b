"""Wall time of the quick profiles that need ResNet-18 ImageNet weights, without those weights.

    python benchmarks/resnet18_bridge_timing.py --shared ../shared \
        > results/benchmarks/resnet18_bridge_timing.md

anomalib's FastFlow and reverse distillation run here only with torchvision's ResNet-18 file,
which this offline machine lacks. Their run time does not depend on the values of the weights,
so this script saves a randomly initialised ResNet-18 under the file's name in a temporary
``TORCH_HOME`` and times each quick profile on ZhangLab, one ``uadbench run`` per model, into a
temporary results folder. Their AUROCs are meaningless (random features) and are not reported.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from uadbench.methods.backbones import RESNET18_FILE

from uadbench.running.record_store import read_record

MODELS = ("anomalib-fastflow", "anomalib-reverse-distillation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    args = parser.parse_args()
    data_root = (args.shared / "data" / "zhanglab-224").resolve()
    lines = [
        "# Quick profiles that need ResNet-18 weights: wall time on ZhangLab",
        "",
        f"Command: `python benchmarks/resnet18_bridge_timing.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, CPU "
        "only. A random ResNet-18 stands in for the ImageNet file (same shapes, same cost); "
        "the AUROCs are meaningless and left out. Budget of a quick run: 15 minutes.",
        "",
        "| method | image size | epochs | steps | fit s | wall s (record) | process s |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        torch_home = Path(folder) / "torch"
        checkpoints = torch_home / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True)
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet18().state_dict(), checkpoints / RESNET18_FILE)
        env = {**os.environ, "TORCH_HOME": str(torch_home), "HF_HUB_OFFLINE": "1"}
        results = Path(folder) / "results"
        for method in MODELS:
            command = [
                sys.executable, "-m", "uadbench", "run", "--method", method, "--dataset",
                "zhanglab", "--data-root", str(data_root), "--results-dir", str(results),
            ]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if done.returncode:
                sys.exit(f"{method} failed:\n{done.stderr}")
            [path] = (results / "runs" / "zhanglab" / method).glob("*.json")
            record = read_record(path)
            params, notes, timings = record.config.params, record.notes, record.timings
            lines.append(
                f"| {method} | {params['image_size']} | {params['epochs']} | "
                f"{notes.get('anomalib_steps', '?')} | {timings['fit_s']:.0f} | "
                f"{timings['wall_s']:.0f} | {seconds:.0f} |"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
