"""``ae``: a convolutional autoencoder; the anomaly score is the reconstruction error.

The classic reconstruction baseline of medical UAD: an encoder squeezes the image through a
small dense bottleneck, a mirrored decoder rebuilds it, and images unlike the training normals
are rebuilt worse. Conventions follow the MedIAnomaly benchmark (Cai et al., "MedIAnomaly: A
comparative study of anomaly detection in medical images", 2024): grayscale, 64 px, intensities
in [-1, 1], latent size 16, Adam at 1e-3, batch 64, 250 epochs (the ``paper`` profile); score =
mean squared error per pixel.

    uadbench run --method ae --dataset synthetic
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from uadbench import ImageSet, Method
from uadbench.tensors import batched_map, seeded_generator, shuffled_batches, to_signed_unit


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)
    )


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


class ConvAutoEncoder(nn.Module):
    """Strided-conv encoder to a ``latent_dim`` vector and a mirrored decoder, output in [-1, 1].

    The image side must be 4 * 2**k; there are k down-sampling stages, widths doubling from
    ``base_width``.
    """

    def __init__(self, image_size: int, latent_dim: int, base_width: int) -> None:
        super().__init__()
        stages = int(np.log2(image_size // 4))
        widths = [base_width * 2**i for i in range(stages)]
        self.bottom = (widths[-1], 4, 4)
        self.encoder = nn.Sequential(
            *[_down(c_in, c_out) for c_in, c_out in zip([1, *widths[:-1]], widths, strict=True)],
            nn.Flatten(),
            nn.Linear(widths[-1] * 16, latent_dim),
        )
        self.expand = nn.Sequential(nn.Linear(latent_dim, widths[-1] * 16), nn.ReLU())
        up = [
            _up(c_in, c_out)
            for c_in, c_out in zip(widths[::-1][:-1], widths[::-1][1:], strict=True)
        ]
        self.decoder = nn.Sequential(*up, nn.ConvTranspose2d(widths[0], 1, 4, 2, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        return self.decoder(self.expand(z).view(-1, *self.bottom))


class AutoEncoder(Method):
    """Convolutional autoencoder; score = mean squared reconstruction error."""

    name = "ae"
    min_image_size = 16

    @dataclass(frozen=True)
    class Params:
        image_size: int = 64
        latent_dim: int = 16
        base_width: int = 32
        epochs: int = 25
        batch_size: int = 64
        lr: float = 1e-3

    profiles = {
        "quick": Params(),
        "paper": Params(epochs=250),
    }

    @classmethod
    def check_params(cls, params: Params) -> None:
        super().check_params(params)
        size = params.image_size
        if size % 4 or (size // 4) & (size // 4 - 1):
            raise ValueError(
                f"method 'ae' needs an image size of 4 * 2**k (16, 32, 64, 128, ...); got {size}"
            )

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> AutoEncoder:
        p, ctx = self.params, self.context
        self.model_ = ConvAutoEncoder(p.image_size, p.latent_dim, p.base_width).to(ctx.device)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=p.lr)
        images = to_signed_unit(train.images, ctx.device)
        generator = seeded_generator(ctx.seed)
        self.model_.train()
        steps_per_epoch = -(-len(images) // p.batch_size)
        step = 0
        with ctx.progress.task(f"training {self.name}", p.epochs * steps_per_epoch) as bar:
            for epoch in range(p.epochs):
                total = 0.0
                for batch in shuffled_batches(len(images), p.batch_size, generator):
                    x = images[batch]
                    loss = nn.functional.mse_loss(self.model_(x), x)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    step += 1
                    total += loss.item() * len(batch)
                    bar.advance(loss=loss.item())
                ctx.history.record(epoch, loss=total / len(images))
        self.model_.eval()
        return self

    def score(self, images: np.ndarray) -> np.ndarray:
        def error(x: torch.Tensor) -> torch.Tensor:
            return (self.model_(x) - x).pow(2).mean(dim=(1, 2, 3))

        return batched_map(error, images, 128, self.context.device)
