"""AnatPaste's paper profile on a CUDA GPU: training steps per second and the share of each
step spent in the augmentation.

    python benchmarks/gpu_paper_profile.py --shared ../shared --steps 300 \\
        > results/benchmarks/gpu_paper_profile.md

Runs the paper recipe (ResNet-18 from scratch, 256 px, 64 originals + 64 augmented per step,
SGD 0.03, cosine) on ZhangLab's training normals for ``--steps`` steps, everything on the GPU,
timing augmentation and network separately with CUDA synchronisation. Exits with status 2 when
there is no CUDA GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from uadbench.methods.anatpaste import PAPER
from uadbench.methods.anatpaste_augmentation import AnatPasteAugmentation
from uadbench.methods.lung_mask import lung_mask
from uadbench.methods.pretext.network import PretextNetwork
from uadbench.methods.pretext.paste import jitter_images
from uadbench.methods.pretext.trainer import pretext_batch

from uadbench.data.prepare import prepare
from uadbench.data.readers.zhanglab import ZhangLab


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing measured", file=sys.stderr)
        sys.exit(2)
    device = "cuda"
    p = PAPER
    with tempfile.TemporaryDirectory() as cache:
        data = prepare(
            ZhangLab.from_settings(args.shared / "data" / "zhanglab-224"), p.image_size, Path(cache)
        )
        images = np.ascontiguousarray(data.images[data.rows("train")])
    masks = torch.from_numpy(np.stack([lung_mask(image) for image in images])).to(device)
    x_all = torch.from_numpy(images).to(device)
    augment = AnatPasteAugmentation(masks)
    network = PretextNetwork(p.backbone, p.weights, 2).to(device)
    optimizer = torch.optim.SGD(
        network.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay
    )
    generator = torch.Generator().manual_seed(0)
    augmentation, total = [], []
    for step in range(args.steps):
        index = torch.randint(0, len(images), (p.batch_size,), generator=generator)
        torch.cuda.synchronize()
        started = time.perf_counter()
        x = jitter_images(x_all[index.to(device)].float() / 255, 0.1, generator)
        views, _ = augment(x, index, generator)
        torch.cuda.synchronize()
        middle = time.perf_counter()
        batch, labels = pretext_batch(x, views)
        loss = torch.nn.functional.cross_entropy(network(batch)[1], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        if step >= 10:  # warm-up excluded
            augmentation.append(middle - started)
            total.append(time.perf_counter() - started)
    step_time = statistics.median(total)
    aug_time = statistics.median(augmentation)
    hours = p.steps * step_time / 3600
    lines = [
        "# AnatPaste paper profile on a GPU",
        "",
        f"Command: `python benchmarks/gpu_paper_profile.py {' '.join(sys.argv[1:])}`",
        "",
        f"Device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}.",
        "",
        f"- {args.steps} steps of {p.batch_size} + {p.batch_size} images at {p.image_size} px: "
        f"{1 / step_time:.2f} steps/s, {step_time * 1000:.0f} ms per step (median, warm-up out)",
        f"- augmentation: {aug_time * 1000:.1f} ms per step, {100 * aug_time / step_time:.1f}%",
        f"- the whole paper schedule ({p.steps} steps) would take about {hours:.1f} h",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
