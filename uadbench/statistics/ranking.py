"""Methods ranked across data sets, as Demšar (JMLR 2006) recommends for comparing several
methods over several data sets: each method's rank on each data set (1 = the highest AUROC, tied
methods share the mean of their ranks), the mean rank, Friedman's test that all methods rank
alike, and Nemenyi's post-hoc test of every pair with its critical difference (two mean ranks
further apart than it differ at the level ``alpha``).

The tests come from SciPy (``friedmanchisquare``, ``studentized_range``) and scikit-posthocs
(``posthoc_nemenyi_friedman``). Friedman's chi-square approximation wants about ten or more
data sets; over two or three the tests can rarely reject anything (``power_note`` says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ALPHA = 0.05


@dataclass(frozen=True)
class RankSummary:
    """The ranks of the methods measured on every data set, and the tests over them."""

    scores: pd.DataFrame
    """Data sets (index) x methods (columns): the score ranked (higher is better)."""
    ranks: pd.DataFrame
    """The same shape: each method's rank on each data set (1 = best, ties averaged)."""
    mean_ranks: pd.Series
    """Each method's mean rank, best first."""
    left_out: dict[str, list[str]] = field(default_factory=dict)
    """Methods not measured on every data set: the data sets each lacks."""
    friedman_statistic: float | None = None
    friedman_p: float | None = None
    nemenyi_p: pd.DataFrame | None = None
    """Methods x methods: Nemenyi's p-value of each pair."""
    critical_difference: float | None = None
    """The least difference of mean ranks Nemenyi's test calls significant at ``alpha``."""
    alpha: float = ALPHA
    why_no_test: str = ""
    """Why the tests were not run (too few data sets or methods), else ''."""

    @property
    def n_datasets(self) -> int:
        return len(self.ranks.index)

    @property
    def n_methods(self) -> int:
        return len(self.ranks.columns)

    def power_note(self) -> str:
        """How much the tests can tell with this many data sets and methods, in words."""
        n, k = self.n_datasets, self.n_methods
        if self.why_no_test:
            return self.why_no_test
        return (
            f"{n} data sets, {k} methods: two mean ranks must lie more than "
            f"{self.critical_difference:.2f} apart (of at most {k - 1}) for Nemenyi's test to "
            f"tell them apart at {self.alpha:g}, and Friedman's chi-square approximation wants "
            "about ten or more data sets (Demšar 2006); over so few, read the ranks as a "
            "description, not as evidence that one method is better"
        )


def rank_methods(scores: pd.DataFrame, alpha: float = ALPHA) -> RankSummary:
    """Rank the methods (columns) of ``scores`` on each data set (rows), higher scores first;
    methods without a score on every data set are left out and named."""
    left_out = {
        str(m): [str(d) for d in scores.index[scores[m].isna()]]
        for m in scores.columns
        if scores[m].isna().any()
    }
    complete = scores.drop(columns=list(left_out)).astype(float)
    ranks = complete.rank(axis=1, ascending=False, method="average")
    mean_ranks = ranks.mean().sort_values(kind="stable")
    n, k = complete.shape
    base = RankSummary(complete, ranks, mean_ranks, left_out, alpha=alpha)
    if n < 2 or k < 3:
        return _without_tests(base, n, k)
    from scipy.stats import friedmanchisquare, studentized_range

    if (ranks.nunique(axis=1) == 1).all():  # every method tied on every data set
        statistic, p = 0.0, 1.0
    else:
        statistic, p = friedmanchisquare(*complete.to_numpy().T)
    q = studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return RankSummary(
        complete,
        ranks,
        mean_ranks,
        left_out,
        float(statistic),
        float(p),
        _nemenyi(complete),
        float(q * math.sqrt(k * (k + 1) / (6 * n))),
        alpha,
    )


def _without_tests(base: RankSummary, n: int, k: int) -> RankSummary:
    why = (
        f"{n} data set(s) with every method: Friedman's test needs at least two"
        if n < 2
        else f"{k} method(s) on every data set: Friedman's test needs at least three"
    )
    return RankSummary(
        base.scores, base.ranks, base.mean_ranks, base.left_out, alpha=base.alpha, why_no_test=why
    )


def _nemenyi(scores: pd.DataFrame) -> pd.DataFrame:
    """Nemenyi's p-value of every pair of methods (blocks: data sets)."""
    import scikit_posthocs

    p = scikit_posthocs.posthoc_nemenyi_friedman(scores.to_numpy())
    p.index = p.columns = list(scores.columns)
    return p
