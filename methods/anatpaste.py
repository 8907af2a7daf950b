"""``anatpaste``: anatomy-aware self-supervised anomaly detection (Sato et al., iScience 2023).

A ResNet-18 learns to tell chest radiographs from copies in which a patch of the same image has
been pasted, softly, inside the lungs (``anatpaste_augmentation``); test images are scored by a
Gaussian kernel density of its embeddings of the training normals. The lung masks are the
reference code's threshold masks (``uadbench.lung_mask``), computed once per training image at
preparation time.

Profiles:
- ``paper``: the reference recipe: ResNet-18 from scratch, 256 px, 64 originals + 64 augmented
  per step, SGD (lr 0.03, momentum 0.9, weight decay 3e-5), cosine schedule, 256 x 256 = 65,536
  steps, kernel density with bandwidth 1, last checkpoint.
- ``quick``: one run in about ten minutes on a 2-core CPU (see ``QUICK``).

    uadbench run --method anatpaste --dataset zhanglab --seeds 0,1,2
"""

from __future__ import annotations

import torch

from methods.anatpaste_augmentation import AnatPasteAugmentation
from methods.pretext.trainer import PretextMethod, PretextParams
from uadbench import lung_mask  # noqa: F401  (registers the ``lung_mask`` extra)

PAPER = PretextParams(
    image_size=256,
    backbone="resnet18",
    weights="none",
    steps=65_536,
    batch_size=64,
    optimizer="sgd",
    lr=0.03,
    momentum=0.9,
    weight_decay=3e-5,
    schedule="cosine",
    density="kde",
)

QUICK = PretextParams(
    image_size=128,
    backbone="efficientnet-lite0",
    weights="imagenet",
    steps=300,
    batch_size=32,
    optimizer="adam",
    lr=1e-4,
    weight_decay=0.0,
    schedule="cosine",
    freeze_batchnorm=True,
    density="gaussian",
)
"""Sized for a 2-core CPU (under ten minutes on ZhangLab), where the reference recipe is out of
reach: from scratch with SGD the pretext task barely starts to learn in the steps a CPU
affords. So the quick profile starts from ImageNet weights that need no download
(EfficientNet-Lite0, shipped in a pip package), keeps the backbone's batch-norm statistics
fixed (a few hundred small batches would otherwise drag them away from what the pretrained
features need), trains with Adam (lr 1e-4, cosine) at 128 px for 300 steps of 32 + 32 images,
and reports the Gaussian (Ledoit-Wolf) density, which beat the kernel density in every setting
tried. Chosen on synthetic phantoms only, never on a real test set: see
``results/profile-selection/``."""


class AnatPaste(PretextMethod):
    """AnatPaste: classify lung-pasted copies vs originals, score by embedding density."""

    name = "anatpaste"
    requires = ("lung_mask",)
    profiles = {"quick": QUICK, "paper": PAPER}

    def augmentation(self, train_lung_masks: torch.Tensor | None) -> AnatPasteAugmentation:
        assert train_lung_masks is not None
        return AnatPasteAugmentation(train_lung_masks)
