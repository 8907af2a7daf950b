"""DeLong's test for correlated ROC curves (DeLong, DeLong & Clarke-Pearson, Biometrics 1988),
with the fast midrank algorithm of Sun & Xu (IEEE Signal Processing Letters, 2014).

All score vectors must be on the same test images, so their AUCs are correlated; the structural
components give the joint covariance of the AUCs, and any linear contrast of them (for instance
the difference of two methods' AUCs averaged over seeds) has a normal approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n along the last axis, ties sharing their mean rank (exact half-integers)."""
    n = values.shape[-1]
    order = np.argsort(values, axis=-1, kind="stable").reshape(-1, n)
    ordered = np.take_along_axis(values.reshape(-1, n), order, axis=-1)
    index = np.arange(n)
    starts = np.ones(ordered.shape, bool)  # where a run of tied values starts, and ends
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones(ordered.shape, bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, index, 0), axis=-1)
    last = np.minimum.accumulate(np.where(ends, index, n - 1)[:, ::-1], axis=-1)[:, ::-1]
    out = np.empty(ordered.shape)
    np.put_along_axis(out, order, (first + last + 2) / 2, axis=-1)
    return out.reshape(values.shape)


def auc_covariance(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs ``(k,)`` and their DeLong covariance ``(k, k)`` for score vectors ``(k, n)``."""
    labels = np.asarray(labels).astype(bool)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    positives, negatives = scores[:, labels], scores[:, ~labels]
    m, n = positives.shape[1], negatives.shape[1]
    if m < 2 or n < 2:
        raise ValueError("DeLong's test needs at least two normal and two abnormal images")
    within_pos = midranks(positives)
    within_neg = midranks(negatives)
    overall = midranks(np.concatenate([positives, negatives], axis=1))
    aucs = overall[:, :m].sum(axis=1) / (m * n) - (m + 1) / (2 * n)
    v10 = (overall[:, :m] - within_pos) / n  # per abnormal image
    v01 = 1 - (overall[:, m:] - within_neg) / m  # per normal image
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


@dataclass(frozen=True)
class Comparison:
    """A contrast of mean AUCs: ``difference`` = mean AUC of A - mean AUC of B."""

    difference: float
    std_error: float
    z: float
    p_value: float


def compare(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> Comparison:
    """Two-sided DeLong test of the mean AUC of A's seeds against B's (same test images).

    ``scores_a`` is ``(k_a, n)`` (or ``(n,)``), ``scores_b`` ``(k_b, n)``: with several seeds the
    contrast is the difference of the seed means, its variance taken from the joint covariance.
    """
    a, b = np.atleast_2d(scores_a), np.atleast_2d(scores_b)
    aucs, covariance = auc_covariance(labels, np.concatenate([a, b]))
    contrast = np.concatenate([np.full(len(a), 1 / len(a)), np.full(len(b), -1 / len(b))])
    difference = float(contrast @ aucs)
    variance = float(contrast @ covariance @ contrast)
    if variance <= 0:
        return Comparison(
            difference, 0.0, 0.0 if difference == 0 else np.inf, float(difference == 0)
        )
    from scipy.special import ndtr  # the normal CDF; scipy.stats would cost twice the import

    std_error = variance**0.5
    z = difference / std_error
    return Comparison(difference, std_error, z, float(2 * ndtr(-abs(z))))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values`` (family-wise error), in the given order."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()
