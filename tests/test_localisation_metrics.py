"""The pixel-level metrics of ``uadbench.statistics.localisation`` against answers worked out
by hand on tiny cases, and AUPRO against anomalib's own computation."""

from __future__ import annotations

import numpy as np
import pytest

from uadbench.statistics import localisation

# One 1 x 6 image: lesion regions {0} and {2, 3} (two regions: pixel 1 separates them),
# lesion-free pixels {1, 4, 5}.
REGIONS = np.array([[[1, 0, 1, 1, 0, 0]]], dtype=bool)
MAP = np.array([[[0.9, 0.8, 0.7, 0.1, 0.2, 0.05]]])


def test_pixel_auroc_by_hand():
    # lesion 0.9 beats 3 free pixels, 0.7 beats 0.2 and 0.05, 0.1 beats 0.05: 6 of 9 pairs
    assert localisation.pixel_auroc(MAP, REGIONS) == pytest.approx(6 / 9)


def test_aupro_by_hand():
    # Thresholds from the top: 0.9 covers region {0} (overlap (1 + 0) / 2 = 0.5) at FPR 0;
    # 0.8 adds a free pixel (FPR 1/3); 0.7 half of region {2, 3} (overlap 0.75); 0.2 a free
    # pixel (FPR 2/3); 0.1 the rest of {2, 3} (overlap 1); 0.05 the last free pixel (FPR 1).
    # Up to FPR 1: 1/3 * 0.5 + 1/3 * 0.75 + 1/3 * 1 = 0.75. Up to 0.3: 0.5 all the way.
    assert localisation.aupro(MAP, REGIONS, fpr_limit=1.0) == pytest.approx(0.75)
    assert localisation.aupro(MAP, REGIONS, fpr_limit=0.3) == pytest.approx(0.5)


def test_aupro_weighs_regions_not_pixels():
    # A perfect map of the small region only: half the regions found at FPR 0, whatever the
    # large region's size.
    regions = np.zeros((1, 8, 8), dtype=bool)
    regions[0, 0, 0] = True
    regions[0, 4:8, 4:8] = True
    found = regions.astype(float) * 0
    found[0, 0, 0] = 1.0
    assert localisation.aupro(found, regions, fpr_limit=1e-9) == pytest.approx(0.5)


def test_aupro_matches_anomalib():
    import torch
    from anomalib.metrics.aupro import _AUPRO

    rng = np.random.default_rng(0)
    regions = np.zeros((4, 32, 32), dtype=bool)
    regions[0, 4:10, 4:12] = regions[1, 20:30, 2:6] = regions[1, 3:6, 25:31] = True
    regions[3, 10:22, 10:22] = True
    maps = rng.normal(size=regions.shape) + 1.5 * regions
    oracle = _AUPRO(fpr_limit=0.3)
    oracle.update(torch.from_numpy(maps).float(), torch.from_numpy(regions).int())
    expected = float(oracle.compute())
    assert localisation.aupro(maps.astype(np.float32), regions) == pytest.approx(expected, abs=1e-5)


def test_pointing_game_and_mass_by_hand():
    boxes = np.zeros((3, 2, 2), dtype=bool)
    boxes[:, 1, 0] = True  # one box: the bottom-left pixel, a quarter of the image
    maps = np.array(
        [
            [[0.0, 1.0], [3.0, 0.0]],  # maximum in the box; mass (min 0) 3 of 4 inside
            [[5.0, 1.0], [3.0, 1.0]],  # maximum outside; mass (5,1,3,1) - 1 = (4,0,2,0): 2 of 6
            [[2.0, 2.0], [2.0, 2.0]],  # constant: what a uniform map gives, a quarter
        ]
    )
    assert localisation.pointing_hits(maps, boxes).tolist() == [1.0, 0.0, 0.25]
    assert localisation.mass_inside(maps, boxes) == pytest.approx([0.75, 2 / 6, 0.25])
    assert localisation.uniform_share(boxes).tolist() == [0.25, 0.25, 0.25]


def test_dice_at_the_validation_threshold_by_hand():
    # Validation normals' pixels 0.0 .. 0.99: their 95th percentile (linear) is 0.9405.
    threshold = localisation.pixel_threshold(np.arange(100).reshape(1, 10, 10) / 100)
    assert threshold == pytest.approx(0.9405)
    # Above 0.75 on MAP: pixels 0 (lesion) and 1 (free): TP 1, FP 1; lesion 2, 3 missed: FN 2.
    counts = localisation.dice_counts(MAP, REGIONS, 0.75)
    assert counts.tolist() == [[1, 1, 2]]
    assert localisation.dice(counts) == pytest.approx(2 / (2 + 1 + 2))
    # A second, lesion-free image whose map flags 3 pixels: pooled FP 4, Dice 2 / 8.
    free = localisation.dice_counts(
        np.array([[[1, 1, 1, 0, 0, 0.0]]]), np.zeros((1, 1, 6), bool), 0.5
    )
    assert free.tolist() == [[0, 3, 0]]
    assert localisation.dice(np.vstack([counts, free])) == pytest.approx(2 / 8)
    assert localisation.dice(np.zeros((2, 3))) == 1.0  # nothing called, nothing to find
    low, high = localisation.dice_interval(np.array([[1, 1, 2], [3, 0, 1], [0, 2, 0]] * 20))
    assert low < localisation.dice(np.array([[4, 3, 3]])) < high


def test_paired_tests_by_hand():
    # 10 images: A hits on all, B on none of them: McNemar's exact p = 2 * 0.5 ** 10
    assert localisation.compare_hits(np.ones(10), np.zeros(10)) == pytest.approx(2 * 0.5**10)
    assert localisation.compare_hits(np.ones(5), np.ones(5)) == 1.0
    # Wilcoxon: 6 differences all positive, exact two-sided p = 2 / 2 ** 6
    assert localisation.compare_mass(np.arange(6) + 1.0, np.zeros(6)) == pytest.approx(2 / 64)


def test_mean_interval_holds_the_mean_and_is_seeded():
    values = np.random.default_rng(1).uniform(size=200)
    low, high = localisation.mean_interval(values)
    assert low < values.mean() < high and high - low < 0.2
    assert localisation.mean_interval(values) == (low, high)


def test_bad_maps_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        localisation.pixel_auroc(np.full((1, 2, 2), np.nan), np.ones((1, 2, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        localisation.mass_inside(np.zeros((2, 2)), np.zeros((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="lesion-free"):
        localisation.aupro(np.zeros((1, 2, 2)), np.ones((1, 2, 2), dtype=bool))
