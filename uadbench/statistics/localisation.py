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
    return float(_pooled_dice(np.asarray(counts, dtype=np.float64).reshape(-1, 3).sum(axis=0)))


def _pooled_dice(summed: np.ndarray) -> np.ndarray:
    """Dice of summed ``(..., 3)`` counts (TP, FP, FN); 1 where there is neither."""
    tp, fp, fn = np.moveaxis(summed, -1, 0)
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 1.0)


def resample_weights(
    strata: list[np.ndarray],
    n: int,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> np.ndarray:
    """How often each of ``n`` images is drawn in each bootstrap resample, ``(n_resamples,
    n)``: each stratum (image indices) resampled within itself. Passing the same weights to
    several methods' numbers makes their resamples paired."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_resamples, n))
    rows = np.arange(n_resamples)[:, None]
    for stratum in (np.asarray(s) for s in strata if len(s)):
        drawn = stratum[rng.integers(0, len(stratum), size=(n_resamples, len(stratum)))]
        np.add.at(weights, (rows, drawn), 1)
    return weights


def resampled_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The mean of per-image ``values`` in each resample of ``weights``."""
    return weights @ np.asarray(values, dtype=np.float64) / weights.sum(axis=1)


def resampled_dice(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The pooled Dice of per-image ``dice_counts`` in each resample of ``weights``."""
    return _pooled_dice(weights @ np.asarray(counts, dtype=np.float64))


def pair_wins(maps: np.ndarray, regions: np.ndarray) -> tuple[np.ndarray, ...]:
    """``wins[k, l]``: pairs (lesion pixel of image k, lesion-free pixel of image l) ordered
    right, ties counting half; and each image's lesion and lesion-free pixel counts. The pixel
    AUROC of any resample of the images follows from them (``resampled_pixel_auroc``) without
    sorting pixels again."""
    maps, regions = _checked(maps, regions)
    n = len(maps)
    flat, truth = maps.reshape(n, -1), regions.reshape(n, -1)
    positives, negatives = truth.sum(axis=1), (~truth).sum(axis=1)
    lesion_values, owner = flat[truth], np.repeat(np.arange(n), positives)
    wins = np.zeros((n, n))
    for image in range(n):
        free = np.sort(flat[image][~truth[image]])
        below = np.searchsorted(free, lesion_values, "left")
        tied = np.searchsorted(free, lesion_values, "right") - below
        wins[:, image] = np.bincount(owner, weights=below + 0.5 * tied, minlength=n)
    return wins, positives.astype(np.float64), negatives.astype(np.float64)


def resampled_pixel_auroc(
    maps: np.ndarray, regions: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray]:
    """The pixel AUROC of the images, and of each resample of ``weights``."""
    wins, positives, negatives = pair_wins(maps, regions)
    whole = wins.sum() / (positives.sum() * negatives.sum())
    numerator = np.einsum("rk,kl,rl->r", weights, wins, weights)
    return float(whole), numerator / ((weights @ positives) * (weights @ negatives))


def dice_interval(
    counts: np.ndarray,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap percentile interval of the pooled Dice (images resampled)."""
    counts = np.asarray(counts, dtype=np.float64).reshape(-1, 3)
    weights = resample_weights([np.arange(len(counts))], len(counts), n_resamples, seed)
    return percentile_interval(resampled_dice(counts, weights), level)


def mean_interval(
    values: np.ndarray,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap percentile interval of the mean of per-image ``values`` (images resampled)."""
    values = np.asarray(values, dtype=np.float64)
    weights = resample_weights([np.arange(len(values))], len(values), n_resamples, seed)
    return percentile_interval(resampled_mean(values, weights), level)


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
