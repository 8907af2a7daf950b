"""Image-level detection metrics: the table of metrics, and stratified bootstrap intervals.

``METRICS`` is the one table that the runner (metrics stored in a record), the leaderboard
(values per seed) and every export (columns) read: a new metric is one entry. A metric is
computed from a run's test labels and scores, and, where it needs one (``at_threshold``), at
the honest operating point set by the validation normals (``operating_point``); those are
computed on the board, the others when the run ends and stored in its record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from uadbench.statistics.operating_point import operating_point

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
INTERVAL = f"stratified-percentile-v1:{BOOTSTRAP_RESAMPLES}:{BOOTSTRAP_SEED}"
"""Names how ``auroc_interval`` computes: a value kept under this name (a board's memo) is
recomputed when it changes, so change it with the computation."""
"""The bootstrap is seeded by a constant, so the same scores always give the same interval."""


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn, imported here: the leaderboard needs it not)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision with abnormal as the positive class (scikit-learn)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(labels, scores))


def stratified_bootstrap_indices(
    labels: np.ndarray, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """Resampled test indices ``(n_resamples, n)``: normals drawn from normals, abnormals from
    abnormals, each with replacement, so every resample keeps the class counts."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    negatives, positives = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    return np.concatenate(
        [
            rng.choice(negatives, size=(n_resamples, len(negatives))),
            rng.choice(positives, size=(n_resamples, len(positives))),
        ],
        axis=1,
    )


def resampled_auroc(
    labels: np.ndarray, scores: np.ndarray, indices: np.ndarray, summed: bool = False
) -> np.ndarray:
    """AUROC of every resample in ``indices`` (Mann-Whitney U: ties count one half).

    ``scores`` may be ``(n,)`` or ``(k, n)`` for k score vectors on the same images; the result
    is ``(n_resamples,)`` or ``(k, n_resamples)``, or with ``summed`` the mean over the k
    vectors ``(n_resamples,)``. A resample is the multiset of images it draws, so its U is
    ``counts_abnormal @ pairs @ counts_normal`` with ``pairs`` twice the Heaviside of each
    (abnormal, normal) score difference: whole numbers, exact in float64 (also summed over the
    k vectors), so the matrix products give exactly the rank-sum result, without ranking each
    resample.
    """
    labels = np.asarray(labels)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n_pos = int(labels[indices[0]].sum())
    n_neg = indices.shape[1] - n_pos
    pos_counts = _counts(indices, positives, len(labels))
    neg_counts = _counts(indices, negatives, len(labels))
    scores = np.asarray(scores, dtype=float)
    pair_matrices = [
        np.sign(vector[positives, None] - vector[None, negatives]) + 1.0
        for vector in np.atleast_2d(scores)
    ]
    if summed:
        twice_u = np.einsum("rp,rp->r", pos_counts @ sum(pair_matrices), neg_counts)
        return twice_u / (2 * n_pos * n_neg * len(pair_matrices))
    out = [
        np.einsum("rp,rp->r", pos_counts @ pairs, neg_counts) / (2 * n_pos * n_neg)
        for pairs in pair_matrices
    ]
    return np.stack(out) if scores.ndim == 2 else out[0]


