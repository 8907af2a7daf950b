import numpy as np
import pytest
from uadbench.methods.lung_mask import drop_small_regions, lung_mask

from uadbench.data.readers.phantom import FINDINGS, ChestPhantom


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / max((a | b).sum(), 1)


def test_reference_mask_finds_the_phantom_lungs_at_128_px():
    scores = []
    for seed in range(30):
        finding = None if seed % 2 else FINDINGS[seed % 4]
        image, truth = ChestPhantom.sample(np.random.default_rng(1000 + seed), finding).render(128)
        scores.append(iou(lung_mask(image), truth))
    assert np.mean(scores) >= 0.8, f"mean IoU {np.mean(scores):.3f}"


def test_a_flat_image_has_no_lungs():
    assert not lung_mask(np.full((64, 64), 90, np.uint8)).any()


def noisy(image: np.ndarray) -> np.ndarray:
    """Real radiographs are never flat (CLAHE maps a flat minimum to 0, which is dropped)."""
    noise = np.random.default_rng(0).integers(0, 12, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def test_dark_regions_touching_the_border_are_not_lungs():
    image = np.full((128, 128), 200, np.uint8)
    image[:, :20] = 10  # dark background strip on the edge
    image[40:90, 40:70] = 30  # a dark field inside
    mask = lung_mask(noisy(image))
    assert not mask[:, :10].any()
    assert mask[50:80, 45:65].all()


@pytest.mark.parametrize(("size", "limit"), [(64, 25), (128, 100), (256, 400)])
def test_the_small_region_limit_scales_with_the_image_area(size, limit):
    def blob(pixels: int) -> np.ndarray:  # a connected region of exactly ``pixels``
        block = np.zeros(size * 20, bool)
        block[:pixels] = True
        return block.reshape(-1, 20)[: size // 2 - 1]

    mask = np.zeros((size, size), bool)
    mask[: size // 2 - 1, :20] = blob(limit - 1)  # one pixel under the limit: erased
    mask[: size // 2 - 1, 30:50] = blob(limit)  # at the limit: kept
    kept = drop_small_regions(mask)
    assert not kept[:, :20].any() and kept[:, 30:50].sum() == limit
