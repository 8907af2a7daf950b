"""``f-anogan``: fast unsupervised anomaly detection with GANs (Schlegl et al., "f-AnoGAN",
Medical Image Analysis 54, 2019).

Two stages, as in the paper:
1. a Wasserstein GAN with gradient penalty (WGAN-GP) learns to generate training normals from
   a latent vector (critic updated every step, generator every ``n_critic`` steps);
2. with the GAN frozen, an encoder learns to map an image to the latent vector that regenerates
   it ("izi_f" training): loss = image residual + ``kappa`` times the residual of the critic's
   features.
Score = mean squared image residual + ``kappa`` times the mean squared residual of the critic's
features between the image and its regeneration G(E(x)); both parts are recorded too.
Conventions of MedIAnomaly (Cai et al. 2024): 64 px, intensities in [-1, 1], latent 128.
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


class FAnoGAN(ReconstructionMethod):
    """f-AnoGAN: WGAN-GP, then an encoder; score = image + critic-feature residual."""

    name = "f-anogan"

    @dataclass(frozen=True)
    class Params:
        image_size: int = 64
        latent_dim: int = 128
        """Size of the generator's latent code."""
        base_width: int = 32
        """Channels of the first convolution."""
        gan_epochs: int = 60
        """Passes of WGAN-GP training (generator and critic)."""
        encoder_epochs: int = 30
        """Passes of encoder training (izi_f), the GAN frozen."""
        batch_size: int = 64
        """Images per step."""
        lr: float = 1e-4
        """Adam learning rate of every network."""
        n_critic: int = 5
        """Critic steps per generator step."""
        gradient_penalty: float = 10.0
        """Weight of the WGAN-GP gradient penalty."""
        kappa: float = 1.0
        """Weight of the critic-feature residual, in the encoder's loss and the anomaly score."""
        reported: Literal["anomaly", "image", "features"] = "anomaly"
        """The reported score: image plus feature residual (``anomaly``), or either alone."""

    profiles = {"quick": Params(), "paper": Params(gan_epochs=250, encoder_epochs=250)}
    param_ranges = {
        **ReconstructionMethod.param_ranges,
        "gan_epochs": at_least(0),
        "encoder_epochs": at_least(0),
        "n_critic": at_least(1),
        "gradient_penalty": at_least(0),
        "kappa": at_least(0),
    }
    training_length = ("gan_epochs", "encoder_epochs")

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> FAnoGAN:
        from torch import nn
        from uadbench.methods.reconstruction_nets import ConvDecoder, Critic, conv_encoder
        from uadbench.methods.tensors import seeded_generator, to_signed_unit

        p, ctx = self.params, self.context
        device = ctx.device
        self.generator_ = ConvDecoder(p.image_size, p.latent_dim, p.base_width).to(device)
        self.critic_ = Critic(p.image_size, p.base_width).to(device)
        body, features = conv_encoder(p.image_size, p.base_width)
        self.encoder_ = nn.Sequential(body, nn.Linear(features, p.latent_dim)).to(device)
        images = to_signed_unit(train.images, device)
        generator = seeded_generator(ctx.seed)
        self._train_gan(images, generator)
        self._train_encoder(images, generator)
        self.encoder_.eval()
        self.warn_if_collapsed(self._regenerate, train.images)
        return self

    def _train_gan(self, images: torch.Tensor, generator: torch.Generator) -> None:
        import torch
        from uadbench.methods.reconstruction_nets import epoch_batches

        p, ctx = self.params, self.context
        adam = dict(lr=p.lr, betas=(0.0, 0.9))
        opt_g = torch.optim.Adam(self.generator_.parameters(), **adam)
        opt_d = torch.optim.Adam(self.critic_.parameters(), **adam)
        step = 0
        with ctx.progress.task("training f-anogan GAN", p.gan_epochs) as bar:
            batches = epoch_batches(len(images), p.gan_epochs, p.batch_size, generator)
            for epoch, epoch_batch_list in enumerate(batches):
                sums = np.zeros(3)
                for batch in epoch_batch_list:
                    real = images[batch]
                    fake = self.generator_(self._noise(len(batch), generator)).detach()
                    critic_loss = self.critic_(fake).mean() - self.critic_(real).mean()
                    penalty = self._penalty(real, fake, generator)
                    loss_d = critic_loss + p.gradient_penalty * penalty
                    opt_d.zero_grad(set_to_none=True)
                    loss_d.backward()
                    opt_d.step()
                    sums += [-critic_loss.item(), 0.0, 1]
                    step += 1
                    if step % p.n_critic == 0:
                        loss_g = -self.critic_(
                            self.generator_(self._noise(len(batch), generator))
                        ).mean()
                        opt_g.zero_grad(set_to_none=True)
                        loss_g.backward()
                        opt_g.step()
                        sums[1] += loss_g.item() * p.n_critic
                self._log_gan(epoch, sums, bar)

    def _log_gan(self, epoch: int, sums: np.ndarray, bar: object) -> None:
        distance = sums[0] / max(sums[2], 1)
        self.context.history.record(
            epoch,
            unit="epoch",
            wasserstein_estimate=distance,
            generator_loss=sums[1] / max(sums[2], 1),
        )
        bar.advance(wasserstein=distance)

    def _train_encoder(self, images: torch.Tensor, generator: torch.Generator) -> None:
        import torch
        from uadbench.methods.reconstruction_nets import epoch_batches

        p, ctx = self.params, self.context
        for module in (self.generator_, self.critic_):
            module.eval().requires_grad_(False)
        optimizer = torch.optim.Adam(self.encoder_.parameters(), lr=p.lr, betas=(0.5, 0.999))
        self.encoder_.train()

        def loss_of(x: torch.Tensor) -> torch.Tensor:
            image_part, feature_part = self._residuals(x)
            return (image_part + p.kappa * feature_part).mean()

        with ctx.progress.task("training f-anogan encoder", p.encoder_epochs) as bar:
            batches = epoch_batches(len(images), p.encoder_epochs, p.batch_size, generator)
            self.minimise(loss_of, optimizer, images, batches, "encoder_loss", bar)

    def _noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        import torch

        return torch.randn(n, self.params.latent_dim, generator=generator).to(self.context.device)

    def _penalty(
        self, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        import torch

        mix = torch.rand(len(real), 1, 1, 1, generator=generator).to(real.device)
        between = (mix * real + (1 - mix) * fake).requires_grad_(True)
        (gradient,) = torch.autograd.grad(self.critic_(between).sum(), between, create_graph=True)
        return (gradient.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def _regenerate(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator_(self.encoder_(x))

    def _residuals(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from uadbench.methods.reconstruction_nets import pixel_error

        rebuilt = self._regenerate(x)
        features = (self.critic_.features(rebuilt) - self.critic_.features(x)).pow(2).mean(dim=1)
        return pixel_error(rebuilt, x), features

    def anomaly_map(self, images: np.ndarray) -> np.ndarray:
        """The squared image residual of each pixel (Schlegl et al.'s map; the critic-feature
        part of the score has no place in the image)."""
        from uadbench.methods.reconstruction_nets import pixel_residual
        from uadbench.methods.tensors import batched_map

        return batched_map(
            lambda x: pixel_residual(self._regenerate(x), x), images, 128, self.context.device
        ).astype(np.float64)

    def score_variants(self, images: np.ndarray) -> dict[str, np.ndarray]:
        import torch
        from uadbench.methods.tensors import batched_map

        def parts(x: torch.Tensor) -> torch.Tensor:
            return torch.stack(self._residuals(x), dim=1)

        values = batched_map(parts, images, 128, self.context.device)
        return {
            "anomaly": values[:, 0] + self.params.kappa * values[:, 1],
            "image": values[:, 0],
            "features": values[:, 1],
        }
