"""Where an anomaly map points, against the true lesion: pixel-level metrics.

``maps`` are ``(N, H, W)`` float anomaly maps (higher = more anomalous), ``regions`` the
``(N, H, W)`` boolean truth of the same images: a lesion mask, or the union of a release's
boxes drawn at the map's size. With masks (the phantoms): the pixel AUROC and AUPRO, the area
under the per-region overlap curve up to 30% false-positive rate as MVTec AD and anomalib
define it. With boxes (RSNA, VinDr-CXR, NIH), whose corners are not a lesion's outline: per
image, whether the map's maximum lies in a box (the pointing game) and the share of the map's
mass inside the boxes, each beside what a uniform map gives (the boxes' share of the image).
Where a threshold is meaningful (masks), the Dice of the pixels above the threshold the
validation normals' maps set (their 95th percentile, as image scores set theirs), pooled over
the test images, normal ones included. Intervals are bootstrap percentiles over images; two
methods on the same images are compared per image (McNemar's exact test for hits, Wilcoxon's
signed-rank test for mass).
"""

from __future__ import annotations

import numpy as np

from uadbench.statistics.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, percentile_interval
from uadbench.statistics.operating_point import val_threshold

FPR_LIMIT = 0.3
"""AUPRO integrates the per-region overlap up to this false-positive rate (MVTec AD's 30%)."""


