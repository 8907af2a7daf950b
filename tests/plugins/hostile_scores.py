"""Methods whose scores numpy would turn into floats without a word, for the hostile-input
battery: numeric strings, complex numbers, and Python objects that are not numbers."""

from dataclasses import dataclass

from uadbench import Method


@dataclass(frozen=True)
class Params:
    image_size: int = 16


class StringScores(Method):
    """Scores as numeric strings, e.g. ``"0.5"``."""

    name = "string-scores"
    Params = Params
    profiles = {"quick": Params()}

    def fit(self, train, val=None):
        return self

    def score(self, images):
        return [str(float(v)) for v in images.mean(axis=(1, 2))]


class ComplexScores(StringScores):
    """Scores as complex numbers, the imaginary part all but zero."""

    name = "complex-scores"

    def score(self, images):
        return images.mean(axis=(1, 2)) + 1e-9j


class ObjectScores(StringScores):
    """Scores as a list holding a None among floats."""

    name = "object-scores"

    def score(self, images):
        return [None, *images.mean(axis=(1, 2))[1:].tolist()]
