import numpy as np
import pytest
from scipy import ndimage

from uadbench.data.readers.phantom import FINDINGS, ChestPhantom


def render(seed: int, finding: str | None = None, size: int = 128):
    return ChestPhantom.sample(np.random.default_rng(seed), finding).render(size)


def test_same_seed_gives_the_same_phantom_and_other_seeds_differ():
    a, mask_a = render(3)
    b, mask_b = render(3)
    c, _ = render(4)
    assert np.array_equal(a, b) and np.array_equal(mask_a, mask_b)
    assert np.abs(a.astype(int) - c).mean() > 3


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_image_and_mask_shapes_and_ranges(size):
    image, mask = render(0, "nodule", size)
    assert image.shape == mask.shape == (size, size)
    assert image.dtype == np.uint8 and mask.dtype == bool
    assert image.min() < 40 and image.max() > 150  # dark air and bright bone both present


def test_lung_mask_is_two_fields_inside_the_body():
    for seed in range(10):
        image, mask = render(seed)
        _, count = ndimage.label(mask)
        assert count == 2, f"seed {seed}: {count} lung components"
        assert 0.12 < mask.mean() < 0.4
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        # the lungs are dark relative to the body around them
        assert image[mask].mean() < image[~mask & (image > 60)].mean() - 30


@pytest.mark.parametrize("finding", ["consolidation", "nodule", "effusion"])
def test_lung_findings_brighten_the_inside_of_the_lungs(finding):
    for seed in range(5):
        rng_seed = 100 + seed
        normal = ChestPhantom.sample(np.random.default_rng(rng_seed), None)
        abnormal = ChestPhantom.sample(np.random.default_rng(rng_seed), finding)
        assert abnormal.finding == finding
        # same anatomy: sampling of lesions happens after the anatomy
        assert normal.lung_half_width == abnormal.lung_half_width
        img_n, mask = normal.render(128)
        img_a, _ = abnormal.render(128)
        diff = img_a.astype(int) - img_n.astype(int)
        inside = ndimage.binary_dilation(mask, iterations=3)
        assert diff[inside].sum() > 0.9 * np.clip(diff, 0, None).sum()
        assert (diff > 25).sum() >= 6, f"{finding} seed {seed} is not visible"


def test_cardiomegaly_widens_the_heart_beyond_half_the_thorax():
    ratios = {}
    for finding in (None, "cardiomegaly"):
        values = []
        for seed in range(20):
            p = ChestPhantom.sample(np.random.default_rng(seed), finding)
            thorax = 2 * (p.lung_offset + max(p.lung_half_width) * 1.1)
            values.append(2 * p.heart_axes[0] / thorax)
        ratios[finding] = np.array(values)
    assert ratios[None].max() < 0.5
    assert ratios["cardiomegaly"].min() > 0.5


def test_unknown_finding_is_refused():
    with pytest.raises(ValueError, match="unknown finding"):
        ChestPhantom.sample(np.random.default_rng(0), "fracture")


def test_every_finding_is_known():
    assert set(FINDINGS) == {"consolidation", "nodule", "effusion", "cardiomegaly"}


@pytest.mark.parametrize("finding", ["consolidation", "nodule", "effusion"])
def test_the_lesion_mask_is_where_the_finding_changed_the_image(finding):
    for seed in range(5):
        normal = ChestPhantom.sample(np.random.default_rng(100 + seed), None)
        abnormal = ChestPhantom.sample(np.random.default_rng(100 + seed), finding)
        change = np.abs(abnormal.render(128)[0].astype(int) - normal.render(128)[0])
        where = abnormal.lesion_mask(128)
        assert where.any() and not normal.lesion_mask(128).any()
        assert change[where].mean() > 5 * change[~where].mean(), f"{finding} seed {seed}"


def test_cardiomegaly_marks_the_heart_and_masks_leave_images_as_they_were():
    phantom = ChestPhantom.sample(np.random.default_rng(7), "cardiomegaly")
    where = phantom.lesion_mask(128)
    assert 0.05 < where.mean() < 0.25  # the heart, not the chest
    image, lungs = phantom.render(128)
    assert np.array_equal(image, phantom.render(128)[0]) and not (where & lungs).all()
