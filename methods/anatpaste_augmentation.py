"""The AnatPaste augmentation (Sato et al., iScience 2023): paste a patch of the image itself,
softly, into the lungs.

Per image, with the reference code's constants at 256 px scaled to the run's size:
- a patch of area ``U(0.02, 0.15)`` of the image, aspect ratio log-uniform in [0.3, 1/0.3], is
  cut from anywhere in the same image and colour-jittered (brightness and contrast 0.1);
- its centre goes to one pixel of the lung mask drawn uniformly (anywhere if the mask is empty);
- it is blended through an alpha mask: an ellipse (p = 0.5) or rectangle inside the patch box
  shrunk by 10 px per side, of value ``U{150..254} / 255``, Gaussian-blurred with radius
  ``U{0..14}`` px, and multiplied by the lung mask, so nothing lands outside the lungs:
  ``out = x * (1 - alpha) + patch * alpha``.

The whole batch is augmented at once on the run's device (no per-image Python loop).
"""

from __future__ import annotations

import torch
from uadbench.methods.pretext.paste import (
    Canvas,
    PasteTarget,
    PixelTable,
    blurred_shape,
    integers,
    jitter,
    patch_sizes,
    random_corners,
    scale,
    source_index,
)

MARGIN = 10
"""Pixels (at 256 px) between the patch box and the alpha shape."""
VALUES = (150, 254)
"""Range of the alpha shape's fill value, out of 255."""
MAX_BLUR = 14
"""Largest blur radius (at 256 px)."""
JITTER = 0.1


CHUNKS = 4
"""The batch is cut into this many groups of similar patch height, each on its own canvas."""


class AnatPasteAugmentation:
    """AnatPaste for the images whose lung masks it holds.

    Built once from the training set's lung masks ``(N, H, W)`` (on the run's device); called
    with a batch of those images ``(B, H, W)`` in [0, 1], their indices in the training set and
    a generator; returns ``([(augmented batch, class 1)], number of empty masks)``.
    """

    n_classes = 2

    def __init__(self, lung_masks: torch.Tensor) -> None:
        self.lung_masks = lung_masks
        self.lung_pixels = PixelTable(lung_masks)

    def notes(self, fallbacks: int) -> dict[str, int]:
        """How many of the images have an empty lung mask, and how many pastes therefore went
        anywhere (``fallbacks``, counted by the caller)."""
        empty = int((~self.lung_masks.flatten(1).any(1)).sum())
        return {"empty_lung_masks": empty, "pastes_anywhere": fallbacks}

    def __call__(
        self, images: torch.Tensor, indices: torch.Tensor, generator: torch.Generator
    ) -> tuple[list[tuple[torch.Tensor, int]], int]:
        batch, size, device = images.shape[0], images.shape[-1], images.device
        s = scale(size)
        heights, widths = patch_sizes(batch, size, generator)
        source_top, source_left = random_corners(heights, widths, size, generator)
        indices = indices.to(device)
        rows, cols, empty = self.lung_pixels.draw(indices, generator)
        ellipse = torch.rand(batch, generator=generator) < 0.5
        value = integers(*VALUES, batch, generator).float() / 255
        sigma = integers(0, MAX_BLUR, batch, generator) * s
        order = torch.argsort(heights)
        out = PasteTarget(images)
        margin = round(MARGIN * s)
        for chunk in torch.tensor_split(order, min(CHUNKS, batch)):
            on = chunk.to(device)
            h, w = heights[chunk].to(device), widths[chunk].to(device)
            canvas = Canvas(
                on, rows[on] - h // 2, cols[on] - w // 2, int(h.max()), int(w.max()), size
            )
            lungs = Canvas(
                indices[on], rows[on] - h // 2, cols[on] - w // 2, *canvas.index.shape[1:], size
            )
            in_patch = (canvas.r < h.view(-1, 1, 1)) & (canvas.c < w.view(-1, 1, 1))
            source = (source_top[chunk].to(device), source_left[chunk].to(device))
            patch = jitter(
                source_index(images, on, *source, canvas.r, canvas.c), in_patch, JITTER, generator
            )
            zero = torch.zeros_like(h)
            shape = blurred_shape(
                zero + margin,
                zero + margin,
                h - 1 - margin,
                w - 1 - margin,
                ellipse[chunk],
                sigma[chunk].to(device),
                *patch.shape[1:],
            )
            # an empty lung mask means "paste anywhere": then it does not gate the alpha
            gate = lungs.take(self.lung_masks) | empty[on].view(-1, 1, 1)
            alpha = shape * (in_patch & gate) * value[chunk].to(device).view(-1, 1, 1)
            canvas.put(out, canvas.take(images) * (1 - alpha) + patch * alpha, in_patch)
        return [(out.result(), 1)], empty.sum()  # a tensor: summed on the device
