"""Every recorded score of a method's runs, as mean AUROC +- sample std over their seeds.

    python benchmarks/variant_table.py --results-dir results/profile-selection/v2 \\
        --method anatpaste > results/profile-selection/v2/variants.md

The runs are grouped by the parameters they change from the profile (one group per candidate);
each group lists its seeds, the mean fit time, the pretext accuracy on validation normals (a
label-free signal) and, per score variant the records hold, the mean and sample std of its
AUROC over the seeds. Only finished records count; the rest are named below the tables.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from uadbench.running.record_store import scan_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, required=True)
    parser.add_argument("--method", required=True)
    args = parser.parse_args()
    groups: dict[str, list] = defaultdict(list)
    unfinished = []
    for record in scan_records(args.results_dir).records:
        if record.config.method != args.method:
            continue
        if record.state != "ok":
            unfinished.append(f"{record.path} ({record.state})")
            continue
        changed = ", ".join(f"{k}={v}" for k, v in sorted(record.changed_params.items()))
        groups[
            f"{record.config.dataset} / {record.config.split_version} / {changed or '-'}"
        ].append(record)
    print(f"<!-- made by: python benchmarks/variant_table.py {shlex.join(sys.argv[1:])} -->\n")
    for group, records in groups.items():
        records.sort(key=lambda r: r.config.seed)
        fit = np.mean([r.timings["fit_s"] for r in records])
        accuracy = np.mean([r.notes.get("val_pretext_accuracy", np.nan) for r in records])
        seeds = ", ".join(str(r.config.seed) for r in records)
        print(f"## {group}\n")
        print(
            f"Seeds {seeds}; mean fit {fit / 60:.1f} min (max "
            f"{max(r.timings['fit_s'] for r in records) / 60:.1f}); pretext accuracy on "
            f"validation normals {accuracy:.3f}; reported: `{records[0].test.reported_score}`.\n"
        )
        print("| score | mean AUROC % | std | per seed |\n|---|---:|---:|---|")
        names = records[0].metrics["variants"]
        rows = []
        for name in names:
            values = 100 * np.array([r.metrics["variants"][name]["auroc"] for r in records])
            std = values.std(ddof=1) if len(values) > 1 else float("nan")
            rows.append((values.mean(), name, std, values))
        for mean, name, std, values in sorted(rows, reverse=True):
            per_seed = ", ".join(f"{v:.1f}" for v in values)
            print(f"| `{name}` | {mean:.1f} | {std:.1f} | {per_seed} |")
        print()
    if unfinished:
        print("Not counted (not finished):\n")
        print("\n".join(f"- {line}" for line in unfinished))


if __name__ == "__main__":
    main()
