"""Anomaly maps from the density of local features, as PaDiM makes them (Defard et al., "PaDiM:
a patch distribution modeling framework for anomaly detection and localization", ICPR 2021).

A backbone's feature maps of the last level at each stride of ``STRIDES`` are resized to the
grid of stride ``GRID_STRIDE`` and concatenated; ``DIMENSIONS`` of their channels are kept, drawn
at random once (PaDiM keeps 100 of ResNet-18's 448). Fitted on the training normals: one
Gaussian per grid position, its covariance regularised by ``RIDGE`` times the identity. An
image's map is the Mahalanobis distance of its features at each position, resized bilinearly
to the image and smoothed by a Gaussian of ``SIGMA_AT_224`` pixels at 224 px (scaled with the
image), PaDiM's settings.
"""

from __future__ import annotations

import numpy as np
import torch

STRIDES = (4, 8, 16)
GRID_STRIDE = 8
DIMENSIONS = 100
RIDGE = 0.01
SIGMA_AT_224 = 4.0
BATCH = 32
POSITIONS_AT_ONCE = 64


class LocalDensity:
    """One Gaussian per position of a backbone's local features; ``anomaly_map`` gives the
    Mahalanobis distance at every pixel."""

    def __init__(self, seed: int, device: str = "cpu") -> None:
        self.seed = seed
        self.device = device

    def fit(self, backbone: torch.nn.Module, images: np.ndarray) -> LocalDensity:
        """Fit on uint8 training normals ``(N, H, W)`` through ``backbone`` (a ``Backbone``)."""
        features = self._features(backbone, images)  # (N, D, h, w)
        n, dims, h, w = features.shape
        flat = features.reshape(n, dims, h * w)
        self.mean_ = flat.double().mean(dim=0).T.contiguous()  # (positions, D)
        self.precision_ = torch.empty(h * w, dims, dims, dtype=torch.float64)
        ridge = RIDGE * torch.eye(dims, dtype=torch.float64)
        for start in range(0, h * w, POSITIONS_AT_ONCE):  # a few positions' N x D at a time
            end = start + POSITIONS_AT_ONCE
            centred = flat[:, :, start:end].permute(2, 0, 1).double() - self.mean_[start:end, None]
            covariance = centred.transpose(1, 2) @ centred / max(n - 1, 1) + ridge
            self.precision_[start:end] = torch.linalg.inv(covariance)
        return self

    def anomaly_map(self, backbone: torch.nn.Module, images: np.ndarray) -> np.ndarray:
        """The Mahalanobis distance of each pixel's local features, ``(N, H, W)``."""
        size = images.shape[-2:]
        out = []
        for start in range(0, len(images), BATCH):
            features = self._features(backbone, images[start : start + BATCH])
            n, dims, h, w = features.shape
            x = features.reshape(n, dims, h * w).permute(2, 0, 1).double() - self.mean_[:, None]
            distance = torch.einsum("pnd,pde,pne->np", x, self.precision_, x).clamp(min=0).sqrt()
            grid = distance.reshape(n, 1, h, w).float()
            out.append(_smoothed(_resized(grid, size), size[-1]))
        return torch.cat(out)[:, 0].double().numpy()

    def _features(self, backbone: torch.nn.Module, images: np.ndarray) -> torch.Tensor:
        """The chosen channels of the chosen levels on the grid, ``(N, DIMENSIONS, h, w)``."""
        chunks = []
        modes = {module: module.training for module in backbone.modules()}
        with torch.no_grad():
            backbone.eval()
            for start in range(0, len(images), BATCH):
                x = torch.from_numpy(np.ascontiguousarray(images[start : start + BATCH]))
                x = x.to(self.device).float().div_(255).unsqueeze(1)
                maps = backbone.stages(x)
                levels = _levels_by_stride(maps, x.shape[-1])
                grid = maps[levels[GRID_STRIDE]].shape[-2:]
                joined = torch.cat(
                    [_resized(maps[levels[s]], grid) for s in STRIDES if s in levels], dim=1
                )
                if not hasattr(self, "channels_"):
                    generator = torch.Generator().manual_seed(self.seed)
                    chosen = torch.randperm(joined.shape[1], generator=generator)[:DIMENSIONS]
                    self.channels_ = chosen.sort().values
                chunks.append(joined[:, self.channels_.to(joined.device)].cpu())
        for module, training in modes.items():  # each as it was (a frozen batch norm too)
            module.training = training
        return torch.cat(chunks)


def _levels_by_stride(maps: list[torch.Tensor], side: int) -> dict[int, int]:
    """The index of the last level of each stride of ``STRIDES`` (and ``GRID_STRIDE``)."""
    found: dict[int, int] = {}
    for index, feature_map in enumerate(maps):
        stride = round(side / feature_map.shape[-1])
        if stride in (*STRIDES, GRID_STRIDE):
            found[stride] = index
    if GRID_STRIDE not in found:
        raise ValueError(f"the backbone has no level of stride {GRID_STRIDE} at {side} px")
    return found


def _resized(maps: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return torch.nn.functional.interpolate(maps, size=tuple(size), mode="bilinear",
                                           align_corners=False)  # fmt: skip


def _smoothed(maps: torch.Tensor, side: int) -> torch.Tensor:
    """``maps`` ``(N, 1, H, W)`` blurred by a Gaussian of ``SIGMA_AT_224`` px at 224 px."""
    sigma = SIGMA_AT_224 * side / 224
    radius = max(1, round(4 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=maps.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).to(maps.device)
    padded = torch.nn.functional.pad(maps, (radius, radius, radius, radius), mode="reflect")
    rows = torch.nn.functional.conv2d(padded, kernel.view(1, 1, -1, 1))
    return torch.nn.functional.conv2d(rows, kernel.view(1, 1, 1, -1))
