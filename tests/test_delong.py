"""DeLong's test against a brute-force computation, and Holm's adjustment."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from uadbench.statistics.delong import auc_covariance, compare, holm


def brute_force(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The structural components of DeLong et al., written out pair by pair."""
    x, y = scores[:, labels == 1], scores[:, labels == 0]
    m, n = x.shape[1], y.shape[1]
    psi = (x[:, :, None] > y[:, None, :]) + 0.5 * (x[:, :, None] == y[:, None, :])
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    k = len(scores)
    s10 = np.array(
        [
            [
                np.sum((v10[r] - v10[r].mean()) * (v10[s] - v10[s].mean())) / (m - 1)
                for s in range(k)
            ]
            for r in range(k)
        ]
    )
    s01 = np.array(
        [
            [
                np.sum((v01[r] - v01[r].mean()) * (v01[s] - v01[s].mean())) / (n - 1)
                for s in range(k)
            ]
            for r in range(k)
        ]
    )
    return psi.mean(axis=(1, 2)), s10 / m + s01 / n


@pytest.mark.parametrize("seed", range(5))
def test_fast_covariance_equals_the_structural_components(seed):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(9, int), np.ones(7, int)]
    base = rng.normal(size=16) + labels
    scores = np.stack([np.round(base + rng.normal(0, s, 16), 1) for s in (0.3, 0.8, 1.5)])  # ties
    aucs, covariance = auc_covariance(labels, scores)
    expected_aucs, expected_cov = brute_force(labels, scores)
    np.testing.assert_allclose(aucs, expected_aucs, atol=1e-12)
    np.testing.assert_allclose(aucs, [roc_auc_score(labels, s) for s in scores], atol=1e-12)
    np.testing.assert_allclose(covariance, expected_cov, atol=1e-12)


def test_identical_methods_are_not_different_and_a_better_one_is():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(300, int), np.ones(300, int)]
    good = rng.normal(size=600) + 1.5 * labels
    weak = rng.normal(size=600) + 0.3 * labels
    same = compare(labels, good, good)
    assert same.difference == 0 and same.p_value == 1.0
    better = compare(labels, good, weak)
    assert better.difference > 0.2 and better.p_value < 1e-6


def test_the_test_holds_its_size_under_the_null():
    """Two equally good, correlated methods: p < 0.05 about 5% of the time."""
    rng = np.random.default_rng(1)
    labels = np.r_[np.zeros(60, int), np.ones(60, int)]
    rejections = 0
    for _ in range(400):
        shared = rng.normal(size=120) + labels
        a, b = shared + rng.normal(size=120), shared + rng.normal(size=120)
        rejections += compare(labels, a, b).p_value < 0.05
    assert 0.02 <= rejections / 400 <= 0.09


def test_seed_means_are_compared():
    rng = np.random.default_rng(2)
    labels = np.r_[np.zeros(100, int), np.ones(100, int)]
    a = np.stack([rng.normal(size=200) + labels for _ in range(3)])
    b = np.stack([rng.normal(size=200) + 0.2 * labels for _ in range(2)])
    result = compare(labels, a, b)
    expected = np.mean([roc_auc_score(labels, s) for s in a]) - np.mean(
        [roc_auc_score(labels, s) for s in b]
    )
    assert result.difference == pytest.approx(expected)


def test_holm():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
