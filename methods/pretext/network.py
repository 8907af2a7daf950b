"""The classifier of the pretext task: a backbone and the reference code's projection head."""

from __future__ import annotations

import torch
from torch import nn
from uadbench.methods.backbones import build_backbone


class PretextNetwork(nn.Module):
    """Backbone (ResNet-18 by default, fc removed) -> embedding; head Linear(d, 512) + BN +
    ReLU, Linear(512, 128) + BN + ReLU, Linear(128, n_classes) -> logits."""

    def __init__(self, backbone: str, weights: str, n_classes: int) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone, weights)
        dim = self.backbone.spec.feature_dim
        self.head = nn.Sequential(
            nn.Linear(dim, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
            nn.Linear(512, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(inplace=True),
            nn.Linear(128, n_classes),
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Grey images ``(B, 1, H, W)`` in [0, 1] -> (embeddings, logits)."""
        embedding = self.backbone(images)
        return embedding, self.head(embedding)
