"""The networks of the reconstruction baselines (AE, VAE, f-AnoGAN) and their torch helpers;
the methods themselves (``reconstruction`` and its subclasses) import this module when they
train or score, so that they can be listed without torch.

DCGAN-style: an encoder of strided 4x4 convolutions halving the side down to 4 x 4, widths
doubling from ``base_width``, and a decoder that mirrors it with transposed convolutions and a
tanh output in [-1, 1]. The image side must be 4 * 2**k (16, 32, 64, 128, ...).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import torch
from torch import nn


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


def pixel_residual(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared error per pixel of one-channel images, ``(B, H, W)``: the anomaly map."""
    return (x - y).pow(2)[:, 0]


def pixel_error(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, ``(B,)``: the mean of its ``pixel_residual``."""
    return pixel_residual(x, y).flatten(1).mean(dim=1)


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


class ConvAutoEncoder(nn.Module):
    """Strided-conv encoder to a ``latent_dim`` vector and a mirrored decoder."""

    def __init__(self, image_size: int, latent_dim: int, base_width: int) -> None:
        super().__init__()
        body, features = conv_encoder(image_size, base_width)
        self.encoder = nn.Sequential(body, nn.Linear(features, latent_dim))
        self.decoder = ConvDecoder(image_size, latent_dim, base_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ConvVAE(nn.Module):
    """Encoder to (mean, log-variance) of a ``latent_dim`` Gaussian; decoder from a sample."""

    def __init__(self, image_size: int, latent_dim: int, base_width: int) -> None:
        super().__init__()
        self.encoder, features = conv_encoder(image_size, base_width)
        self.to_latent = nn.Linear(features, 2 * latent_dim)
        self.decoder = ConvDecoder(image_size, latent_dim, base_width)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.to_latent(self.encoder(x)).chunk(2, dim=1)
        return mean, log_var.clamp(-10, 10)


class Critic(nn.Module):
    """WGAN critic (layer norm, no batch statistics); ``features`` are its last conv features."""

    def __init__(self, image_size: int, base_width: int) -> None:
        super().__init__()
        self.features, width = conv_encoder(image_size, base_width, norm="layer")
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x)).squeeze(1)
