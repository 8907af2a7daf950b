"""Intervals and paired tests of where the maps point (``uadbench.outputs.map_statistics``):
the resampled pixel AUROC against scikit-learn's on the resampled images themselves, and the
table on a board of kept maps."""

from __future__ import annotations

import numpy as np
import pytest

from uadbench.outputs import map_statistics
from uadbench.statistics import localisation


def test_pixel_auroc_of_resampled_images_is_that_of_the_images_drawn():
    rng = np.random.default_rng(3)
    regions = rng.uniform(size=(6, 5, 5)) < 0.2
    regions[0, 0, 0] = True
    maps = rng.normal(size=regions.shape) + 1.5 * regions
    maps[1, 2] = maps[1, 3] = 0.25  # ties count half, as scikit-learn counts them
    wins, positives, negatives = localisation.pair_wins(maps, regions)
    assert wins.sum() / (positives.sum() * negatives.sum()) == pytest.approx(
        localisation.pixel_auroc(maps, regions)
    )
    drawn = np.array([0, 0, 2, 5, 5, 5])  # a resample: image 0 twice, 5 three times
    weights = np.bincount(drawn, minlength=6).astype(float)
    resampled = weights @ wins @ weights / ((weights @ positives) * (weights @ negatives))
    assert resampled == pytest.approx(localisation.pixel_auroc(maps[drawn], regions[drawn]))


@pytest.mark.parametrize("truth", ["boxes", "mask"])
def test_every_resample_has_findings_to_point_at(truth):
    from uadbench.running.kept_maps import KeptMaps

    rng = np.random.default_rng(5)
    regions = np.zeros((300, 8, 8), dtype=bool)
    regions[[7, 150], 2:4, 2:5] = True  # two of 300 images have a finding
    maps = rng.normal(size=regions.shape) + regions
    found = regions.any(axis=(1, 2))
    draws = localisation.resample_weights([np.flatnonzero(found), np.flatnonzero(~found)], 300)
    assert (draws[:, found].sum(axis=1) == 2).all() and (draws.sum(axis=1) == 300).all()
    kept = KeptMaps(maps, regions, rng.normal(size=(20, 8, 8)))
    numbers = map_statistics._resampled(truth, [kept], draws)
    for value, resampled, _ in numbers.values():
        assert np.isfinite(resampled).all() and np.isfinite(value)
