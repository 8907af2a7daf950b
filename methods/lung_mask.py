"""The threshold-based lung mask of the AnatPaste reference code, computed once per image.

No learning: CLAHE (clip 0.01, 256 bins), Otsu's threshold, keep the dark pixels (lungs are
dark on a radiograph), open with a 3 x 3 square, drop dark regions touching the border (the
air around the body), dilate with a 3 x 3 square, then erase the bounding box of every region
smaller than 400 px. The constants are those of the reference at 256 px; the area limit scales
with the image area and the square with the image side (never below 3 x 3).

Registered as the per-image extra ``lung_mask``: a method that lists it in ``requires`` gets
the masks of its training images, computed at preparation time and cached. ``lung_field_mask``
(the whole lung fields made from it, see ``lung_fields``) is registered and cached the same way.

    >>> import numpy as np
    >>> from uadbench.methods.lung_mask import lung_mask
    >>> lung_mask(np.zeros((64, 64), np.uint8)).any()
    np.False_
"""

from __future__ import annotations

import numpy as np
from uadbench.methods.constants import REFERENCE_SIZE

from uadbench.contracts.extras import register_extra

MIN_AREA = 400
"""Regions below this many pixels (at 256 px) are erased."""


@register_extra("lung_mask", version=1)
def lung_mask(image: np.ndarray) -> np.ndarray:
    """Boolean lung mask of a 2-D uint8 image, as the AnatPaste reference computes it."""
    return drop_small_regions(dark_fields(image))


def dark_fields(image: np.ndarray) -> np.ndarray:
    """Dark regions not touching the border, after CLAHE and Otsu (steps 1 to 6)."""
    from scipy import ndimage
    from skimage import exposure, filters, segmentation

    if image.min() == image.max():
        return np.zeros(image.shape, dtype=bool)
    side = max(3, round(3 * image.shape[0] / REFERENCE_SIZE) | 1)
    square = np.ones((side, side), dtype=bool)
    equalized = exposure.equalize_adapthist(image, clip_limit=0.01, nbins=256)
    threshold = filters.threshold_otsu(equalized)
    dark = (equalized <= threshold) & (equalized > 0)
    # opening as scikit-image does it: erosion treats the outside as foreground
    dark = ndimage.binary_dilation(ndimage.binary_erosion(dark, square, border_value=1), square)
    dark = segmentation.clear_border(dark)
    return ndimage.binary_dilation(dark, square)


def drop_small_regions(mask: np.ndarray) -> np.ndarray:
    """Erase the bounding box of every region under ``MIN_AREA`` (scaled to the image area)."""
    from skimage import measure

    labels = measure.label(mask)
    min_area = MIN_AREA * (mask.shape[0] / REFERENCE_SIZE) ** 2
    for region in measure.regionprops(labels):
        if region.area < min_area:
            top, left, bottom, right = region.bbox
            labels[top:bottom, left:right] = 0
    return labels > 0


FIELD_CLOSING = 0.04
"""Radius of the disc that closes the lung fields, as a share of the image side."""


@register_extra("lung_field_mask", version=1)
def lung_field_mask(image: np.ndarray) -> np.ndarray:
    """Boolean mask of the whole lung fields of a 2-D uint8 image: ``lung_fields`` of the
    reference mask."""
    return lung_fields(lung_mask(image))


def lung_fields(mask: np.ndarray) -> np.ndarray:
    """The whole lung fields of a reference mask (which marks the dark stripes between the
    ribs): ``mask`` closed with a disc (``FIELD_CLOSING`` of the side), which joins the stripes
    of one lung, then its two largest regions with their holes filled; no learned model."""
    from scipy import ndimage
    from skimage.morphology import disk

    radius = max(1, round(FIELD_CLOSING * mask.shape[0]))
    padded = np.pad(mask, radius)  # closing near the border sees background beyond it
    closed = ndimage.binary_closing(padded, disk(radius))[radius:-radius, radius:-radius]
    labels, count = ndimage.label(closed)
    if count == 0:
        return closed
    sizes = ndimage.sum(closed, labels, range(1, count + 1))
    return ndimage.binary_fill_holes(np.isin(labels, np.argsort(sizes)[::-1][:2] + 1))
