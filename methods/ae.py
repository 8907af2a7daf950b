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
from uadbench.methods.reconstruction import ReconstructionMethod

from uadbench import ImageSet
from uadbench.contracts.method import at_least


class AutoEncoder(ReconstructionMethod):
    """Convolutional autoencoder; score = mean squared reconstruction error."""

    name = "ae"

    @dataclass(frozen=True)
    class Params:
        image_size: int = 64
        latent_dim: int = 16
        """Size of the bottleneck."""
        base_width: int = 32
        """Channels of the first convolution (doubled at each downsampling)."""
        epochs: int = 25
        """Passes over the training normals."""
        batch_size: int = 64
        """Images per step."""
        lr: float = 1e-3
        """Adam learning rate."""

    profiles = {
        "quick": Params(),
        "paper": Params(epochs=250),
    }
    param_ranges = {**ReconstructionMethod.param_ranges, "epochs": at_least(0)}
    training_length = ("epochs",)

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> AutoEncoder:
        import torch
        from torch import nn
        from uadbench.methods.reconstruction_nets import ConvAutoEncoder, epoch_batches
        from uadbench.methods.tensors import seeded_generator, to_signed_unit

        p, ctx = self.params, self.context
        self.model_ = ConvAutoEncoder(p.image_size, p.latent_dim, p.base_width).to(ctx.device)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=p.lr)
        images = to_signed_unit(train.images, ctx.device)
        self.model_.train()
        batches = epoch_batches(len(images), p.epochs, p.batch_size, seeded_generator(ctx.seed))
        with ctx.progress.task(f"training {self.name}", p.epochs) as bar:
            self.minimise(
                lambda x: nn.functional.mse_loss(self.model_(x), x),
                optimizer,
                images,
                batches,
                "loss",
                bar,
            )
        self.model_.eval()
        self.warn_if_collapsed(self.model_, train.images)
        return self

    def score(self, images: np.ndarray) -> np.ndarray:
        from uadbench.methods.reconstruction_nets import pixel_error
        from uadbench.methods.tensors import batched_map

        return batched_map(
            lambda x: pixel_error(self.model_(x), x), images, 128, self.context.device
        )

    def anomaly_map(self, images: np.ndarray) -> np.ndarray:
        """The squared reconstruction residual of each pixel (the score is its mean)."""
        from uadbench.methods.reconstruction_nets import pixel_residual
        from uadbench.methods.tensors import batched_map

        return batched_map(
            lambda x: pixel_residual(self.model_(x), x), images, 128, self.context.device
        ).astype(np.float64)
