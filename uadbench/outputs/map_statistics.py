"""Intervals and paired tests of where the anomaly maps point, from each run's kept maps.

For every set of test images on which rows kept maps: each row's localisation numbers with a
95% bootstrap interval over the test images (stratified: the images with a finding and the
others resampled apart, so every resample has findings to point at), and a paired test of
each row against the best row on the same images, Holm-adjusted over the rows. Every row and
every seed is resampled with the same draws of images (``resample_weights`` of
``uadbench.statistics.localisation``, which computes every resampled number), and a row's
number is the mean over its seeds, as on the board. Against boxes: the pointing game's hit
rate (McNemar's exact test; an image counts as hit when half or more of the row's seeds hit
it) and the mass inside the boxes (Wilcoxon's signed-rank test on the per-image means over
seeds). Against masks: the pixel AUROC and the Dice (each tested by the bootstrap distribution
of its difference from the best row's). AUPRO has no interval here (its curve is over every
region at once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uadbench.errors import RecordError
from uadbench.outputs.display import markdown_title, percent, verdict
from uadbench.outputs.leaderboard import ALPHA, Leaderboard, Row
from uadbench.running.kept_maps import read_maps
from uadbench.statistics import localisation as metrics
from uadbench.statistics.delong import holm
from uadbench.statistics.metrics import BOOTSTRAP_RESAMPLES, METRICS, percentile_interval

TESTED = {"boxes": ("hit_rate", "mass_inside"), "mask": ("pixel_auroc", "dice")}
"""The numbers given an interval and a paired test, by the kind of truth."""


@dataclass
class Tested:
    """One row's number: its value (mean over seeds), 95% interval and Holm-adjusted p against
    the best row (None for the best row itself)."""

    value: float
    interval: tuple[float, float]
    p_holm: float | None = None


@dataclass
class MapStatistics:
    """The tested numbers of the rows of one set of test images that kept maps."""

    title: str
    truth: str
    rows: list[Row]
    numbers: dict[str, list[Tested]]
    """Metric name -> one ``Tested`` per row, in ``rows`` order."""
    left_out: list[str]
    """Rows whose maps could not be read, or that were scored on other images, and why."""


def map_statistics(board: Leaderboard) -> list[MapStatistics]:
    """The intervals and paired tests of every set of test images with rows that kept maps."""
    found: dict[tuple, list[Row]] = {}
    partly: dict[tuple, list[str]] = {}
    for row in board.rows:
        kept = [run.localisation is not None for run in row.runs]
        if row.runs and all(kept):
            found.setdefault(row.test_set, []).append(row)
        elif any(kept):
            partly.setdefault(row.test_set, []).append(f"{row.label}: only some seeds kept maps")
    return [
        _tested(board.test_set_title(rows[0]), rows, partly.get(key, []))
        for key, rows in found.items()
    ]


def _tested(title: str, rows: list[Row], left_out: list[str]) -> MapStatistics:
    truth = rows[0].runs[0].localisation.truth
    kept, reference = [], None
    for row in rows:
        try:
            seeds = [read_maps(run) for run in row.runs]
        except RecordError as error:
            left_out.append(f"{row.label}: {error}")
            continue
        ids = [list(run.test.ids) for run in row.runs]
        own = (ids[0], seeds[0].regions)
        if any(i != own[0] for i in ids) or any(
            not np.array_equal(s.regions, own[1]) for s in seeds
        ):
            left_out.append(f"{row.label}: its seeds' maps were scored on different test images")
            continue
        reference = reference or own
        if own[0] != reference[0] or not np.array_equal(own[1], reference[1]):
            left_out.append(f"{row.label}: its maps were scored on other test images")
            continue
        kept.append((row, seeds))
    found = reference[1].any(axis=(1, 2)) if reference else None
    if not kept or not found.any():
        why = [] if not kept else ["no test image has a finding to point at"]
        return MapStatistics(title, truth, [], {}, left_out + why)
    # stratified: every resample holds as many images with a finding as the test set does
    draws = metrics.resample_weights([np.flatnonzero(found), np.flatnonzero(~found)], len(found))
    per_row = [_resampled(truth, seeds, draws) for _, seeds in kept]
    numbers = {}
    for name in (n for n in TESTED[truth] if all(n in row for row in per_row)):
        values = [row[name] for row in per_row]
        best = int(np.argmax([v[0] for v in values]))
        p = [_p_value(truth, name, values[i], values[best]) for i in range(len(values))]
        others = [i for i in range(len(values)) if i != best]
        adjusted = dict(zip(others, holm([p[i] for i in others]), strict=True))
        numbers[name] = [
            Tested(value, percentile_interval(resampled), adjusted.get(i))
            for i, (value, resampled, _) in enumerate(values)
        ]
    return MapStatistics(title, truth, [row for row, _ in kept], numbers, left_out)


def _resampled(truth: str, seeds: list, draws: np.ndarray) -> dict[str, tuple]:
    """Per tested number: (value, resampled values, per-image values for the paired test)."""
    if truth == "boxes":
        boxed = seeds[0].regions.any(axis=(1, 2))
        regions = seeds[0].regions[boxed]
        hits = np.mean([metrics.pointing_hits(s.maps[boxed], regions) for s in seeds], axis=0)
        mass = np.mean([metrics.mass_inside(s.maps[boxed], regions) for s in seeds], axis=0)
        return {
            name: (float(v.mean()), metrics.resampled_mean(v, draws[:, boxed]), v)
            for name, v in (("hit_rate", hits), ("mass_inside", mass))
        }
    aurocs, dices = [], []
    for s in seeds:
        maps = np.asarray(s.maps, np.float64)
        aurocs.append(metrics.resampled_pixel_auroc(maps, s.regions, draws))
        if s.val_maps is not None and len(s.val_maps):
            counts = metrics.dice_counts(maps, s.regions, metrics.pixel_threshold(s.val_maps))
            dices.append((metrics.dice(counts), metrics.resampled_dice(counts, draws)))
    out = {"pixel_auroc": _seed_mean(aurocs)}
    if len(dices) == len(seeds):
        out["dice"] = _seed_mean(dices)
    return out


def _seed_mean(per_seed: list[tuple[float, np.ndarray]]) -> tuple[float, np.ndarray, None]:
    return (
        float(np.mean([v for v, _ in per_seed])),
        np.mean([r for _, r in per_seed], axis=0),
        None,
    )


def _p_value(truth: str, name: str, row: tuple, best: tuple) -> float:
    """Two-sided p of the row against the best row on the same images."""
    if row is best:
        return 1.0
    if truth == "boxes":
        compare = metrics.compare_hits if name == "hit_rate" else metrics.compare_mass
        return compare(row[2], best[2])
    difference = row[1] - best[1]
    tail = max(min(np.mean(difference <= 0), np.mean(difference >= 0)), 1 / len(difference))
    return float(min(1.0, 2 * tail))  # at least 2 / resamples: no resample went the other way


def to_markdown(found: list[MapStatistics]) -> str:
    """A table per set of test images: each tested number with its interval and its paired
    test against the best row."""
    from tabulate import tabulate

    columns = {m.name: m.column for m in METRICS if m.localisation}
    text = ""
    for stats in found:
        if not stats.rows:
            continue
        names = list(stats.numbers)
        headers = ["method", "seeds"]
        for name in names:
            headers += [f"{columns[name]} (95% CI)", f"vs best {columns[name].removesuffix(' %')}"]
        cells = []
        for i, row in enumerate(stats.rows):
            cells.append([row.label, str(row.n)])
            for name in names:
                tested = stats.numbers[name][i]
                low, high = tested.interval
                cells[-1] += [
                    f"{percent(tested.value)} [{percent(low)}, {percent(high)}]",
                    verdict(tested.p_holm),
                ]
        text += f"\n{markdown_title(stats.title)}: intervals and paired tests of the maps\n\n"
        text += tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True) + "\n"
        text += "".join(f"\n- left out: {line}" for line in stats.left_out)
    return text.lstrip("\n") + (f"\n{LEGEND}\n" if text else "")


LEGEND = (
    "Intervals: 95% bootstrap percentile intervals over the test images, those with a finding "
    "and the others resampled apart (the same draws for every row and seed). vs best: paired "
    "test against the best row on the same images, Holm-adjusted over the rows: McNemar's "
    "exact test of the hits (an image is hit when half or more of the row's seeds hit it), "
    "Wilcoxon's signed-rank test of the per-image mass in the boxes, the bootstrap "
    "distribution of the difference in pixel AUROC and Dice (at least "
    f"2/{BOOTSTRAP_RESAMPLES:,} when no resample favours the row); 'n.s.' = not significantly "
    f"worse at {ALPHA:.0%}."
)
