"""A user's method plugin, kept outside the package: distance to the mean training image."""

from dataclasses import dataclass

import numpy as np

from uadbench import ImageSet, Method


class MeanDistance(Method):
    """Mean absolute distance to the average training image."""

    name = "mean-distance"

    @dataclass(frozen=True)
    class Params:
        image_size: int = 32
        power: float = 1.0

    profiles = {"quick": Params(), "paper": Params(image_size=64)}

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> "MeanDistance":
        self.mean_ = train.images.astype(np.float32).mean(axis=0)
        self.context.history.record(0, loss=1.0)
        return self

    def score(self, images: np.ndarray) -> np.ndarray:
        diff = np.abs(images.astype(np.float32) - self.mean_) ** self.params.power
        return diff.mean(axis=(1, 2))
