"""AnatPaste augmentation throughput: batched (uadbench) vs per-sample (reference style).

    python benchmarks/augmentation_speed.py --shared ../shared \
        > results/benchmarks/augmentation_speed.md

Same ZhangLab training images for both. The per-sample pipeline does what the reference code
does for every sample: recompute the lung mask, PIL crop, jitter, draw, blur and paste, one
image at a time in one process. The batched pipeline uses lung masks computed once (as uadbench
does at preparation time) and augments batches of 64 with tensor operations (torch's default
threads). Also reported: one training step of the quick profile (32 originals + 32 augmented)
split into augmentation and network time. Every figure is the median over repeated timings.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_style_anatpaste import anatpaste_one
from uadbench.methods.anatpaste import QUICK
from uadbench.methods.anatpaste_augmentation import AnatPasteAugmentation
from uadbench.methods.lung_mask import lung_mask
from uadbench.methods.pretext.network import PretextNetwork
from uadbench.methods.pretext.trainer import pretext_batch

from uadbench.data.prepare import prepare
from uadbench.data.readers.zhanglab import ZhangLab

BATCH = 64


def per_sample_rate(images: np.ndarray, repeats: int) -> float:
    pil = [Image.fromarray(image) for image in images]
    rates = []
    for r in range(repeats):
        rng = random.Random(r)
        started = time.perf_counter()
        for image in pil:
            anatpaste_one(image, rng)
        rates.append(len(pil) / (time.perf_counter() - started))
    return statistics.median(rates)


def batched_rate(images: np.ndarray, masks: np.ndarray, repeats: int) -> float:
    x = torch.from_numpy(images).float() / 255
    augment = AnatPasteAugmentation(torch.from_numpy(masks))
    generator = torch.Generator().manual_seed(0)
    rates = []
    for _ in range(repeats):
        index = torch.randint(0, len(x), (BATCH,), generator=generator)
        batch = x[index]
        started = time.perf_counter()
        augment(batch, index, generator)
        rates.append(BATCH / (time.perf_counter() - started))
    return statistics.median(rates[2:])


def training_step(images: np.ndarray, masks: np.ndarray, repeats: int) -> tuple[float, float]:
    """Median seconds of augmentation and of forward + backward + update for one step."""
    p = QUICK
    x = torch.from_numpy(images).float() / 255
    augment = AnatPasteAugmentation(torch.from_numpy(masks))
    network = PretextNetwork(p.backbone, p.weights, 2)
    optimizer = torch.optim.Adam(network.parameters(), lr=p.lr)
    generator = torch.Generator().manual_seed(0)
    aug_times, net_times = [], []
    for _ in range(repeats):
        index = torch.randint(0, len(x), (p.batch_size,), generator=generator)
        started = time.perf_counter()
        views, _ = augment(x[index], index, generator)
        middle = time.perf_counter()
        batch, labels = pretext_batch(x[index], views)
        loss = torch.nn.functional.cross_entropy(network(batch)[1], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        aug_times.append(middle - started)
        net_times.append(time.perf_counter() - middle)
    return statistics.median(aug_times[1:]), statistics.median(net_times[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--images", type=int, default=256)
    args = parser.parse_args()
    dataset = ZhangLab.from_settings(args.shared / "data" / "zhanglab-224")
    lines = [
        "# AnatPaste augmentation speed",
        "",
        f"Command: `python benchmarks/augmentation_speed.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), CPU only. ZhangLab training normals, "
        f"{args.images} images, batches of {BATCH}.",
        "",
        "| size | per-sample, reference style (img/s) | batched, uadbench (img/s) | speed-up |",
        "|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as cache:
        for size in (128, 256):
            prepared = prepare(dataset, size, Path(cache))
            images = np.ascontiguousarray(prepared.images[prepared.rows("train")[: args.images]])
            masks = np.stack([lung_mask(image) for image in images])
            slow = per_sample_rate(images, repeats=3)
            fast = batched_rate(images, masks, repeats=40)
            lines.append(f"| {size} | {slow:.0f} | {fast:.0f} | {fast / slow:.1f}x |")
            if size == QUICK.image_size:
                step = training_step(images, masks, repeats=6)
    augmentation, network = step
    share = augmentation / (augmentation + network)
    lines += [
        "",
        f"One quick-profile training step ({QUICK.image_size} px, {QUICK.batch_size} + "
        f"{QUICK.batch_size} images, {QUICK.backbone}): augmentation {1000 * augmentation:.1f} ms, "
        f"network {1000 * network:.0f} ms ({100 * share:.1f}% of the step in augmentation).",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
