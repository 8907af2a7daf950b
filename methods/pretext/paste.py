"""Batched cut-and-paste on tensors: patch sizes, canvases, gathering, jitter, blurred shapes.

Every function works on a whole batch at once (images ``(B, H, W)`` in [0, 1] on any device).
Work happens on a *canvas* per sample, a box of the largest patch size in the batch placed at
each sample's target, so a batch costs in proportion to its patches, not to its images.
Per-sample random numbers come from a CPU ``torch.Generator`` and move to the device, so the
same seed gives the same batch on every device. Sizes are pixels of the run's image.
"""

from __future__ import annotations

import math

import torch
from uadbench.methods.constants import REFERENCE_SIZE


def scale(size: int) -> float:
    """Factor from the reference's 256 px constants to ``size``."""
    return size / REFERENCE_SIZE


def uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` floats in [low, high) (CPU)."""
    return low + (high - low) * torch.rand(n, generator=generator)


def integers(
    low: torch.Tensor | int, high: torch.Tensor | int, n: int, generator: torch.Generator
) -> torch.Tensor:
    """``n`` integers in [low, high] (both inclusive; per element when tensors) (CPU)."""
    low, high = torch.as_tensor(low).expand(n), torch.as_tensor(high).expand(n)
    span = (high - low + 1).clamp(min=1)
    return low + (torch.rand(n, generator=generator) * span).long().clamp(max=span - 1)


def patch_sizes(
    n: int,
    size: int,
    generator: torch.Generator,
    area: tuple[float, float] = (0.02, 0.15),
    aspect: float = 0.3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Heights and widths: area ``U(area) * size**2``, aspect ratio log-uniform in
    ``[aspect, 1 / aspect]`` (the CutPaste / AnatPaste sampling)."""
    areas = uniform(n, *area, generator) * size * size
    ratios = torch.exp(uniform(n, math.log(aspect), math.log(1 / aspect), generator))
    widths = torch.sqrt(areas * ratios).round().long().clamp(1, size)
    heights = torch.sqrt(areas / ratios).round().long().clamp(1, size)
    return heights, widths


def random_corners(
    heights: torch.Tensor, widths: torch.Tensor, size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left corners of boxes that lie fully inside the image."""
    n = len(heights)
    return integers(0, size - heights, n, generator), integers(0, size - widths, n, generator)


class Canvas:
    """A ``rows x cols`` window over image ``batch_index[i]`` of a batch, its top-left corner at
    (``top[i]``, ``left[i]``) (it may stick out of the image; those pixels are invalid)."""

    def __init__(
        self,
        batch_index: torch.Tensor,
        top: torch.Tensor,
        left: torch.Tensor,
        rows: int,
        cols: int,
        size: int,
    ) -> None:
        device = top.device
        self.r = torch.arange(rows, device=device).view(1, -1, 1)
        self.c = torch.arange(cols, device=device).view(1, 1, -1)
        image_rows = top.view(-1, 1, 1) + self.r
        image_cols = left.view(-1, 1, 1) + self.c
        self.in_image = ((image_rows >= 0) & (image_rows < size)) & (
            (image_cols >= 0) & (image_cols < size)
        )
        base = batch_index.view(-1, 1, 1) * size * size
        self.index = base + image_rows.clamp(0, size - 1) * size + image_cols.clamp(0, size - 1)

    def take(self, images: torch.Tensor) -> torch.Tensor:
        """The pixels under the canvas (edge-clamped where it sticks out) of a batch or stack."""
        return images.reshape(-1)[self.index]

    def put(self, out: PasteTarget, values: torch.Tensor, where: torch.Tensor) -> None:
        """Write ``values`` into ``out`` at the canvas pixels where ``where`` is true."""
        index = torch.where(where & self.in_image, self.index, out.discard)
        out.flat.index_put_((index.reshape(-1),), values.reshape(-1).to(out.flat.dtype))


class PasteTarget:
    """A copy of a batch that canvases write into, with one spare element that takes the writes
    of canvas pixels that must not land (outside the patch or the image)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.shape = images.shape
        self.discard = images.numel()
        self.flat = torch.empty(self.discard + 1, dtype=images.dtype, device=images.device)
        self.flat[:-1] = images.reshape(-1)

    def result(self) -> torch.Tensor:
        return self.flat[:-1].view(self.shape)


def source_index(
    images: torch.Tensor,
    batch_index: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    dy: torch.Tensor,
    dx: torch.Tensor,
) -> torch.Tensor:
    """Pixels at (``top + dy``, ``left + dx``) of images ``batch_index`` (edge-clamped)."""
    size = images.shape[-1]
    rows = (top.view(-1, 1, 1) + dy).clamp(0, size - 1)
    cols = (left.view(-1, 1, 1) + dx).clamp(0, size - 1)
    return images.reshape(-1)[batch_index.view(-1, 1, 1) * size * size + rows * size + cols]


def jitter(
    values: torch.Tensor, weight: torch.Tensor, strength: float, generator: torch.Generator
) -> torch.Tensor:
    """ColorJitter's brightness then contrast (factors ``U(1 - s, 1 + s)``) per sample, the
    contrast pivoting on the mean of the pixels ``weight`` marks; on grey images ColorJitter's
    saturation and hue change nothing."""
    n, device = values.shape[0], values.device
    brightness = uniform(n, 1 - strength, 1 + strength, generator).to(device).view(-1, 1, 1)
    contrast = uniform(n, 1 - strength, 1 + strength, generator).to(device).view(-1, 1, 1)
    values = (values * brightness).clamp(0, 1)
    weight = weight.to(values.dtype)
    mean = (values * weight).sum(dim=(1, 2), keepdim=True) / weight.sum(
        dim=(1, 2), keepdim=True
    ).clamp(min=1)
    return ((values - mean) * contrast + mean).clamp(0, 1)


def jitter_images(
    images: torch.Tensor, strength: float, generator: torch.Generator
) -> torch.Tensor:
    """Brightness and contrast jitter of whole images ``(B, H, W)``."""
    return jitter(images, torch.ones_like(images, dtype=torch.bool), strength, generator)


def blurred_shape(
    top: torch.Tensor,
    left: torch.Tensor,
    bottom: torch.Tensor,
    right: torch.Tensor,
    ellipse: torch.Tensor,
    sigma: torch.Tensor,
    rows: int,
    cols: int,
) -> torch.Tensor:
    """Filled rectangles or ellipses (inclusive pixel boxes in canvas coordinates, per sample),
    blurred by a Gaussian of standard deviation ``sigma`` (0 = sharp): ``(B, rows, cols)``.

    Each row of a rectangle or ellipse is one run of pixels, so the horizontal blur is exact in
    closed form (a difference of two normal CDFs); so is the vertical blur of a rectangle,
    which is separable. Ellipses are blurred vertically by an FFT convolution along the
    columns, with enough zero padding that nothing wraps around.
    """
    device = top.device
    r = torch.arange(rows, device=device, dtype=torch.float32).view(1, -1, 1)
    c = torch.arange(cols, device=device, dtype=torch.float32).view(1, 1, -1)
    top, left, bottom, right = (t.float().view(-1, 1, 1) for t in (top, left, bottom, right))
    s = sigma.float().view(-1, 1, 1)
    rectangle = _run(r, top - 0.5, bottom + 0.5, s) * _run(c, left - 0.5, right + 0.5, s)
    if not bool(ellipse.any()):
        return rectangle
    e = ellipse.to(device)
    cy, cx = (top[e] + bottom[e]) / 2, (left[e] + right[e]) / 2
    ry, rx = (bottom[e] - top[e]) / 2 + 0.5, (right[e] - left[e]) / 2 + 0.5
    chord = rx * torch.sqrt((1 - ((r - cy) / ry) ** 2).clamp(min=0))
    present = (r >= top[e]) & (r <= bottom[e])
    rows_blurred = (
        _run(c, torch.ceil(cx - chord) - 0.5, torch.floor(cx + chord) + 0.5, s[e]) * present
    )
    rectangle[e] = _blur_columns(rows_blurred, sigma[e])
    return rectangle


def _run(
    x: torch.Tensor, start: torch.Tensor, end: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """The indicator of [start, end] convolved with a Gaussian of ``sigma``, sampled at ``x``."""
    scale = sigma.clamp(min=1e-4) * math.sqrt(2)
    run = 0.5 * (torch.erf((x - start) / scale) - torch.erf((x - end) / scale))
    return run * (end > start)


def _blur_columns(values: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur along dim 1 with a per-sample ``sigma`` (FFT, zero padded)."""
    if float(sigma.max()) == 0:
        return values
    rows = values.shape[1]
    pad = math.ceil(4 * float(sigma.max())) + 1
    length = rows + 2 * pad
    spectrum = torch.fft.rfft(torch.nn.functional.pad(values, (0, 0, pad, pad)), dim=1)
    freq = torch.fft.rfftfreq(length, device=values.device).view(1, -1, 1)
    transfer = torch.exp(-2 * (math.pi * freq * sigma.float().view(-1, 1, 1)) ** 2)
    return torch.fft.irfft(spectrum * transfer, n=length, dim=1)[:, pad : pad + rows].clamp(0, 1)


class PixelTable:
    """The true pixels of many masks ``(N, H, W)``, listed once, to draw one per mask in O(1)."""

    def __init__(self, masks: torch.Tensor) -> None:
        flat = masks.reshape(len(masks), -1)
        self.size = masks.shape[-1]
        self.counts = flat.sum(dim=1)
        self.offsets = self.counts.cumsum(dim=0) - self.counts
        self.pixels = flat.nonzero()[:, 1]

    def draw(
        self, which: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pixel of each mask in ``which`` (uniformly; anywhere if it is empty): rows,
        columns, and which masks were empty."""
        counts = self.counts[which]
        empty = counts == 0
        draw = torch.rand(len(which), generator=generator).to(counts.device)
        anywhere = (draw * self.size * self.size).long()
        if len(self.pixels):
            pick = self.offsets[which] + (draw * counts).long().clamp(max=(counts - 1).clamp(min=0))
            inside = self.pixels[pick.clamp(max=len(self.pixels) - 1)]
        else:
            inside = anywhere
        index = torch.where(empty, anywhere, inside)
        return index // self.size, index % self.size, empty
