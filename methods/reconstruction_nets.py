"""Convolutional building blocks of the reconstruction baselines (AE, VAE, f-AnoGAN), and
their common base class.

DCGAN-style: an encoder of strided 4x4 convolutions halving the side down to 4 x 4, widths
doubling from ``base_width``, and a decoder that mirrors it with transposed convolutions and a
tanh output in [-1, 1]. The image side must be 4 * 2**k (16, 32, 64, 128, ...).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from uadbench import Method
from uadbench.errors import ParameterError
from uadbench.method import POSITIVE, at_least
from uadbench.tensors import batched_map


def check_size(method: str, size: int) -> None:
    """Raise ``ParameterError`` unless ``size`` is 4 * 2**k with k >= 2."""
    stages = math.log2(size / 4) if size >= 16 else -1
    if stages != int(stages) or stages < 2:
        raise ParameterError(
            f"method {method!r} needs an image size of 4 * 2**k (16, 32, 64, 128, ...); got {size}"
        )


def _widths(image_size: int, base_width: int) -> list[int]:
    return [base_width * 2**i for i in range(int(math.log2(image_size // 4)))]


def conv_encoder(
    image_size: int, base_width: int, norm: str = "batch"
) -> tuple[nn.Sequential, int]:
    """Image ``(B, 1, S, S)`` -> flat features; returns the module and the feature size.

    ``norm`` is ``batch``, ``layer`` (for WGAN-GP critics, which must not mix samples) or ``none``.
    """
    layers: list[nn.Module] = []
    widths = _widths(image_size, base_width)
    side = image_size
    for i, (c_in, c_out) in enumerate(zip([1, *widths[:-1]], widths, strict=True)):
        side //= 2
        layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm == "none" or i == 0))
        if i > 0 and norm == "batch":
            layers.append(nn.BatchNorm2d(c_out))
        elif i > 0 and norm == "layer":
            layers.append(nn.LayerNorm([c_out, side, side]))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), widths[-1] * 16


class ConvDecoder(nn.Module):
    """Latent ``(B, latent_dim)`` -> image ``(B, 1, S, S)`` in [-1, 1]."""

    def __init__(self, image_size: int, latent_dim: int, base_width: int) -> None:
        super().__init__()
        widths = _widths(image_size, base_width)[::-1]
        self.bottom = (widths[0], 4, 4)
        self.expand = nn.Sequential(nn.Linear(latent_dim, widths[0] * 16), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(widths):
            blocks += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        blocks += [nn.ConvTranspose2d(widths[-1], 1, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.expand(z).view(-1, *self.bottom))


def pixel_error(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, ``(B,)``."""
    return (x - y).pow(2).flatten(1).mean(dim=1)


def collapse_warning(reconstructions: torch.Tensor) -> str | None:
    """A warning when the model rebuilds every image alike (its output ignores its input)."""
    spread = reconstructions.std(dim=0).mean().item()
    if spread < 1e-3:
        return (
            f"reconstructions are nearly identical for every image (mean per-pixel std "
            f"{spread:.2e}): the model collapsed, its scores do not reflect the images"
        )
    return None


def epoch_batches(
    n: int, epochs: int, batch_size: int, generator: torch.Generator
) -> Iterator[list[torch.Tensor]]:
    """One list of index batches per epoch, each epoch a new shuffle of ``range(n)`` (a last
    batch of one image is dropped: batch norm needs two)."""
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        yield [batch for batch in order.split(batch_size) if len(batch) >= 2]


class ReconstructionMethod(Method):
    """Base of the reconstruction baselines: DCGAN-style networks, so sizes of 4 * 2**k."""

    min_image_size = 16
    param_ranges = {
        "latent_dim": at_least(1),
        "base_width": at_least(1),
        "batch_size": at_least(1),
        "lr": POSITIVE,
    }

    @classmethod
    def check_params(cls, params: Any) -> None:
        super().check_params(params)
        check_size(cls.name, params.image_size)

    def minimise(
        self,
        loss_of: Callable[[torch.Tensor], torch.Tensor],
        optimizer: torch.optim.Optimizer,
        images: torch.Tensor,
        batches: Iterator[list[torch.Tensor]],
        curve: str,
        bar: Any,
    ) -> None:
        """One optimiser step on ``loss_of(images[batch])`` per batch of each epoch of
        ``batches``; the epoch's mean loss per image goes into the history as ``curve``."""
        for epoch, epoch_batch_list in enumerate(batches):
            total = 0.0
            for batch in epoch_batch_list:
                loss = loss_of(images[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            mean = total / sum(len(batch) for batch in epoch_batch_list)
            self.context.history.record(epoch, **{curve: mean})
            bar.advance(loss=mean)

    def warn_if_collapsed(
        self, rebuild: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray
    ) -> None:
        """Warn in the run record when ``rebuild`` gives every one of (up to 256 of) ``images``
        nearly the same reconstruction."""
        rebuilt = batched_map(rebuild, images[:256], 128, self.context.device)
        if warning := collapse_warning(torch.from_numpy(rebuilt)):
            self.context.history.warn(warning)
