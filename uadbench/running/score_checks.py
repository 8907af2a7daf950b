"""What a method's scores must be before they are recorded, and what they make worth a warning."""

from __future__ import annotations

from typing import Any

import numpy as np


def score_warnings(skipped: int, scores: np.ndarray) -> list[str]:
    """What the images left out and the test scores make worth a second look."""
    warnings = []
    if skipped:
        warnings.append(
            f"{skipped} unreadable image(s) were left out (--skip-unreadable); "
            "they are listed under data.skipped"
        )
    if np.ptp(scores) == 0:
        warnings.append(
            "the method gave every test image the same score (a collapsed model?): its AUROC "
            "of 0.5 says nothing about the method"
        )
    return warnings


REAL_KINDS = "biuf"
"""The numpy kinds of scores taken as they are: booleans, integers and floats."""

OTHER_KINDS = {"U": "strings", "S": "bytes", "c": "complex numbers"}
"""What scores of another numpy kind hold, in words (else: the type of their first value)."""


def checked_variants(variants: Any, expected: int, split: str) -> dict[str, np.ndarray]:
    """``score_variants()``'s result as float arrays; ``TypeError``, ``ValueError`` or
    ``FloatingPointError`` unless it is a dict of one finite real number per image."""
    if not isinstance(variants, dict) or not variants:
        raise TypeError("score_variants() must return a non-empty dict of name -> scores")
    checked = {}
    for name, given in variants.items():
        scores = np.asarray(given)
        if scores.dtype.kind not in REAL_KINDS:  # numpy would make floats of them without a word
            example = next(iter(scores.flat), None)
            example = example.item() if isinstance(example, np.generic) else example
            held = OTHER_KINDS.get(scores.dtype.kind, f"{type(example).__name__} values")
            raise TypeError(
                f"score {name!r} holds {held} (e.g. {example!r}) for the {split} images; "
                "a score must be a real number (int or float), one per image"
            )
        scores = scores.astype(float).reshape(-1)
        if scores.shape != (expected,):
            raise ValueError(
                f"score {name!r} has {scores.size} values for {expected} {split} images"
            )
        bad = int((~np.isfinite(scores)).sum())
        if bad:
            raise FloatingPointError(
                f"score {name!r} has {bad} non-finite value(s) among {expected} {split} images"
            )
        checked[name] = scores
    return checked
