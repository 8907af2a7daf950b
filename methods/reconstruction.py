"""The base of the reconstruction baselines (AE, VAE, f-AnoGAN): DCGAN-style networks, so image
sizes of 4 * 2**k; the shared epoch loop and collapse check. The networks are in
``reconstruction_nets``, imported where they are used, so that the methods can be listed
without importing torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from uadbench import Method
from uadbench.contracts.method import POSITIVE, at_least
from uadbench.errors import ParameterError

if TYPE_CHECKING:
    import torch


def check_size(method: str, size: int) -> None:
    """Raise ``ParameterError`` unless ``size`` is 4 * 2**k with k >= 2."""
    stages = math.log2(size / 4) if size >= 16 else -1
    if stages != int(stages) or stages < 2:
        raise ParameterError(
            f"method {method!r} needs an image size of 4 * 2**k (16, 32, 64, 128, ...); got {size}"
        )


class ReconstructionMethod(Method):
    """Base of the reconstruction baselines: DCGAN-style networks, so sizes of 4 * 2**k."""

    family = "reconstruction"
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
            self.context.history.record(epoch, unit="epoch", **{curve: mean})
            bar.advance(loss=mean)

    def warn_if_collapsed(
        self, rebuild: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray
    ) -> None:
        """Warn in the run record when ``rebuild`` gives every one of (up to 256 of) ``images``
        nearly the same reconstruction."""
        import torch
        from uadbench.methods.reconstruction_nets import collapse_warning
        from uadbench.methods.tensors import batched_map

        rebuilt = batched_map(rebuild, images[:256], 128, self.context.device)
        if warning := collapse_warning(torch.from_numpy(rebuilt)):
            self.context.history.warn(warning)
