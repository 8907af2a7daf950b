"""The scores of ``imagenet-gaussian``, versions 1 and 2, on one ZhangLab split.

    python benchmarks/imagenet_gaussian_confirmation.py --shared ../shared --split confirmation \
        > results/imagenet-gaussian-confirmation/confirmation.md

The features are those of the method (``ImageNetGaussian.features``, quick profile, 224 px);
the four scores come from the same features, version 2's from the method itself
(``ImageNetGaussian.score_features``):
- version 2 (version 3 computes the same, and reports ``knn``): ``gaussian``, one Ledoit-Wolf
  Gaussian per level, Mahalanobis distances summed; ``knn``, mean cosine distance to the k
  nearest training normals of the concatenated levels, each level L2-normalised first;
- version 1 (superseded): one Gaussian on the raw concatenated levels, and k-NN on the raw
  concatenation, of fewer levels: the outputs of EfficientNet-Lite0's blocks 1 to 6 (version 2
  added the stem, block 0 and the head).
With ``--split uadbench-v1`` it reproduces the numbers already recorded on the official test
set (a check that the version 1 scores are rebuilt faithfully); with ``--split confirmation``
it scores the images that set does not hold (``datasets/README.md``), then again without the
pneumonia images whose person number also occurs in the official test set. Each pair is
compared by DeLong's paired test.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from uadbench.methods.densities import GaussianDensity, KNNCosine
from uadbench.methods.imagenet_gaussian import ImageNetGaussian

from uadbench.data.prepare import prepare
from uadbench.data.readers.zhanglab import ZhangLab
from uadbench.data.split_files import read_split_file
from uadbench.statistics.delong import compare
from uadbench.statistics.metrics import auroc, auroc_interval

VERSION_1_LEVELS = slice(2, 8)
"""Version 1's levels among version 2's (stem, blocks 0 to 6, head) for EfficientNet-Lite0."""
PAIRS = [
    ("v2 knn", "v2 gaussian"),
    ("v2 knn", "v1 knn"),
    ("v2 gaussian", "v1 gaussian"),
]


def version_1_scores(
    train: list[np.ndarray], test: list[np.ndarray], k: int
) -> dict[str, np.ndarray]:
    """Version 1's two scores of the test images, from version 2's per-level features."""
    raw_train = np.concatenate(train[VERSION_1_LEVELS], axis=1)
    raw_test = np.concatenate(test[VERSION_1_LEVELS], axis=1)
    return {
        "v1 gaussian": GaussianDensity().fit(raw_train).score(raw_test),
        "v1 knn": KNNCosine(k).fit(raw_train).score(raw_test),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--split", default="confirmation")
    args = parser.parse_args()
    torch.manual_seed(0)
    params = ImageNetGaussian.params_for("quick")
    assert params.backbone == "efficientnet-lite0", "VERSION_1_LEVELS is for EfficientNet-Lite0"
    method = ImageNetGaussian(params)
    dataset = ZhangLab.from_settings(args.shared / "data" / "zhanglab-224", {"split": args.split})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        prepared = prepare(dataset, params.image_size, Path(cache))
        labels = prepared.labels("test")
        method.fit(prepared.split("train"))
        train = method.features(prepared.split("train").images)
        test = method.features(prepared.split("test").images)
    version_2 = method.score_features(test)  # the method's own scores (version 3 = 2)
    variants = {
        "v2 gaussian": version_2["gaussian"],
        "v2 knn": version_2["knn"],
        **version_1_scores(train, test, params.k),
    }
    seconds = time.perf_counter() - started
    lines = [
        f"# imagenet-gaussian, versions 1 and 2, ZhangLab split `{prepared.split_version}`",
        "",
        f"Command: `python benchmarks/imagenet_gaussian_confirmation.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, CPU "
        f"only; {params.backbone} ImageNet weights, {params.image_size} px, k = {params.k}. "
        f"Train {len(train[0])} normals; test {int((labels == 0).sum())} normal, "
        f"{int(labels.sum())} abnormal. {seconds:.0f} s in all (the training features are "
        "extracted twice, once by `fit`).",
        "",
    ]
    lines += comparison(labels, variants)
    if prepared.split_version == "confirmation":
        # The Kermany file names number children per folder ("person12"); a number may or may
        # not be the same child in train/ and test/, so the check is repeated without them.
        official = read_split_file("zhanglab", "uadbench-v1")
        shared = set(official.loc[official["split"] == "test", "patient"])
        patients = prepared.table["patient"].to_numpy()[prepared.rows("test")]
        kept = ~np.isin(patients, list(shared))
        lines += [
            "",
            f"Without the {int((~kept).sum())} test images whose person number also occurs in the "
            f"official test set ({int(labels[kept].sum())} abnormal left):",
            "",
            *comparison(labels[kept], {name: v[kept] for name, v in variants.items()}),
        ]
    print("\n".join(lines))


def comparison(labels: np.ndarray, variants: dict[str, np.ndarray]) -> list[str]:
    """Markdown tables: each score's AUROC with its interval, then the paired DeLong tests."""
    lines = ["| score | AUROC % | 95% interval (stratified bootstrap) |", "|---|---|---|"]
    for name, values in variants.items():
        low, high = auroc_interval(labels, values)
        lines.append(
            f"| {name} | {100 * auroc(labels, values):.1f} | {100 * low:.1f} to {100 * high:.1f} |"
        )
    lines += ["", "| A vs B | AUROC A - B (points) | DeLong p (two-sided) |", "|---|---|---|"]
    for a, b in PAIRS:
        result = compare(labels, variants[a], variants[b])
        lines.append(f"| {a} vs {b} | {100 * result.difference:+.1f} | {result.p_value:.3g} |")
    return lines


if __name__ == "__main__":
    main()