def _checked(maps: np.ndarray, regions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    maps, regions = np.asarray(maps, dtype=np.float64), np.asarray(regions, dtype=bool)
    if maps.ndim != 3 or maps.shape != regions.shape:
        raise ValueError(f"maps {maps.shape} and regions {regions.shape} must both be (N, H, W)")
    if not np.isfinite(maps).all():
        raise ValueError("anomaly maps hold NaN or infinite values")
    return maps, regions


def pixel_auroc(maps: np.ndarray, regions: np.ndarray) -> float:
    """AUROC of every pixel of every image, lesion pixels as the positive class."""
    from sklearn.metrics import roc_auc_score

    maps, regions = _checked(maps, regions)
    return float(roc_auc_score(regions.ravel(), maps.ravel()))


def aupro(maps: np.ndarray, regions: np.ndarray, fpr_limit: float = FPR_LIMIT) -> float:
    """Area under the per-region overlap curve up to ``fpr_limit``, divided by ``fpr_limit``.

    Each connected lesion region (8-connected, per image) counts once whatever its size: the
    overlap at a threshold is the mean over regions of the share of the region's pixels at or
    above it; the false-positive rate is the share of all lesion-free pixels at or above it.
    Written here (the curve in one sort, as anomalib computes it) because anomalib's public
    ``AUPRO`` reads anomalib batches; the tests check it against anomalib's computation.
    """
    from scipy import ndimage

    maps, regions = _checked(maps, regions)
    labels = np.zeros(regions.shape, dtype=np.int64)
    count = 0
    for i, region in enumerate(regions):
        found, n = ndimage.label(region, structure=np.ones((3, 3)))
        labels[i] = np.where(found > 0, found + count, 0)
        count += n
    background = ~regions
    if count == 0 or not background.any():
        raise ValueError("AUPRO needs lesion pixels and lesion-free pixels")
    flat_labels, flat_maps = labels.ravel(), maps.ravel()
    sizes = np.bincount(flat_labels, minlength=count + 1).astype(np.float64)
    fp_step = background.ravel().astype(np.float64) / background.sum()
    pro_step = np.where(flat_labels > 0, 1.0 / sizes[flat_labels], 0.0) / count
    order = np.argsort(-flat_maps, kind="stable")
    ordered = flat_maps[order]
    fpr, pro = np.cumsum(fp_step[order]), np.cumsum(pro_step[order])
    last_of_each = np.append(ordered[:-1] != ordered[1:], True)  # one point per threshold
    fpr = np.concatenate([[0.0], np.minimum(fpr[last_of_each], 1.0)])
    pro = np.concatenate([[0.0], np.minimum(pro[last_of_each], 1.0)])
    inside = fpr <= fpr_limit
    end = np.flatnonzero(inside)[-1]
    fpr_cut, pro_cut = fpr[: end + 1], pro[: end + 1]
    if fpr[end] < fpr_limit and end + 1 < len(fpr):  # the curve's value at the limit
        at_limit = np.interp(fpr_limit, fpr[end : end + 2], pro[end : end + 2])
        fpr_cut, pro_cut = np.append(fpr_cut, fpr_limit), np.append(pro_cut, at_limit)
    return float(np.trapezoid(pro_cut, fpr_cut) / fpr_limit)


def uniform_share(regions: np.ndarray) -> np.ndarray:
    """Per image, the boxes' share of the image: a uniform map's hit rate and mass inside."""
    regions = np.asarray(regions, dtype=bool)
    return regions.reshape(len(regions), -1).mean(axis=1)


def pointing_hits(maps: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Per image, whether the map's maximum lies inside the boxes (the pointing game).

    A maximum shared by several pixels counts as the share of them inside the boxes, so a
    constant map scores exactly what a uniform map does."""
    maps, regions = _checked(maps, regions)
    flat, truth = maps.reshape(len(maps), -1), regions.reshape(len(regions), -1)
    tops = flat == flat.max(axis=1, keepdims=True)
    return (tops & truth).sum(axis=1) / tops.sum(axis=1)


def mass_inside(maps: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Per image, the share of the map's mass inside the boxes, the map shifted to a minimum
    of 0 (a constant map gives the boxes' share of the image, as a uniform map does)."""
    maps, regions = _checked(maps, regions)
    flat, truth = maps.reshape(len(maps), -1), regions.reshape(len(regions), -1)
    mass = flat - flat.min(axis=1, keepdims=True)
    total = mass.sum(axis=1)
    inside = (mass * truth).sum(axis=1)
    flat_map = total == 0
    return np.where(flat_map, truth.mean(axis=1), inside / np.where(flat_map, 1.0, total))


def pixel_threshold(val_maps: np.ndarray) -> float:
    """The threshold the validation normals' maps set: the 95th percentile of their pixels
    (``val_threshold``, the rule image scores follow), so no test label chooses it."""
    return val_threshold(np.asarray(val_maps, dtype=np.float64).ravel())


def dice_counts(maps: np.ndarray, regions: np.ndarray, threshold: float) -> np.ndarray:
    """Per image, the pixels above ``threshold`` inside the lesion (true positives), outside
    it (false positives) and the lesion pixels not above it (false negatives): ``(N, 3)``."""
    maps, regions = _checked(maps, regions)
    called = maps > threshold
    counts = [(called & regions), (called & ~regions), (~called & regions)]
    return np.stack([c.sum(axis=(1, 2)) for c in counts], axis=1)


def dice(counts: np.ndarray) -> float:
    """Dice of the pixels called abnormal against the lesion pixels, the ``dice_counts`` of
    every image pooled: 2 TP / (2 TP + FP + FN); 1 when there is neither."""
    tp, fp, fn = np.asarray(counts, dtype=np.float64).reshape(-1, 3).sum(axis=0)
    return 1.0 if tp + fp + fn == 0 else float(2 * tp / (2 * tp + fp + fn))


def dice_interval(
    counts: np.ndarray,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap percentile interval of the pooled Dice (images resampled)."""
    counts = np.asarray(counts, dtype=np.float64).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    drawn = counts[rng.integers(0, len(counts), size=(n_resamples, len(counts)))].sum(axis=1)
    tp, fp, fn = drawn[:, 0], drawn[:, 1], drawn[:, 2]
    denominator = 2 * tp + fp + fn
    values = np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 1.0)
    return percentile_interval(values, level)


def mean_interval(
    values: np.ndarray,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap percentile interval of the mean of per-image ``values`` (images resampled)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_resamples, len(values)))].mean(axis=1)
    return percentile_interval(means, level)


def compare_hits(hits_a: np.ndarray, hits_b: np.ndarray) -> float:
    """Two-sided p of McNemar's exact test: do two methods hit on the same images equally
    often? (Shared maxima count as hits when half or more of them lie in the boxes.)"""
    from scipy.stats import binomtest

    a, b = np.asarray(hits_a) >= 0.5, np.asarray(hits_b) >= 0.5
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def compare_mass(mass_a: np.ndarray, mass_b: np.ndarray) -> float:
    """Two-sided p of Wilcoxon's signed-rank test on the per-image mass inside the boxes."""
    from scipy.stats import wilcoxon

    differences = np.asarray(mass_a, dtype=np.float64) - np.asarray(mass_b, dtype=np.float64)
    if not differences.any():
        return 1.0
    return float(wilcoxon(differences).pvalue)
