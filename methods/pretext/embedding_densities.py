"""The densities a pretext method scores with: three densities of two embeddings.

A trained backbone gives, for each image, the pooled feature map of every level (the stem, each
block, the head). Two embeddings are modelled:

- ``last``: the pooled output of the last level (the embedding the reference code uses),
  L2-normalised;
- ``all``: every level's pooled features, each L2-normalised so that every level weighs the
  same (as ``imagenet-gaussian`` does), concatenated and scaled to unit length.

and three densities of each, fitted on the training normals (``uadbench.methods.densities``):
the Gaussian kernel density (``kde``), the Ledoit-Wolf Gaussian (``gaussian``; for ``all``,
one Gaussian per level and the Mahalanobis distances summed, as Rippel et al.) and the mean
cosine distance to the ``k`` nearest training embeddings (``knn``).
"""

from __future__ import annotations

import numpy as np

DENSITIES = ("kde", "gaussian", "knn")
LEVELS = ("last", "all")


def level_variant(levels: str, density: str) -> str:
    """The name of one score of ``LevelDensities``: ``gaussian`` or ``levels-gaussian``."""
    return density if levels == "last" else f"levels-{density}"


class LevelDensities:
    """The three densities of both embeddings of the training normals' level features."""

    def __init__(self, bandwidth: float = 1.0, k: int = 5) -> None:
        self.bandwidth = bandwidth
        self.k = k

    def fit(self, levels: list[np.ndarray]) -> LevelDensities:
        """``levels``: one ``(N, channels)`` array of pooled features per backbone level."""
        from uadbench.methods.densities import GaussianDensity, GaussianKDE, KNNCosine

        last, joined = _embeddings(levels)
        self.last_ = {
            "kde": GaussianKDE(self.bandwidth).fit(last),
            "gaussian": GaussianDensity().fit(last),
            "knn": KNNCosine(self.k).fit(last),
        }
        # the levels before the last (whose Gaussian is the one of ``last``)
        self.earlier_levels_ = [GaussianDensity().fit(_unit(level)) for level in levels[:-1]]
        self.joined_ = {
            "kde": GaussianKDE(self.bandwidth).fit(joined),
            "knn": KNNCosine(self.k).fit(joined),
        }
        return self

    def score(self, levels: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Every score of the images whose level features are ``levels``, by variant name."""
        last, joined = _embeddings(levels)
        scores = {level_variant("last", name): d.score(last) for name, d in self.last_.items()}
        scores[level_variant("all", "gaussian")] = scores["gaussian"] + sum(
            g.score(_unit(level))
            for g, level in zip(self.earlier_levels_, levels[:-1], strict=True)
        )
        for name, density in self.joined_.items():
            scores[level_variant("all", name)] = density.score(joined)
        return scores


def _unit(x: np.ndarray) -> np.ndarray:
    from uadbench.methods.densities import l2_normalise

    return l2_normalise(x)


def _embeddings(levels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The ``last`` and ``all`` embeddings of level features."""
    joined = np.concatenate([_unit(level) for level in levels], axis=1) / np.sqrt(len(levels))
    return _unit(levels[-1]), joined
