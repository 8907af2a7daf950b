"""Small torch helpers shared by methods: uint8 images to tensors, seeded generators, batched
inference."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def to_signed_unit(images: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """uint8 ``(N, H, W)`` -> float ``(N, 1, H, W)`` in [-1, 1] on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return tensor.unsqueeze(1).float().div_(127.5).sub_(1.0)


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator for shuffling and sampling, independent of the global torch seed."""
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def batched_map(
    fn: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray, batch_size: int, device: str
) -> np.ndarray:
    """Apply ``fn`` to ``images`` in batches (as [-1, 1] tensors) and concatenate the results."""
    outputs = [
        fn(to_signed_unit(images[start : start + batch_size], device)).detach().cpu()
        for start in range(0, len(images), batch_size)
    ]
    return torch.cat(outputs).numpy() if outputs else np.empty((0,))
