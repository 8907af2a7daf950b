"""Every figure of a board (``uadbench plot``, the report): ROC curves, the AUROC heat map,
score distributions, training curves, the cost view, across several sets of test images the
critical-difference diagram, and where runs kept anomaly maps, sheets of where they point.

A figure already in the folder is not drawn again when nothing that drew it has changed: each
drawing is named by a key of what decides it (the record files it reads, by size, times and
inode, as the folder's index tells a changed file; uadbench's code and matplotlib's version),
and ``DRAWN`` in the folder lists the files each key wrote. A record added, rerun or removed
changes the key of every figure that shows it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

from uadbench.atomic import write_output
from uadbench.outputs.across_datasets import across_datasets, plot_critical_difference
from uadbench.outputs.cost_plot import plot_cost
from uadbench.outputs.leaderboard import Leaderboard
from uadbench.outputs.map_sheets import plot_map_sheets
from uadbench.outputs.plots import (
    output_folder,
    plot_auroc_heatmap,
    plot_roc_curves,
    plot_score_distributions,
    plot_training_curves,
    test_set_panels,
)
from uadbench.running.record_index import file_stamp
from uadbench.running.run_record import RunRecord
from uadbench.statistics.ranking import RankSummary
from uadbench.workers import called_in_workers

DRAWN = ".drawn.json"
"""In a figures folder: the files each drawing wrote, by its key."""


@dataclass(frozen=True)
class Drawing:
    """One figure's drawing and the key of what decides it."""

    key: str
    draw: Callable[[], list[Path]]


class Drawn(NamedTuple):
    """What ``draw_all`` gives: every figure's files in order, those of them kept as they were
    (nothing that drew them changed), and the results of the calls made beside the drawing."""

    files: list[Path]
    kept: list[Path]
    beside: list[object]


def plot_all(board: Leaderboard, records: list[RunRecord], out: Path) -> Drawn:
    """Every leaderboard figure into ``out`` (none when no run has finished), drawn on every
    core (matplotlib draws on one); a figure whose inputs have not changed is kept."""
    return draw_all(figure_drawings(board, records, out, across_datasets(board)), out)


def draw_all(drawings: list[Drawing], out: Path, beside: list[Callable[[], object]] = ()) -> Drawn:
    """Every drawing's files, kept ones as they are and the others drawn on every core, with
    the ``beside`` calls made meanwhile; ``DRAWN`` is updated."""
    kept = _drawn(out)
    todo = [d for d in drawings if not _still_there(out, kept.get(d.key))]
    made = called_in_workers([*(d.draw for d in todo), *beside])
    drawn = dict(zip((d.key for d in todo), made[: len(todo)], strict=True))
    files = {
        d.key: drawn[d.key] if d.key in drawn else [out / name for name in kept[d.key]]
        for d in drawings
    }
    listed = {key: [p.name for p in paths] for key, paths in files.items()}
    if drawings and listed != kept:
        write_output(out / DRAWN, json.dumps(listed, indent=1, sort_keys=True) + "\n")
    unchanged = [path for d in drawings if d.key not in drawn for path in files[d.key]]
    return Drawn([path for d in drawings for path in files[d.key]], unchanged, made[len(todo) :])


def _drawn(out: Path) -> dict[str, list[str]]:
    try:
        listed = json.loads((out / DRAWN).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(listed, dict):
        return {}
    return {  # a damaged entry is dropped: its figure is drawn again
        key: names
        for key, names in listed.items()
        if isinstance(names, list) and all(isinstance(n, str) for n in names)
    }


def _still_there(out: Path, names: list[str] | None) -> bool:
    return bool(names) and all((out / n).is_file() for n in names)


def figure_drawings(
    board: Leaderboard, records: list[RunRecord], out: Path, summary: RankSummary | None
) -> list[Drawing]:
    """The drawing of each leaderboard figure into ``out`` (made now), in the order they are
    shown, each with its key; none when no run has finished. ``summary``: the board's ranks
    across data sets (``across_datasets``)."""
    panels = test_set_panels(board)
    if not panels:
        return []
    out = output_folder(out)
    everything = _stamps([r.path for r in records])
    drawings = [
        ("roc", partial(plot_roc_curves, board, out), everything),
        ("heatmap", partial(plot_auroc_heatmap, board, out), everything),
        *(
            (
                f"scores {panel}",
                partial(plot_score_distributions, board, out, panel),
                _stamps([run.path for row in rows for run in row.runs]),
            )
            for panel, rows in panels.items()
        ),
        ("training", partial(plot_training_curves, board, records, out), everything),
        ("cost", partial(plot_cost, board, out), everything),
        *(
            [("ranks", partial(plot_critical_difference, summary, out), everything)]
            if summary is not None
            else []
        ),
        ("maps", partial(plot_map_sheets, board, out), everything + _sheet_inputs(board)),
    ]
    return [Drawing(_key(name, inputs), draw) for name, draw, inputs in drawings]


def _stamps(paths: list[Path | None]) -> str:
    """What tells the record files ``paths`` apart and changed: their names and stamps."""
    return "\n".join(f"{p}={file_stamp(p) if p else None}" for p in sorted(map(str, paths)))


def _sheet_inputs(board: Leaderboard) -> str:
    """What else a sheet of maps reads: each row's maps file (a sheet leaves out a row whose
    file is missing) and whether its prepared images are still cached (without them it draws
    the maps alone)."""
    runs = [row.runs[0] for row in board.rows if row.runs and row.runs[0].localisation]
    maps = [run.path.parent / run.localisation.maps for run in runs if run.path]
    caches = sorted({run.data.cache for run in runs if run.data and run.data.cache})
    return _stamps(maps) + "\n" + "\n".join(f"{c}={Path(c).is_dir()}" for c in caches)


def _key(name: str, inputs: str) -> str:
    digest = hashlib.sha256(f"{_code()}\n{name}\n".encode())
    digest.update(inputs.encode())
    return digest.hexdigest()


@functools.cache
def _code() -> str:
    """A digest of uadbench's code (every module and template) and matplotlib's version."""
    from importlib.metadata import version

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(version("matplotlib").encode())
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".j2", ".js", ".css") and path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()
