"""How well each AnatPaste mask covers the true lung fields of the synthetic phantoms: mean IoU
(and its spread) of the reference threshold mask and the lung-field mask at 64, 128 and 256 px.

    python benchmarks/lung_mask_iou.py --phantoms 100 > results/anatomy/mask_iou.md
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from uadbench.methods.lung_mask import lung_field_mask, lung_mask

from uadbench.data.readers.phantom import ChestPhantom

MASKS = {"reference (`lung_mask`)": lung_mask, "lung field (`lung_field_mask`)": lung_field_mask}
SIZES = (64, 128, 256)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1 when both are empty)."""
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    phantoms = [ChestPhantom.sample(rng) for _ in range(args.phantoms)]  # normal ones
    print("# AnatPaste's masks against the phantoms' true lung fields\n")
    print(f"Command: `python benchmarks/lung_mask_iou.py {' '.join(sys.argv[1:])}`\n")
    print(f"{args.phantoms} normal phantoms (seed {args.seed}); mean IoU ± sample std.\n")
    print("| mask | " + " | ".join(f"{s} px" for s in SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    for name, make in MASKS.items():
        cells = []
        for size in SIZES:
            rendered = [phantom.render(size) for phantom in phantoms]
            scores = [iou(make(image), truth) for image, truth in rendered]
            cells.append(f"{np.mean(scores):.3f} ± {np.std(scores, ddof=1):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
