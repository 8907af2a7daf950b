"""Small torch helpers shared by methods: uint8 images to tensors, seeded mini-batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def to_signed_unit(images: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """uint8 ``(N, H, W)`` -> float ``(N, 1, H, W)`` in [-1, 1] on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return tensor.unsqueeze(1).float().div_(127.5).sub_(1.0)


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index batches over a fresh permutation of ``range(n)``; the last short batch is dropped
    when it would hold fewer than two images (batch norm needs two)."""
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]
        if len(batch) >= 2 or n < 2:
            yield batch


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator for shuffling and sampling, independent of the global torch seed."""
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def batched_map(fn, images: np.ndarray, batch_size: int, device: str) -> np.ndarray:
    """Apply ``fn`` to ``images`` in batches (as [-1, 1] tensors) and concatenate the results."""
    outputs = [
        fn(to_signed_unit(images[start : start + batch_size], device)).detach().cpu()
        for start in range(0, len(images), batch_size)
    ]
    return torch.cat(outputs).numpy() if outputs else np.empty((0,))
