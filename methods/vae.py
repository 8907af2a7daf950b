"""``vae``: a convolutional variational autoencoder (Kingma & Welling, ICLR 2014) as an
anomaly detector.

Same encoder and decoder as ``ae``, with a Gaussian latent: the encoder gives a mean and a
log-variance, training minimises reconstruction error plus ``beta`` times the KL divergence to
N(0, I). Scores: ``reconstruction`` (mean squared error of the reconstruction from the latent
mean, the default) and ``elbo`` (reconstruction error plus beta-weighted KL: the negative
evidence lower bound up to constants); both are recorded, ``reported`` names the reported one.
Conventions of MedIAnomaly (Cai et al. 2024): 64 px, [-1, 1], latent 16, Adam 1e-3, batch 64,
250 epochs (``paper``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from uadbench.methods.reconstruction import ReconstructionMethod

from uadbench import ImageSet
from uadbench.contracts.method import at_least

if TYPE_CHECKING:
    import torch


class VAE(ReconstructionMethod):
    """Variational autoencoder; score = reconstruction error (or the ELBO)."""

    name = "vae"

    @dataclass(frozen=True)
    class Params:
        image_size: int = 64
        latent_dim: int = 16
        """Size of the latent code."""
        base_width: int = 32
        """Channels of the first convolution (doubled at each downsampling)."""
        beta: float = 1.0
        """Weight of the KL term in the loss."""
        epochs: int = 25
        """Passes over the training normals."""
        batch_size: int = 64
        """Images per step."""
        lr: float = 1e-3
        """Adam learning rate."""
        reported: Literal["reconstruction", "elbo"] = "reconstruction"
        """The reported score: reconstruction error, or the negative ELBO."""

    profiles = {"quick": Params(), "paper": Params(epochs=250)}
    param_ranges = {
        **ReconstructionMethod.param_ranges,
        "epochs": at_least(0),
        "beta": at_least(0),
    }
    training_length = ("epochs",)

    def _loss_terms(
        self, x: torch.Tensor, sample: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch
        from uadbench.methods.reconstruction_nets import pixel_error

        mean, log_var = self.model_.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var) if sample else mean
        rebuilt = self.model_.decoder(z)
        kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(dim=1)
        return rebuilt, pixel_error(rebuilt, x), kl / x[0].numel()

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> VAE:
        import torch
        from uadbench.methods.reconstruction_nets import ConvVAE, epoch_batches
        from uadbench.methods.tensors import seeded_generator, to_signed_unit

        p, ctx = self.params, self.context
        self.model_ = ConvVAE(p.image_size, p.latent_dim, p.base_width).to(ctx.device)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=p.lr)
        images = to_signed_unit(train.images, ctx.device)
        self.model_.train()
        batches = epoch_batches(len(images), p.epochs, p.batch_size, seeded_generator(ctx.seed))
        with ctx.progress.task(f"training {self.name}", p.epochs) as bar:
            for epoch, epoch_batch_list in enumerate(batches):
                sums = np.zeros(3)
                for batch in epoch_batch_list:
                    _, error, kl = self._loss_terms(images[batch], sample=True)
                    loss = (error + p.beta * kl).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    sums += [error.sum().item(), kl.sum().item(), len(batch)]
                self._log(epoch, sums, bar)
        self.model_.eval()
        self.warn_if_collapsed(lambda x: self._loss_terms(x, False)[0], train.images)
        return self

    def _log(self, epoch: int, sums: np.ndarray, bar: object) -> None:
        error, kl = sums[0] / sums[2], sums[1] / sums[2]
        self.context.history.record(
            epoch, unit="epoch", loss=error + self.params.beta * kl, reconstruction=error, kl=kl
        )
        bar.advance(loss=error + self.params.beta * kl)

    def score_variants(self, images: np.ndarray) -> dict[str, np.ndarray]:
        import torch
        from uadbench.methods.tensors import batched_map

        def both(x: torch.Tensor) -> torch.Tensor:
            _, error, kl = self._loss_terms(x, sample=False)
            return torch.stack([error, error + self.params.beta * kl], dim=1)

        values = batched_map(both, images, 128, self.context.device)
        return {"reconstruction": values[:, 0], "elbo": values[:, 1]}

    def anomaly_map(self, images: np.ndarray) -> np.ndarray:
        """The squared residual of each pixel against the reconstruction of the latent mean
        (the ``reconstruction`` score is its mean; the KL term has no place in the image)."""
        from uadbench.methods.reconstruction_nets import pixel_residual
        from uadbench.methods.tensors import batched_map

        def residual(x):
            return pixel_residual(self._loss_terms(x, sample=False)[0], x)

        return batched_map(residual, images, 128, self.context.device).astype(np.float64)
