"""The densities of the feature-based methods against the libraries' own estimators."""

import numpy as np
from scipy.spatial.distance import mahalanobis
from sklearn.neighbors import KernelDensity, NearestNeighbors
from uadbench.methods.densities import GaussianDensity, GaussianKDE, KNNCosine, l2_normalise
from uadbench.methods.pretext.embedding_densities import LevelDensities

RNG = np.random.default_rng(0)
TRAIN, TEST = RNG.normal(size=(60, 8)), RNG.normal(size=(10, 8))


def test_gaussian_score_is_the_mahalanobis_distance():
    density = GaussianDensity().fit(TRAIN)
    expected = [mahalanobis(x, density.mean_, density.precision_) for x in TEST]
    np.testing.assert_allclose(density.score(TEST), expected, rtol=1e-10)


def test_kernel_density_is_scikit_learns_up_to_its_normalising_constant():
    ours = GaussianKDE(bandwidth=0.7).fit(TRAIN).score(TEST)
    theirs = -KernelDensity(bandwidth=0.7).fit(TRAIN).score_samples(TEST)
    np.testing.assert_allclose(ours - theirs, np.full(len(TEST), (ours - theirs)[0]), atol=1e-9)
    assert np.ptp(ours) > 1  # the scores themselves differ between images


def test_knn_is_the_mean_cosine_distance_to_the_nearest_neighbours():
    neighbours = NearestNeighbors(n_neighbors=3, metric="cosine").fit(TRAIN)
    distances, _ = neighbours.kneighbors(TEST)
    np.testing.assert_allclose(KNNCosine(3).fit(TRAIN).score(TEST), distances.mean(1), atol=1e-12)


def test_level_densities_sum_per_level_gaussians_and_model_the_last_level_alone():
    train = [RNG.normal(size=(60, d)) for d in (4, 6, 8)]
    test = [RNG.normal(size=(10, d)) for d in (4, 6, 8)]
    scores = LevelDensities(bandwidth=1.0, k=3).fit(train).score(test)
    per_level = [
        GaussianDensity().fit(l2_normalise(a)).score(l2_normalise(b))
        for a, b in zip(train, test, strict=True)
    ]
    np.testing.assert_allclose(scores["levels-gaussian"], sum(per_level), rtol=1e-10)
    np.testing.assert_allclose(scores["gaussian"], per_level[-1], rtol=1e-10)
    joined = [np.concatenate([l2_normalise(x) for x in levels], 1) for levels in (train, test)]
    np.testing.assert_allclose(
        scores["levels-knn"], KNNCosine(3).fit(joined[0]).score(joined[1]), atol=1e-12
    )
    assert set(scores) == {"kde", "gaussian", "knn", "levels-kde", "levels-gaussian", "levels-knn"}
