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


def checked_variants(variants: Any, expected: int, split: str) -> dict[str, np.ndarray]:
    """``score_variants()``'s result as arrays; ``TypeError``, ``ValueError`` or
    ``FloatingPointError`` unless it is a dict of one finite score per image."""
    if not isinstance(variants, dict) or not variants:
        raise TypeError("score_variants() must return a non-empty dict of name -> scores")
    checked = {}
    for name, scores in variants.items():
        scores = np.asarray(scores, dtype=float).reshape(-1)
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
