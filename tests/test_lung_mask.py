import numpy as np
import pytest
from uadbench.methods.lung_mask import drop_small_regions, lung_field_mask, lung_fields, lung_mask

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


def test_lung_fields_are_the_two_largest_regions_closed_and_filled():
    mask = np.zeros((128, 128), bool)
    for left in (20, 75):
        mask[20:100, left : left + 30] = True
        mask[30:90:8, left : left + 30] = False  # rib stripes cut across the field
        mask[55:60, left + 10 : left + 15] = False  # a hole
    mask[5:8, 60:63] = True  # a speck
    fields = lung_fields(mask)
    for left in (20, 75):  # the stripes and the hole are filled (the border may notch)
        assert fields[20:100, left + 2 : left + 28].all()
        assert fields[20:100, left : left + 30].mean() > 0.98
    assert not fields[5:8, 60:63].any() and not fields[:, 55:70].any()


def test_the_lung_field_mask_covers_the_phantom_lungs_as_well_as_the_reference():
    reference, fields = [], []
    for seed in range(20):
        image, truth = ChestPhantom.sample(np.random.default_rng(2000 + seed)).render(128)
        reference.append(iou(lung_mask(image), truth))
        fields.append(iou(lung_field_mask(image), truth))
    assert np.mean(fields) >= np.mean(reference) - 0.05, (np.mean(fields), np.mean(reference))
