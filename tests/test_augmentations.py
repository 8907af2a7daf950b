"""The batched AnatPaste and CutPaste augmentations."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage
from uadbench.methods.anatpaste_augmentation import AnatPasteAugmentation
from uadbench.methods.cutpaste_augmentation import VARIANTS, CutPasteAugmentation
from uadbench.methods.lung_mask import lung_mask
from uadbench.methods.pretext.paste import blurred_shape

from uadbench.data.readers.phantom import ChestPhantom


def phantoms(n: int = 12, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    images = [ChestPhantom.sample(np.random.default_rng(i), None).render(size)[0] for i in range(n)]
    masks = [lung_mask(image) for image in images]
    return torch.tensor(np.stack(images)).float() / 255, torch.tensor(np.stack(masks))


def anatpaste(images, masks, seed=0):
    views, empty = AnatPasteAugmentation(masks)(
        images, torch.arange(len(images)), torch.Generator().manual_seed(seed)
    )
    return views, empty


@pytest.mark.parametrize("size", [64, 128, 256])
def test_anatpaste_shapes_range_and_only_inside_the_lungs(size):
    images, masks = phantoms(8, size)
    [(out, label)], empty = anatpaste(images, masks)
    assert out.shape == images.shape and out.dtype == torch.float32 and label == 1
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    changed = (out - images).abs() > 1e-6
    assert empty == 0
    assert not (changed & ~masks).any(), "AnatPaste changed pixels outside the lung mask"
    assert changed.flatten(1).any(1).float().mean() >= 0.5  # most images get a visible paste


def test_an_empty_lung_mask_pastes_anywhere_and_is_counted():
    images, masks = phantoms(8)
    masks[:3] = False
    [(out, _)], empty = anatpaste(images, masks)
    assert empty == 3
    changed = (out - images).abs() > 1e-6
    assert changed[:3].flatten(1).any(1).sum() >= 2  # pasted although no lungs were found


def test_same_seed_same_batch_other_seed_other_batch():
    images, masks = phantoms()
    first, second, other = (
        anatpaste(images, masks, 1),
        anatpaste(images, masks, 1),
        anatpaste(images, masks, 2),
    )
    assert torch.equal(first[0][0][0], second[0][0][0])
    assert not torch.equal(first[0][0][0], other[0][0][0])
    for variant in VARIANTS:
        a = CutPasteAugmentation(variant)(images, None, torch.Generator().manual_seed(3))[0]
        b = CutPasteAugmentation(variant)(images, None, torch.Generator().manual_seed(3))[0]
        assert all(torch.equal(x, y) for (x, _), (y, _) in zip(a, b, strict=True))


@pytest.mark.parametrize("variant", VARIANTS)
def test_cutpaste_variants(variant):
    images, _ = phantoms(16, 128)
    augment = CutPasteAugmentation(variant)
    views, empty = augment(images, None, torch.Generator().manual_seed(0))
    assert empty == 0
    assert [label for _, label in views] == ([1, 2] if variant == "3way" else [1])
    assert augment.n_classes == (3 if variant == "3way" else 2)
    for view, _ in views:
        assert view.shape == images.shape and float(view.min()) >= 0 and float(view.max()) <= 1
        changed = ((view - images).abs() > 1e-6).flatten(1).sum(1).float()
        assert (changed > 0).float().mean() > 0.7


def test_scars_are_thin_and_normal_patches_are_large():
    images, _ = phantoms(32, 256)
    normal = CutPasteAugmentation("normal")(images, None, torch.Generator().manual_seed(0))[0][0][0]
    scar = CutPasteAugmentation("scar")(images, None, torch.Generator().manual_seed(0))[0][0][0]
    moved = lambda view: ((view - images).abs() > 1e-6).flatten(1).sum(1).float().median()  # noqa: E731
    assert moved(scar) <= 25 * 16 and moved(normal) >= 0.02 * 256 * 256 * 0.3


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown CutPaste variant 'mixed'"):
        CutPasteAugmentation("mixed")


@pytest.mark.parametrize("radius", [0, 3, 8])
@pytest.mark.parametrize("ellipse", [False, True])
def test_blurred_shape_matches_a_drawn_and_blurred_mask(radius, ellipse):
    size = 96
    box = (20, 30, 70, 60)  # top, left, bottom, right (inclusive)
    drawn = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(drawn)
    xy = (box[1], box[0], box[3], box[2])
    (draw.ellipse if ellipse else draw.rectangle)(xy, fill=255)
    reference = (
        ndimage.gaussian_filter(np.asarray(drawn, float) / 255, radius)
        if radius
        else np.asarray(drawn) / 255
    )
    ours = blurred_shape(
        *(torch.tensor([v]) for v in box),
        torch.tensor([ellipse]),
        torch.tensor([float(radius)]),
        size,
        size,
    )[0].numpy()
    difference = np.abs(ours - reference)
    assert difference.mean() < 0.01
    if radius:
        assert difference.max() < 0.1
    else:  # sharp edges: at most a few boundary pixels drawn differently
        assert (difference > 0.5).sum() <= 0.03 * (reference > 0.5).sum()
