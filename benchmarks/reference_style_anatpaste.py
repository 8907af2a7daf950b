"""AnatPaste done the way the reference code does it: one image at a time, the lung mask
recomputed for every sample, PIL crop, jitter, blur and paste. Used only as the baseline of
``augmentation_speed.py``; uadbench itself uses the batched version."""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from torchvision.transforms import ColorJitter
from uadbench.methods.lung_mask import lung_mask

JITTER = ColorJitter(0.1, 0.1, 0.1, 0.1)


def anatpaste_one(image: Image.Image, rng: random.Random) -> Image.Image:
    """One augmented copy of a grayscale PIL image."""
    size = image.size[0]
    s = size / 256
    mask = lung_mask(np.asarray(image))  # the reference recomputes it for every sample
    area = rng.uniform(0.02, 0.15) * size * size
    aspect = math.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3)))
    w = min(size, max(1, round(math.sqrt(area * aspect))))
    h = min(size, max(1, round(math.sqrt(area / aspect))))
    x0, y0 = rng.randint(0, size - w), rng.randint(0, size - h)
    patch = JITTER(image.crop((x0, y0, x0 + w, y0 + h)))
    ys, xs = np.nonzero(mask)
    if len(ys):
        k = rng.randrange(len(ys))
        cy, cx = int(ys[k]), int(xs[k])
    else:
        cy, cx = rng.randrange(size), rng.randrange(size)
    top, left = cy - h // 2, cx - w // 2
    shape = Image.new("L", (w, h), 0)
    margin = round(10 * s)
    box = (margin, margin, w - 1 - margin, h - 1 - margin)
    value = rng.randint(150, 254)
    if box[2] >= box[0] and box[3] >= box[1]:
        draw = ImageDraw.Draw(shape)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=value)
    shape = shape.filter(ImageFilter.GaussianBlur(rng.randint(0, 14) * s))
    lungs = Image.fromarray((mask * 255).astype(np.uint8)).crop((left, top, left + w, top + h))
    if len(ys):
        shape = ImageChops.multiply(shape, lungs)
    out = image.copy()
    out.paste(patch, (left, top), shape)
    return out
