"""Sensitivity, specificity and F1 at a threshold that no test label has seen.

The threshold is a high percentile (95th) of the method's scores on the validation normals,
which are training-distribution images held out from training: about 5% of normal images are
expected to be flagged. Choosing the threshold that maximises a test metric instead, as some
papers do, reports an optimistic number no deployment can reach.
"""

from __future__ import annotations

import numpy as np

VAL_PERCENTILE = 95.0


def val_threshold(val_scores: np.ndarray | list[float]) -> float:
    """The operating threshold a run's validation-normal scores set: their 95th percentile."""
    return float(np.percentile(val_scores, VAL_PERCENTILE))


def operating_point(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Detection metrics when every score above ``threshold`` is called abnormal."""
    labels = np.asarray(labels).astype(bool)
    called = np.asarray(scores) > threshold
    tp, fn = int((called & labels).sum()), int((~called & labels).sum())
    tn, fp = int((~called & ~labels).sum()), int((called & ~labels).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    sensitivity = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * sensitivity / (precision + sensitivity) if precision + sensitivity else 0.0
    return {
        "threshold": float(threshold),
        "sensitivity": sensitivity,
        "specificity": tn / (tn + fp) if tn + fp else 0.0,
        "f1": f1,
    }
