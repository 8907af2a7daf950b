"""Does mapping large blocks (``uadbench.running.allocator``) cost PatchCore fit time?

    python benchmarks/allocator_ab.py --out results/benchmarks/allocator_ab.md --sizes 1000

PatchCore through the anomalib bridge, on ``n_train`` synthetic phantoms (as
``benchmarks/scaling.py`` runs it: quick profile, seed 0, 50 validation, 100 + 100 test), once
as the bridge runs it (``mapped``: its fit inside ``large_blocks_mapped``) and once with the
block replaced by one that does nothing (``glibc default``), alternating, ``--repeats`` times
each, every run a process of its own. Writes each run's fit time, peak resident memory and
AUROC, and the median per setting. A size where the default setting runs out of memory (250
phantoms did: 17.4 GiB) is not one to ask for on a small machine.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from options import add_out, write_result
from scaling import _machine, measure

UNMAPPED = (
    "import contextlib, sys; import uadbench.methods.anomalib_bridge as bridge; "
    "bridge.large_blocks_mapped = contextlib.nullcontext; "
    "from uadbench.cli import main; sys.argv[0] = 'uadbench'; main()"
)
# both through this interpreter, so that both run the same installation
SETTINGS = {
    "mapped": (sys.executable, "-m", "uadbench"),
    "glibc default": (sys.executable, "-c", UNMAPPED),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    add_out(parser)
    parser.add_argument("--sizes", default="1000", help="comma-separated numbers of phantoms")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for n_train in map(int, args.sizes.split(",")):
            for repeat in range(args.repeats):
                for setting in SETTINGS:
                    results = Path(scratch) / f"{setting}-{repeat}".replace(" ", "-")
                    row = measure("anomalib-patchcore", n_train, results, [], SETTINGS[setting])
                    rows.append(row | {"setting": setting})
                    print(rows[-1], file=sys.stderr, flush=True)
    lines = [
        "# PatchCore's fit with and without large blocks mapped",
        "",
        f"Command: `python benchmarks/allocator_ab.py {shlex.join(sys.argv[1:])}`",
        "",
        f"Machine: {_machine()}. Settings alternate, each run a process of its own.",
        "",
        "| phantoms | setting | fit s per run | median fit s | peak MiB per run | AUROC % |",
        "|---:|---|---|---:|---|---|",
    ]
    for n_train in map(int, args.sizes.split(",")):
        for setting in SETTINGS:
            mine = [r for r in rows if r["n_train"] == n_train and r["setting"] == setting]
            done = [r for r in mine if r["status"] == "ok"]
            fits = ", ".join(f"{r['fit_s']:.1f}" for r in done)
            peaks = ", ".join(
                f"{r['peak_memory_mb']:,.0f}" if r["peak_memory_mb"] else "-" for r in done
            )
            aurocs = ", ".join(f"{100 * r['auroc']:.1f}" for r in done)
            median = f"{statistics.median(r['fit_s'] for r in done):.1f}" if done else "-"
            failed = f" ({len(mine) - len(done)} failed)" if len(done) < len(mine) else ""
            lines.append(
                f"| {n_train:,} | {setting}{failed} | {fits} | {median} | {peaks} | {aurocs} |"
            )
    write_result(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
