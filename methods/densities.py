"""Density scores on feature vectors of normal images: the higher, the more anomalous.

Estimators in scikit-learn's shape (``fit(train)`` returns self, ``score(x)``), used by the
feature-based methods:

- ``GaussianKDE``: Gaussian kernel density with a fixed bandwidth; score = -log density
  (AnatPaste's default, bandwidth 1 on L2-normalised embeddings);
- ``GaussianDensity``: one Gaussian with a Ledoit-Wolf shrunk covariance; score = Mahalanobis
  distance (CutPaste's and MedIAnomaly's default);
- ``KNNCosine``: mean cosine distance to the k nearest training vectors.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

CHUNK = 1024


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :], 0)


class GaussianKDE:
    """Gaussian kernel density estimate; score = -log of the mean kernel (higher = rarer)."""

    def __init__(self, bandwidth: float = 1.0) -> None:
        self.bandwidth = bandwidth

    def fit(self, train: np.ndarray) -> GaussianKDE:
        self.train_ = np.asarray(train, dtype=np.float64)
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        out = np.empty(len(x))
        for start in range(0, len(x), CHUNK):
            d2 = _squared_distances(x[start : start + CHUNK], self.train_)
            out[start : start + CHUNK] = -(
                logsumexp(-d2 / (2 * self.bandwidth**2), axis=1) - np.log(len(self.train_))
            )
        return out


class GaussianDensity:
    """A single Gaussian, Ledoit-Wolf covariance; score = Mahalanobis distance."""

    def fit(self, train: np.ndarray) -> GaussianDensity:
        from sklearn.covariance import LedoitWolf

        train = np.asarray(train, dtype=np.float64)
        estimate = LedoitWolf().fit(train)
        self.mean_ = estimate.location_
        self.precision_ = estimate.precision_
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        centred = np.asarray(x, dtype=np.float64) - self.mean_
        # a matrix product (BLAS), not an einsum over three operands: 100 times faster at 1280-d
        return np.sqrt(np.maximum(((centred @ self.precision_) * centred).sum(axis=1), 0))


class KNNCosine:
    """Mean cosine distance to the ``k`` nearest training vectors."""

    def __init__(self, k: int = 5) -> None:
        self.k = k

    def fit(self, train: np.ndarray) -> KNNCosine:
        self.train_ = l2_normalise(train)
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        x = l2_normalise(x)
        k = min(self.k, len(self.train_))
        out = np.empty(len(x))
        for start in range(0, len(x), CHUNK):
            distance = 1 - x[start : start + CHUNK] @ self.train_.T
            out[start : start + CHUNK] = np.partition(distance, k - 1, axis=1)[:, :k].mean(axis=1)
        return out
