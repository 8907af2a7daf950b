"""The anatomy question's four rows on one test set, and DeLong's paired tests of every pair.

    python benchmarks/anatomy_comparison.py --results-dir results/zhanglab-quick \\
        --dataset zhanglab >> results/anatomy/README.md

The rows are the leaderboard's (``uadbench.outputs.leaderboard``): AnatPaste with the reference
mask (its default), with ``mask=lung-field`` and with ``mask=whole-image``, and CutPaste, each on
its quick profile with no other parameter changed, on the same test images. Each pair is tested
by DeLong's test of the difference of the seed-mean AUROCs (``uadbench.statistics.delong``),
Holm-adjusted over the pairs. A row that is missing, or on other test images, is named and
left out; nothing is inferred for it. ``--by-finding`` adds each row's seed-mean AUROC of the
test normals against each kind of finding, for a data set whose split table names the finding
of each image (the synthetic phantoms do); it describes, it tests nothing.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
from options import add_data_root

from uadbench.errors import UserError
from uadbench.outputs.leaderboard import Row, build_leaderboard
from uadbench.registry import datasets
from uadbench.running.record_store import scan_records
from uadbench.statistics.delong import compare, holm
from uadbench.statistics.metrics import auroc

ROWS = {
    "AnatPaste, reference mask": ("anatpaste", {}),
    "AnatPaste, lung-field mask": ("anatpaste", {"mask": "lung-field"}),
    "AnatPaste, whole image": ("anatpaste", {"mask": "whole-image"}),
    "CutPaste": ("cutpaste", {}),
}


def find_rows(rows: list[Row], dataset: str) -> dict[str, Row]:
    """The four rows among ``rows`` (quick profile, label-free), by their name in ``ROWS``."""
    found = {}
    for name, (method, changes) in ROWS.items():
        for row in rows:
            if (row.dataset, row.method, row.profile) == (dataset, method, "quick") and (
                row.changes == changes and not row.label_use and row.scores is not None
            ):
                found[name] = row
    return found


def table(found: dict[str, Row]) -> list[str]:
    lines = ["| row | seeds | AUROC % (mean ± std) | per seed |", "|---|---:|---:|---|"]
    for name, row in found.items():
        values = [100 * v for v in row.values["auroc"]]
        std = row.std("auroc")
        spread = (
            f" ± {100 * std:.1f}" if std is not None else " (deterministic)" * row.deterministic
        )
        lines.append(
            f"| {name} | {row.n} | {100 * row.auroc_mean:.1f}{spread} | "
            + ", ".join(f"{v:.1f}" for v in values)
            + " |"
        )
    return lines


def pairwise(found: dict[str, Row]) -> list[str]:
    names = list(found)
    pairs = list(itertools.combinations(names, 2))
    tests = []
    for a, b in pairs:
        first, second = found[a], found[b]
        position = {image_id: j for j, image_id in enumerate(second.test_ids)}
        scores = second.scores[:, [position[x] for x in first.test_ids]]
        tests.append(compare(first.labels, first.scores, scores))
    adjusted = holm([t.p_value for t in tests]) if tests else []
    lines = [
        "| A | B | AUROC A − B (points) | z | p | p (Holm) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (a, b), test, p_holm in zip(pairs, tests, adjusted, strict=True):
        lines.append(
            f"| {a} | {b} | {100 * test.difference:+.1f} | {test.z:.2f} | "
            f"{test.p_value:.3g} | {p_holm:.3g} |"
        )
    return lines


def by_finding(found: dict[str, Row], findings: dict[str, str]) -> list[str]:
    """Seed-mean AUROC % of the test normals against each finding, a column per finding."""
    kinds = sorted({findings[i] for row in found.values() for i in row.test_ids} - {"normal"})
    lines = ["| row | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
    for name, row in found.items():
        kind = np.array([findings[i] for i in row.test_ids])
        cells = []
        for finding in kinds:
            keep = (kind == "normal") | (kind == finding)
            aurocs = [auroc(row.labels[keep], seed[keep]) for seed in row.scores]
            cells.append(f"{100 * np.mean(aurocs):.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def split_findings(found: dict[str, Row], data_root: Path | None) -> dict[str, str] | None:
    """The finding of each test image of ``found``, from the data set's split table made with
    the rows' own data-set options (None where the table names no finding). ``UserError`` when
    the table does not hold the rows' test images with their labels."""
    first = next(iter(found.values()))
    cls = datasets.get(first.dataset)
    known = {f.name for f in fields(cls.Options)}
    recorded = first.runs[0].config.dataset_options
    options = {k: str(v) for k, v in recorded.items() if k in known}
    table = cls.from_settings(data_root, options).split_table()
    if "finding" not in table:
        return None
    label = dict(zip(table["id"], table["label"], strict=True))
    for row in found.values():
        if any(label.get(i) != y for i, y in zip(row.test_ids, row.labels, strict=True)):
            raise UserError(
                f"the split table of {first.dataset} made with the records' options "
                f"{options} does not hold the test images of {row.name} with their labels"
            )
    return dict(zip(table["id"], table["finding"], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--by-finding", action="store_true", help="AUROC per kind of finding")
    add_data_root(parser, "for --by-finding, where the data are (default $UADBENCH_DATA_ROOT)")
    args = parser.parse_args()
    board = build_leaderboard(scan_records(args.results_dir).records)
    found = find_rows(board.rows, args.dataset)
    test_sets = {row.test_set for row in found.values()}
    print(f"<!-- made by: python benchmarks/anatomy_comparison.py {shlex.join(sys.argv[1:])} -->")
    print(f"\n### {args.dataset}\n")
    if missing := [name for name in ROWS if name not in found]:
        print(f"Not found in {args.results_dir}: {', '.join(missing)}.\n")
    if len(test_sets) > 1:
        print("The rows were scored on different test images: no paired test.\n")
        found = {}
    print("\n".join(table(found)) + "\n")
    print("DeLong's paired test of the seed-mean AUROCs, Holm-adjusted over the pairs:\n")
    print("\n".join(pairwise(found)))
    if args.by_finding and found:
        try:
            findings = split_findings(found, args.data_root)
        except UserError as error:
            sys.exit(f"--by-finding: {error}")
        if findings is None:
            print(f"\nThe split table of {args.dataset} names no finding per image.")
        else:
            print("\nSeed-mean AUROC % of the test normals against each kind of finding:\n")
            print("\n".join(by_finding(found, findings)))


if __name__ == "__main__":
    main()
