"""The CutPaste augmentations (Li et al., CVPR 2021), as in the code AnatPaste builds on.

- ``normal``: a patch of area ``U(0.02, 0.15)`` of the image, aspect ratio log-uniform in
  [0.3, 1/0.3], cut from a random place, colour-jittered (brightness and contrast 0.1) and
  pasted, hard-edged, at another random place where it fits;
- ``scar``: a thin patch, width ``U[2, 16]`` and height ``U[10, 25]`` px (at 256 px), jittered,
  rotated by ``U[-45, 45]`` degrees and pasted where its rotated box fits;
- ``union``: normal or scar with equal chance, one "augmented" class (2 classes);
- ``3way``: originals, normal and scar as three classes.

Sizes scale from 256 px to the run's size; whole batches at once, on the run's device.
"""

from __future__ import annotations

import math

import torch
from uadbench.methods.pretext.paste import (
    Canvas,
    PasteTarget,
    integers,
    jitter,
    patch_sizes,
    random_corners,
    scale,
    source_index,
    uniform,
)

JITTER = 0.1
SCAR_WIDTH = (2, 16)
SCAR_HEIGHT = (10, 25)
SCAR_ANGLE = 45.0
VARIANTS = ("normal", "scar", "union", "3way")


def _to(device: torch.device, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(device) for t in tensors]


def _paste_patch(
    images: torch.Tensor,
    canvas: Canvas,
    patch: torch.Tensor,
    in_patch: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    out = PasteTarget(images)
    canvas.put(out, jitter(patch, in_patch, JITTER, generator), in_patch)
    return out.result()


def cutpaste_normal(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A rectangular patch of each image moved elsewhere in it."""
    batch, size = images.shape[0], images.shape[-1]
    heights, widths = patch_sizes(batch, size, generator)
    source = random_corners(heights, widths, size, generator)
    target = random_corners(heights, widths, size, generator)
    heights, widths, *corners = _to(images.device, heights, widths, *source, *target)
    everyone = torch.arange(batch, device=images.device)
    canvas = Canvas(everyone, *corners[2:], int(heights.max()), int(widths.max()), size)
    in_patch = (canvas.r < heights.view(-1, 1, 1)) & (canvas.c < widths.view(-1, 1, 1))
    patch = source_index(images, everyone, *corners[:2], canvas.r, canvas.c)
    return _paste_patch(images, canvas, patch, in_patch, generator)


def cutpaste_scar(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A thin patch of each image, rotated, moved elsewhere in it."""
    batch, size = images.shape[0], images.shape[-1]
    s = scale(size)
    widths = integers(round(SCAR_WIDTH[0] * s), round(SCAR_WIDTH[1] * s), batch, generator)
    heights = integers(round(SCAR_HEIGHT[0] * s), round(SCAR_HEIGHT[1] * s), batch, generator)
    widths, heights = widths.clamp(min=1), heights.clamp(min=1)
    source = random_corners(heights, widths, size, generator)
    angle = uniform(batch, -SCAR_ANGLE, SCAR_ANGLE, generator) * math.pi / 180
    # the rotated patch's bounding box, placed so that it lies inside the image
    cos, sin = angle.cos().abs(), angle.sin().abs()
    box_h = torch.ceil(heights * cos + widths * sin).long().clamp(max=size)
    box_w = torch.ceil(heights * sin + widths * cos).long().clamp(max=size)
    target = random_corners(box_h, box_w, size, generator)
    heights, widths, angle, box_h, box_w, *corners = _to(
        images.device, heights, widths, angle, box_h, box_w, *source, *target
    )
    everyone = torch.arange(batch, device=images.device)
    canvas = Canvas(everyone, *corners[2:], int(box_h.max()), int(box_w.max()), size)
    # canvas pixel -> the patch's own frame (rotated back about the box centre)
    dy = canvas.r - (box_h.view(-1, 1, 1) - 1) / 2
    dx = canvas.c - (box_w.view(-1, 1, 1) - 1) / 2
    cos, sin = angle.cos().view(-1, 1, 1), angle.sin().view(-1, 1, 1)
    v, u = cos * dy - sin * dx, sin * dy + cos * dx
    half_h, half_w = ((heights - 1) / 2).view(-1, 1, 1), ((widths - 1) / 2).view(-1, 1, 1)
    in_patch = (v.abs() <= half_h + 0.49) & (u.abs() <= half_w + 0.49)
    rows, cols = (v + half_h).round().long(), (u + half_w).round().long()
    patch = source_index(images, everyone, *corners[:2], rows, cols)
    return _paste_patch(images, canvas, patch, in_patch, generator)


class CutPasteAugmentation:
    """Callable: ``(images (B, H, W) in [0, 1], their indices (unused), generator)`` -> the
    augmented views with their class labels, and 0 (no lung-mask fallbacks)."""

    def __init__(self, variant: str) -> None:
        if variant not in VARIANTS:
            raise ValueError(
                f"unknown CutPaste variant {variant!r}; choose from {', '.join(VARIANTS)}"
            )
        self.variant = variant
        self.n_classes = 3 if variant == "3way" else 2

    def notes(self, fallbacks: int) -> dict[str, int]:
        """Nothing to say: CutPaste needs no lung mask, so it never falls back."""
        return {}

    def __call__(
        self, images: torch.Tensor, indices: torch.Tensor | None, generator: torch.Generator
    ) -> tuple[list[tuple[torch.Tensor, int]], int]:
        if self.variant == "normal":
            return [(cutpaste_normal(images, generator), 1)], 0
        if self.variant == "scar":
            return [(cutpaste_scar(images, generator), 1)], 0
        normal, scar = cutpaste_normal(images, generator), cutpaste_scar(images, generator)
        if self.variant == "3way":
            return [(normal, 1), (scar, 2)], 0
        coin = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device)
        return [(torch.where(coin.view(-1, 1, 1), normal, scar), 1)], 0