def _counts(indices: np.ndarray, members: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``members`` is drawn in each resample: ``(n_resamples, len(members))``."""
    rows = np.arange(len(indices))[:, None] * n
    flat = np.bincount((rows + indices).ravel(), minlength=len(indices) * n)
    return flat.reshape(len(indices), n)[:, members].astype(float)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of ``values`` (percentile method)."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def auroc_interval(
    labels: np.ndarray,
    scores: np.ndarray,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Stratified bootstrap interval of the AUROC.

    With ``scores`` of shape ``(k, n)`` (k seeds on the same test images), each resample draws
    the same images for every seed and the interval is that of the mean AUROC over seeds.
    """
    indices = stratified_bootstrap_indices(labels, n_resamples, seed)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    # the mean AUROC over seeds is the AUROC of the seeds' summed pair matrix: one product
    values = resampled_auroc(labels, scores, indices, summed=True)
    return percentile_interval(values, level)


@dataclass(frozen=True)
class Metric:
    """One metric: its name in records and exports, its column in tables, how it is computed."""

    name: str
    column: str | None
    """The column of the human tables that shows it (None: another metric's column does)."""
    compute: Callable[[np.ndarray, np.ndarray, float | None], float] | None
    """``(labels, scores, threshold) -> value``; the threshold is None unless ``at_threshold``.
    None for a localisation metric."""
    at_threshold: bool = False
    formats: tuple[str, ...] = ("terminal", "document", "latex")
    """The human formats whose tables have its column."""
    spread: bool = True
    """Tables show mean ± std over seeds (else the mean)."""
    localisation: str | None = None
    """The lesion truth a localisation metric needs (``mask`` or ``boxes``): it is read from a
    run's ``localisation`` (computed from its kept maps), not from its scores; a table shows
    its column only where a row has it."""


def _at_threshold(name: str) -> Callable[[np.ndarray, np.ndarray, float | None], float]:
    return lambda labels, scores, threshold: operating_point(labels, scores, threshold)[name]


PRIMARY = "auroc"
"""The metric rows are ranked, compared (DeLong) and bootstrapped by."""

METRICS: tuple[Metric, ...] = (
    Metric("auroc", "AUROC %", lambda y, s, _: auroc(y, s)),
    Metric("average_precision", "AP %", lambda y, s, _: average_precision(y, s)),
    Metric(
        "sensitivity", "sens/spec %", _at_threshold("sensitivity"), True, ("terminal", "document")
    ),
    Metric("specificity", None, _at_threshold("specificity"), True, ()),
    Metric("f1", "F1 %", _at_threshold("f1"), True, ("document",), spread=False),
    *(
        Metric(name, column, None, formats=("document", "latex"), spread=spread, localisation=truth)
        for name, column, truth, spread in (
            ("pixel_auroc", "pixel AUROC %", "mask", True),
            ("aupro", "AUPRO %", "mask", True),
            ("dice", "Dice %", "mask", True),
            ("hit_rate", "hit %", "boxes", True),
            ("mass_inside", "mass in boxes %", "boxes", True),
            ("uniform_share", "uniform %", "boxes", False),
        )
    ),
)
"""Image metrics, then where the anomaly maps point (``uadbench.running.kept_maps``): pixel
AUROC, AUPRO and the Dice at the validation normals' threshold against lesion masks; against
boxes, the pointing game's hit rate and the share
of the map's mass inside the boxes, beside what a uniform map gives both (``uniform %``)."""


def record_metrics(
    labels: np.ndarray, scores: np.ndarray, variants: dict[str, np.ndarray]
) -> dict[str, object]:
    """The metrics stored in a finished run's record: of its reported scores, with their
    bootstrap interval, and of every score variant (one sort for all, ``ranked_metrics``; the
    variants equal to the reported scores take its values, so that one number is stored
    once, not twice up to rounding)."""
    names = list(variants)
    matrix = np.array([np.asarray(variants[n], dtype=float) for n in names]).reshape(len(names), -1)
    aurocs, precisions = ranked_metrics(np.asarray(labels), matrix)
    reported = image_metrics(labels, scores)
    given = np.asarray(scores, dtype=float)
    same = [np.array_equal(row, given) for row in matrix]
    return {
        **reported,
        "variants": {
            name: {
                "auroc": reported["auroc"] if equal else float(a),
                "average_precision": reported["average_precision"] if equal else float(p),
            }
            for name, a, p, equal in zip(names, aurocs, precisions, same, strict=True)
        },
    }


def image_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, object]:
    """The run-time metrics of one score vector, the AUROC's bootstrap interval, class counts."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    values = {
        m.name: m.compute(labels, scores, None)
        for m in METRICS
        if m.compute is not None and not m.at_threshold
    }
    return {
        "auroc": values.pop("auroc"),
        "auroc_ci95": list(auroc_interval(labels, scores)),
        **values,
        "n_normal": int((labels == 0).sum()),
        "n_abnormal": int((labels == 1).sum()),
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED, "stratified": True},
    }


def ranked_metrics(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and average precision of each row of ``scores`` ``(k, n)`` against 0/1
    ``labels``: what scikit-learn gives (``METRICS``), up to rounding, from one sort of every
    row at once (a record's stored metrics are checked with it whenever it is read)."""
    k, n = scores.shape
    order = np.argsort(-scores, axis=1)  # ties are counted by value, in any order
    ranked = np.take_along_axis(scores, order, axis=1)
    abnormal = labels[order].astype(float)
    n_abnormal = abnormal[0].sum()
    found = np.cumsum(abnormal, axis=1)  # abnormals at or above each rank
    index = np.arange(n)
    starts = np.ones((k, n), bool)  # where a run of tied scores starts
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    ends = np.ones((k, n), bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, index, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, index, n - 1)[:, ::-1], axis=1)[:, ::-1]
    through_ties = np.take_along_axis(found, last, axis=1)
    above_ties = np.where(first > 0, np.take_along_axis(found, np.maximum(first - 1, 0), 1), 0)
    # a normal image counts the abnormals scored above it, and half of those tied with it
    auroc = ((1 - abnormal) * (above_ties + through_ties) / 2).sum(axis=1)
    auroc /= n_abnormal * (n - n_abnormal)
    # each abnormal image adds the precision at the lowest of the scores tied with its own
    precision = (abnormal * through_ties / (last + 1)).sum(axis=1) / n_abnormal
    return auroc, precision
