import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from uadbench.statistics.metrics import (
    auroc_interval,
    image_metrics,
    resampled_auroc,
    stratified_bootstrap_indices,
)


def sample(n0=60, n1=40, shift=1.0, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n0, int), np.ones(n1, int)]
    scores = np.r_[rng.normal(0, 1, n0), rng.normal(shift, 1, n1)]
    return labels, scores


def test_resampled_auroc_equals_sklearn_on_every_resample_with_ties():
    labels, scores = sample()
    scores = np.round(scores, 1)  # many ties
    indices = stratified_bootstrap_indices(labels, 50, seed=1)
    fast = resampled_auroc(labels, scores, indices)
    slow = [roc_auc_score(labels[i], scores[i]) for i in indices]
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


def test_bootstrap_keeps_class_counts():
    labels, _ = sample(30, 10)
    indices = stratified_bootstrap_indices(labels, 20)
    assert (labels[indices].sum(axis=1) == 10).all()


def test_interval_is_seeded_and_contains_the_estimate():
    labels, scores = sample()
    low, high = auroc_interval(labels, scores)
    assert (low, high) == auroc_interval(labels, scores)
    assert low < roc_auc_score(labels, scores) < high
    assert 0.05 < high - low < 0.3


def test_interval_over_seeds_is_narrower_than_a_single_noisy_seed():
    labels, base = sample(200, 200, shift=1.0)
    rng = np.random.default_rng(5)
    seeds = np.stack([base + rng.normal(0, 1.0, base.shape) for _ in range(5)])
    single = auroc_interval(labels, seeds[0])
    pooled = auroc_interval(labels, seeds)
    assert pooled[1] - pooled[0] < single[1] - single[0]


def test_metrics_record():
    labels, scores = sample()
    metrics = image_metrics(labels, scores)
    assert metrics["n_normal"] == 60 and metrics["n_abnormal"] == 40
    assert metrics["auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert 0.4 < metrics["average_precision"] <= 1


def test_the_bootstrap_interval_covers_the_true_auroc_about_95_percent_of_the_time():
    from scipy.stats import norm

    shift = 1.0
    truth = norm.cdf(shift / np.sqrt(2))  # binormal model, unit variances
    rng = np.random.default_rng(7)
    covered = 0
    trials = 200
    for trial in range(trials):
        labels = np.r_[np.zeros(80, int), np.ones(80, int)]
        scores = rng.normal(size=160) + shift * labels
        low, high = auroc_interval(labels, scores, n_resamples=500, seed=trial)
        covered += low <= truth <= high
    assert 0.89 <= covered / trials <= 0.99


def test_a_variant_equal_to_the_reported_scores_stores_the_reported_numbers_exactly():
    from uadbench.statistics.metrics import record_metrics

    # seed 1: the one-sort computation of the variants and scikit-learn differ in the last bit
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, int(rng.integers(20, 200)))
    scores = rng.normal(size=len(labels))
    other = scores + rng.normal(size=len(labels))
    stored = record_metrics(labels, scores, {"reported": scores, "other": other})
    assert stored["variants"]["reported"]["auroc"] == stored["auroc"]
    assert stored["variants"]["reported"]["average_precision"] == stored["average_precision"]
    assert stored["variants"]["other"]["auroc"] == pytest.approx(roc_auc_score(labels, other))
