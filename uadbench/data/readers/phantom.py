"""Procedural chest-radiograph phantoms with known lesions and known lung masks.

A phantom is a PA chest radiograph drawn from simple shapes: the body outline against dark air,
two lung fields with vessel texture, the heart shadow, mediastinum and spine, posterior and
anterior ribs, clavicles and the diaphragm with the liver and gastric bubble below it. Every
anatomical parameter varies from "patient" to "patient", and the whole image is rotated, scaled,
shifted, contrast-adjusted and noised. Abnormal phantoms carry one finding:

- ``consolidation``: a lobulated focal opacity inside one lung, bounded by the lung;
- ``nodule``: one to three small round opacities inside the lungs;
- ``effusion``: fluid in the lower pleural space of one side, rising laterally in a meniscus
  and blunting the costophrenic angle;
- ``cardiomegaly``: a heart shadow wider than half the thorax.

Everything is drawn in normalised coordinates (x, y in [0, 1], y downwards), so a phantom looks
the same at every size. Each phantom is fully determined by its seed.

Example:
    >>> from uadbench.data.readers.phantom import ChestPhantom
    >>> import numpy as np
    >>> phantom = ChestPhantom.sample(np.random.default_rng(0), finding="nodule")
    >>> image, lung_mask = phantom.render(128)
    >>> image.shape, image.dtype, lung_mask.dtype
    ((128, 128), dtype('uint8'), dtype('bool'))

Over 300 lines on purpose: the anatomy and the four findings are drawn together, each finding
on the anatomy it belongs to, so they share one module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

FINDINGS = ("consolidation", "nodule", "effusion", "cardiomegaly")
"""The abnormal findings a phantom can carry."""

PHANTOM_VERSION = 1
"""Bumped whenever drawing changes, so that caches and split versions change with it."""


@dataclass(frozen=True)
class Lesion:
    """One finding inside the chest: its kind and the parameters that draw it."""

    kind: str
    side: int = -1  # -1: patient's right (image left), +1: patient's left (image right)
    params: tuple[float, ...] = ()


@dataclass(frozen=True)
class ChestPhantom:
    """Anatomy and findings of one synthetic patient (all lengths relative to the image)."""

    rotation_deg: float
    scale: float
    shift: tuple[float, float]
    body_half_width: float
    lung_offset: float
    lung_half_width: tuple[float, float]
    lung_top: float
    dome_height: tuple[float, float]
    heart_center: tuple[float, float]
    heart_axes: tuple[float, float]
    rib_start: float
    rib_spacing: float
    clavicle_height: float
    tissue: float
    lung_darkness: float
    bone: float
    gastric_bubble: bool
    contrast: float
    gamma: float
    noise: float
    texture_seed: int
    lesions: tuple[Lesion, ...] = field(default=())

    @classmethod
    def sample(cls, rng: np.random.Generator, finding: str | None = None) -> ChestPhantom:
        """Draw a patient; ``finding`` is one of FINDINGS, or None for a normal chest."""
        if finding is not None and finding not in FINDINGS:
            raise ValueError(f"unknown finding {finding!r}; choose from {', '.join(FINDINGS)}")
        lung_half = float(rng.uniform(0.14, 0.16))
        heart_half_width = float(rng.uniform(0.145, 0.17))
        heart_height = float(rng.uniform(0.14, 0.17))
        if finding == "cardiomegaly":
            heart_half_width *= float(rng.uniform(1.35, 1.6))
            heart_height *= float(rng.uniform(1.15, 1.3))
        phantom = cls(
            rotation_deg=float(rng.uniform(-5, 5)),
            scale=float(rng.uniform(0.92, 1.05)),
            shift=(float(rng.normal(0, 0.015)), float(rng.normal(0, 0.015))),
            body_half_width=float(rng.uniform(0.43, 0.47)),
            lung_offset=float(rng.uniform(0.2, 0.215)),
            lung_half_width=(lung_half, lung_half * float(rng.uniform(0.92, 1.0))),
            lung_top=float(rng.uniform(0.12, 0.16)),
            dome_height=(float(rng.uniform(0.67, 0.71)), float(rng.uniform(0.69, 0.74))),
            heart_center=(0.5 + float(rng.uniform(0.05, 0.07)), float(rng.uniform(0.6, 0.64))),
            heart_axes=(heart_half_width, heart_height),
            rib_start=float(rng.uniform(0.17, 0.2)),
            rib_spacing=float(rng.uniform(0.058, 0.066)),
            clavicle_height=float(rng.uniform(0.1, 0.13)),
            tissue=float(rng.uniform(0.45, 0.55)),
            lung_darkness=float(rng.uniform(0.12, 0.2)),
            bone=float(rng.uniform(0.06, 0.1)),
            gastric_bubble=bool(rng.random() < 0.6),
            contrast=float(rng.uniform(0.85, 1.15)),
            gamma=float(rng.uniform(0.85, 1.2)),
            noise=float(rng.uniform(0.01, 0.025)),
            texture_seed=int(rng.integers(2**31)),
        )
        if finding in ("consolidation", "nodule", "effusion"):
            phantom = phantom._with_lesions(_sample_lesions(rng, finding))
        elif finding == "cardiomegaly":
            phantom = phantom._with_lesions((Lesion("cardiomegaly"),))
        return phantom

    def _with_lesions(self, lesions: tuple[Lesion, ...]) -> ChestPhantom:
        return ChestPhantom(**{**self.__dict__, "lesions": lesions})

    @property
    def finding(self) -> str:
        """The finding's name, or "normal"."""
        return self.lesions[0].kind if self.lesions else "normal"

    def render(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw the radiograph at ``size`` x ``size``: an 8-bit image and its true lung mask."""
        image, lung_mask, _ = self._draw(size)
        return image, lung_mask

    def lesion_mask(self, size: int) -> np.ndarray:
        """Where the findings lie at ``size`` x ``size`` (bool; empty for a normal chest): a
        consolidation where its opacity reaches a quarter of its peak, a nodule within its
        radius, an effusion below its fluid line, cardiomegaly the enlarged heart."""
        return self._draw(size)[2]

    def _draw(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y = self._grid(size)
        px = 1.0 / size
        body = _ellipse(x, y, 0.5, 0.66, self.body_half_width, 0.62) | _ellipse(
            x, y, 0.5, 0.02, 0.1, 0.16
        )
        shoulders = _ellipse(x, y, 0.5, 0.3, self.body_half_width * 1.05, 0.22)
        body = body | shoulders
        lungs = [self._lung(x, y, side) for side in (-1, 1)]
        lung_field = lungs[0] | lungs[1]
        heart = _ellipse(x, y, *self.heart_center, *self.heart_axes)
        below_diaphragm = self._below_diaphragm(x, y) & body

        texture_rng, lesion_rng, noise_rng = (
            np.random.default_rng([self.texture_seed, stream]) for stream in range(3)
        )
        image = np.full((size, size), 0.03)
        image[body] = self.tissue
        image[below_diaphragm] = self.tissue + 0.08
        lung_soft = _soften(lung_field, 0.006, px)
        vessels = _smooth_noise(texture_rng, size, 0.012) * 0.05 + self._hilar_shadow(x, y)
        image = image - lung_soft * (self.tissue - self.lung_darkness - vessels)
        if self.gastric_bubble:
            bubble = _ellipse(x, y, 0.64, self.dome_height[1] + 0.05, 0.04, 0.025)
            image = image - 0.15 * _soften(bubble & below_diaphragm, 0.004, px)
        heart_soft = _soften(heart & ~below_diaphragm, 0.004, px)
        image = image + heart_soft * np.clip(self.tissue + 0.04 - image, 0, None)
        image = image + self._spine(x, y) + self._ribs(x, y) * body + self._clavicles(x, y)
        image, lesions = self._draw_lesions(image, x, y, lungs, lesion_rng, px)
        if self.finding == "cardiomegaly":
            lesions = heart & ~below_diaphragm

        image = np.clip(image, 0, 1)
        image = np.clip((image - 0.5) * self.contrast + 0.5, 0, 1) ** self.gamma
        image = ndimage.gaussian_filter(image, sigma=0.6 * size / 128)
        image = image + noise_rng.normal(0, self.noise, image.shape)
        lung_mask = _drop_specks(lung_field & ~heart)
        return (np.clip(image, 0, 1) * 255).round().astype(np.uint8), lung_mask, lesions

    # -- geometry ----------------------------------------------------------------------------

    def _grid(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel centres mapped back into the phantom's own frame (rotation, scale, shift)."""
        coords = (np.arange(size) + 0.5) / size
        y, x = np.meshgrid(coords, coords, indexing="ij")
        angle = np.deg2rad(self.rotation_deg)
        dx, dy = x - 0.5 - self.shift[0], y - 0.5 - self.shift[1]
        u = (np.cos(angle) * dx + np.sin(angle) * dy) / self.scale + 0.5
        v = (-np.sin(angle) * dx + np.cos(angle) * dy) / self.scale + 0.5
        return u, v

    def _diaphragm(self, x: np.ndarray, side: int) -> np.ndarray:
        """Height of the hemidiaphragm on ``side``: a dome, lowest laterally."""
        centre = 0.5 + side * self.lung_offset
        dome = self.dome_height[0 if side < 0 else 1]
        return dome + 2.2 * (x - (centre - side * 0.02)) ** 2

    def _below_diaphragm(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        line = np.where(x < 0.5, self._diaphragm(x, -1), self._diaphragm(x, 1))
        return y > line

    def _lung(self, x: np.ndarray, y: np.ndarray, side: int) -> np.ndarray:
        """One lung field: a rounded apex, convex lateral border, cut by its hemidiaphragm."""
        centre = 0.5 + side * self.lung_offset
        half_width = self.lung_half_width[0 if side < 0 else 1]
        dome = self.dome_height[0 if side < 0 else 1]
        half_height = (dome + 0.1 - self.lung_top) / 2
        cy = self.lung_top + half_height
        # Narrow apex, broad base.
        widening = 0.8 + 0.3 * np.clip((y - self.lung_top) / (2 * half_height), 0, 1)
        shape = np.abs((x - centre) / (half_width * widening)) ** 2.4
        shape = shape + np.abs((y - cy) / half_height) ** 2.2
        return (shape < 1) & (y < self._diaphragm(x, side))

    def _hilar_shadow(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Brighter vessels near the hila, fading towards the periphery."""
        near = sum(
            np.exp(-(((x - (0.5 + s * 0.1)) / 0.06) ** 2 + ((y - 0.45) / 0.1) ** 2))
            for s in (-1, 1)
        )
        return 0.08 * near

    def _spine(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        across = ((x - 0.5) / 0.035) ** 2
        column = np.exp(-across * across)
        vertebrae = 0.5 + 0.5 * np.cos(2 * np.pi * (y - self.rib_start) / self.rib_spacing * 0.75)
        return self.bone * column * (0.8 + 0.4 * vertebrae) * (y > 0.05)

    def _ribs(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Posterior ribs (arching laterally and down) and fainter anterior ribs."""
        w = np.abs(x - 0.5)
        ribs = np.zeros_like(x)
        thickness = 0.3 * self.rib_spacing
        for k in range(9):
            start = self.rib_start + k * self.rib_spacing
            posterior = start - 0.08 * w + 0.7 * w**2
            ribs += np.exp(-(((y - posterior) / thickness) ** 2)) * (w > 0.03) * (w < 0.34)
            anterior = start + 0.05 + 0.35 * (0.34 - w) ** 2 * 2
            ribs += 0.5 * np.exp(-(((y - anterior) / (0.8 * thickness)) ** 2)) * (w > 0.08)
        return self.bone * 0.9 * ribs * (w < 0.36)

    def _clavicles(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        w = np.abs(x - 0.5)
        line = self.clavicle_height + 0.06 - 0.2 * w + 0.15 * (w - 0.15) ** 2
        band = np.exp(-(((y - line) / 0.014) ** 2)) * (w > 0.03) * (w < 0.3)
        return 1.6 * self.bone * band

    # -- findings ----------------------------------------------------------------------------

    def _draw_lesions(
        self,
        image: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        lungs: list[np.ndarray],
        rng: np.random.Generator,
        px: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The image with the local findings drawn in, and where they lie."""
        where = np.zeros(x.shape, dtype=bool)
        for lesion in self.lesions:
            lung = lungs[0 if lesion.side < 0 else 1]
            if lesion.kind == "consolidation":
                cx, cy = self._inside(lesion.params[:2], lesion.side)
                radius, strength = lesion.params[2:4]
                blobs = np.zeros_like(x)
                for _ in range(5):
                    ox, oy = rng.normal(0, radius * 0.6, 2)
                    r = radius * rng.uniform(0.5, 1.0)
                    blobs += np.exp(-(((x - cx - ox) ** 2 + (y - cy - oy) ** 2) / r**2))
                opacity = np.clip(blobs, 0, 1) ** 0.7 * _soften(lung, 0.01, px)
                image = image + strength * opacity * (1 + 0.2 * _smooth_noise(rng, len(x), 0.02))
                where |= opacity >= 0.25 * opacity.max()
            elif lesion.kind == "nodule":
                cx, cy = self._inside(lesion.params[:2], lesion.side)
                radius, strength = lesion.params[2:4]
                distance = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
                image = image + strength / (1 + np.exp((distance - radius) / (0.15 * radius)))
                where |= distance <= radius
            elif lesion.kind == "effusion":
                height, meniscus, strength = lesion.params
                centre = 0.5 + lesion.side * self.lung_offset
                lateral = np.clip(lesion.side * (x - centre) + 0.08, 0, None)
                fluid_line = self._diaphragm(x, lesion.side) - height - meniscus * lateral
                fluid = 1 / (1 + np.exp(-(y - fluid_line) / 0.008)) * _soften(lung, 0.006, px)
                image = image + fluid * strength * np.clip(self.tissue - image, 0, None)
                where |= fluid >= 0.5
        return image, where

    def _inside(self, relative: tuple[float, ...], side: int) -> tuple[float, float]:
        """Map a relative position (0..1, 0..1) into the bulk of the lung on ``side``."""
        centre = 0.5 + side * self.lung_offset
        half_width = self.lung_half_width[0 if side < 0 else 1]
        dome = self.dome_height[0 if side < 0 else 1]
        # Laterally biased for the side the heart covers, so the lesion stays in aerated lung.
        lateral_bias = 0.25 if side > 0 else 0.0
        cx = centre + side * half_width * (lateral_bias + (relative[0] - 0.5) * 1.1)
        cy = self.lung_top + 0.08 + relative[1] * (dome - 0.06 - self.lung_top - 0.08)
        return float(cx), float(cy)


def _sample_lesions(rng: np.random.Generator, finding: str) -> tuple[Lesion, ...]:
    side = int(rng.choice([-1, 1]))
    if finding == "consolidation":
        position = rng.uniform(0.2, 0.8, 2)
        return (
            Lesion(finding, side, (*position, rng.uniform(0.035, 0.06), rng.uniform(0.25, 0.4))),
        )
    if finding == "nodule":
        return tuple(
            Lesion(
                finding,
                int(rng.choice([-1, 1])),
                (*rng.uniform(0.15, 0.85, 2), rng.uniform(0.014, 0.026), rng.uniform(0.22, 0.35)),
            )
            for _ in range(int(rng.integers(1, 4)))
        )
    # effusion: fluid height above the costophrenic angle, meniscus slope, opacity
    return (
        Lesion(
            finding, side, (rng.uniform(0.03, 0.1), rng.uniform(0.3, 0.6), rng.uniform(0.8, 0.95))
        ),
    )


def _ellipse(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, ax: float, ay: float
) -> np.ndarray:
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 < 1


def _drop_specks(mask: np.ndarray) -> np.ndarray:
    """``mask`` without components under 2% of its area (slivers the heart cuts off)."""
    labels, count = ndimage.label(mask)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= 0.02 * mask.sum()
    keep[0] = False
    return keep[labels]


def _soften(mask: np.ndarray, width: float, px: float) -> np.ndarray:
    """A binary region with its edge smoothed over ``width`` (relative units)."""
    return ndimage.gaussian_filter(mask.astype(float), sigma=max(width / px, 0.3))


def _smooth_noise(rng: np.random.Generator, size: int, correlation: float) -> np.ndarray:
    """Zero-mean, unit-scale noise with a spatial correlation length (relative units)."""
    field = ndimage.gaussian_filter(
        rng.normal(size=(size, size)), sigma=max(correlation * size, 0.5)
    )
    return field / (field.std() + 1e-8)
