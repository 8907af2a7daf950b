"""The checks every method passes, for a third-party author to run on their own class too.

As scikit-learn's ``check_estimator``: ``check_method(MyMethod)`` checks the class against the
contract (``uadbench.contracts.method``), that every profile's parameters are accepted, and
then fits and scores a tiny set of synthetic chest phantoms twice with one seed: the scores must
be finite real numbers, one per image and not all equal, the reported variant among them,
``score`` the reported variant at every call, and the same both times. A method with anomaly
maps must give finite maps of the images' shape, the same at every call, and its scores must
not change after a map was made.

    >>> from uadbench.testing import check_method
    >>> check_method(MyMethod, {"epochs": "1"})  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from uadbench.contracts.method import Method, RunContext, check_method_class
from uadbench.data.prepare import PreparedData, prepare
from uadbench.data.readers.synthetic import SyntheticChest
from uadbench.registry import method_settings
from uadbench.running.runtime import seed_everything
from uadbench.running.score_checks import checked_variants

TINY = {"n_train": "40", "n_val": "8", "n_test_normal": "12", "n_test_abnormal": "12"}
"""The phantoms a check fits and scores: 40 training normals, 8 validation, 12 + 12 test."""


class MethodCheckError(AssertionError):
    """A method that breaks the contract; the message says how."""


def check_method(
    cls: type[Method],
    params: Mapping[str, str] | None = None,
    image_size: int | None = None,
    seed: int = 0,
) -> None:
    """Check ``cls``; ``params`` (``--param`` strings) and ``image_size`` make the fit small."""
    try:
        check_method_class(cls)
    except TypeError as error:
        raise MethodCheckError(str(error)) from None
    for profile, values in cls.profile_table().items():
        if values.image_size < cls.min_image_size:
            raise MethodCheckError(
                f"profile {profile!r} of {cls.name!r} asks for {values.image_size} px, below the "
                f"method's own minimum of {cls.min_image_size} px"
            )
    overrides = dict(params or {})
    if image_size is not None:
        overrides["image_size"] = str(image_size)
    _, _, chosen = method_settings(cls, "quick", overrides)
    with tempfile.TemporaryDirectory(prefix="uadbench-check-") as scratch:
        data = prepare(SyntheticChest.from_settings(None, TINY), chosen.image_size, Path(scratch))
        first = _fit_and_score(cls, chosen, data, seed, Path(scratch))
        second = _fit_and_score(cls, chosen, data, seed, Path(scratch))
    for name in first:
        if not np.array_equal(first[name], second[name]):
            raise MethodCheckError(
                f"{cls.name!r} gave other {name!r} scores the second time with seed {seed}: "
                "seed every random draw from context.seed"
            )


def _fit_and_score(
    cls: type[Method], params: object, data: PreparedData, seed: int, scratch: Path
) -> dict[str, np.ndarray]:
    extras = cls.required_extras(params)
    train = data.split("train", extras=extras)
    val = data.split("val", extras=extras)
    test = data.split("test")
    seed_everything(seed)
    method = cls(params, RunContext(device="cpu", seed=seed, scratch=scratch))
    if method.fit(train, val) is not method:
        raise MethodCheckError(f"{cls.name!r}.fit must return self")
    variants = method.score_variants(test.images)
    if not isinstance(variants, dict) or not variants:
        raise MethodCheckError(f"{cls.name!r}.score_variants must return a non-empty dict")
    reported = method.reported_variant()
    if reported not in variants:
        raise MethodCheckError(
            f"{cls.name!r} reports {reported!r}, which is not among its scores "
            f"({', '.join(variants)})"
        )
    for name, scores in variants.items():
        if np.shape(scores) != (len(test),):
            raise MethodCheckError(
                f"{cls.name!r} score {name!r} has shape {np.shape(scores)} for {len(test)} images"
            )
    try:
        out = checked_variants(variants, len(test), "test")
    except (TypeError, FloatingPointError) as error:
        raise MethodCheckError(f"{cls.name!r}: {error}") from None
    for name, scores in out.items():
        if np.ptp(scores) == 0:
            raise MethodCheckError(
                f"{cls.name!r} gave every test image the same {name!r} score: a method whose "
                "scores cannot rank images detects nothing"
            )
    if not np.array_equal(np.asarray(method.score(test.images), dtype=float), out[reported]):
        again = method.score_variants(test.images)[reported]
        if not np.array_equal(np.asarray(again, dtype=float), out[reported]):
            raise MethodCheckError(
                f"{cls.name!r}.score is not deterministic for a fixed seed: it gave other scores "
                "for the same images after one fit; draw nothing at random in score (or seed "
                "it from context.seed)"
            )
        raise MethodCheckError(f"{cls.name!r}.score differs from its reported variant {reported!r}")
    if cls.has_anomaly_map():
        _check_maps(method, test.images, out[reported])
    return out


def _check_maps(method: Method, images: np.ndarray, reported: np.ndarray) -> None:
    name = method.name
    maps = np.asarray(method.anomaly_map(images))
    if maps.shape != images.shape:
        raise MethodCheckError(
            f"{name!r}.anomaly_map gave shape {maps.shape} for images {images.shape}: one map "
            "per image at the input size"
        )
    if not np.issubdtype(maps.dtype, np.floating) or not np.isfinite(maps).all():
        raise MethodCheckError(f"{name!r}.anomaly_map must give finite floats")
    if not np.array_equal(np.asarray(method.anomaly_map(images)), maps):
        raise MethodCheckError(
            f"{name!r}.anomaly_map gave other maps for the same images after one fit"
        )
    if not np.array_equal(np.asarray(method.score(images), dtype=float), reported):
        raise MethodCheckError(f"{name!r}: making anomaly maps changed its scores")
