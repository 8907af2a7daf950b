"""The leaderboard as one self-contained web page (``uadbench board --out site/``).

``site/index.html`` holds all it shows: the rows, the data of their details, DataTables (through
the ``itables`` package's bundle) for the sortable, paged table with filters by data set, split,
image size, profile and method family, and Plotly for the figures, all inlined, so it opens from
a USB stick with no server and no network. A column that holds one value in every row (one data
set, one split, ...) is named once above the table instead, so the table fits a 1280 px screen.
Clicking a row shows its ROC curve, every seed's score distributions with its validation
threshold, training curves, each seed's AUROC, timings, peak memory and hardware, hyperparameters,
the command that reproduces it and, for a row that kept anomaly maps, the sheet of where they
point (a PNG made with the page): drawn then, from the row's compact data
(``uadbench.outputs.web_figures``), so that a board of a thousand rows stays small and quick. The
page is made by jinja2 from ``templates/board.html.j2``; ``templates/board.js`` fills and draws
the details of a clicked row.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

from uadbench.atomic import write_output
from uadbench.errors import UserError
from uadbench.outputs.across_datasets import (
    across_datasets,
    findings,
    plot_critical_difference,
    summary_cells,
)
from uadbench.outputs.display import LEGEND, LOCALISATION_COLUMNS, human_rows, percent
from uadbench.outputs.leaderboard import WARNING_MARK, Leaderboard, Memo, Row
from uadbench.outputs.map_sheets import row_sheet_png
from uadbench.outputs.plots import output_folder, row_labels, split_label, test_set_panels
from uadbench.outputs.web_figures import cost_figure, figure_settings, row_figures
from uadbench.running.reproduce import dataset_defaults, reproduce_command, shell_line
from uadbench.statistics.metrics import METRICS

TEMPLATES = Path(__file__).with_name("templates")
COLUMNS = (
    "key", "data set", "split", "size", "profile", "family", "method", "seeds", "AUROC %", "±",
    "95% CI", "AP %", "sens %", "spec %", "F1 %", *LOCALISATION_COLUMNS, "vs best", "published",
    "CPU", "warnings",
)  # fmt: skip
"""The table's columns; ``key`` (hidden) ties a table row to its details. Parameters changed
from the profile are in the method's name."""
FACETS = ("data set", "split", "size", "profile", "family")
"""The columns the board filters by."""
FOLDABLE = ("data set", "split", "size", "profile", "family", "seeds", "published", "CPU",
            "warnings")  # fmt: skip
"""Columns that leave the table for its caption when every row holds one value in them."""
NUMERIC = ("AUROC %", "±", "AP %", "sens %", "spec %", "F1 %", *LOCALISATION_COLUMNS)
WRAPPING = ("data set", "split", "family", "method", "seeds", "vs best", "CPU", "warnings")
"""Text columns whose cells may break across lines, so that the table fits narrow screens."""
PAGE_LENGTHS = (10, 25, 50, 100)
PAGE_LENGTH = 25
"""The table's rows a page as a reader may choose them (or all), and as the page opens."""
SIZE_MARK = "\ufffcpage size\ufffc"
"""Stands for the page's size in the page until it is known."""


def write_board(board: Leaderboard, out: Path, title: str, source: str) -> Path:
    """Write ``out/index.html`` (``out`` made if missing) atomically; its path."""
    return write_output(output_folder(out) / "index.html", board_page(board, title, source))


def board_page(board: Leaderboard, title: str, source: str) -> str:
    """The page's HTML: ``source`` names the records it was made from."""
    import itables
    import jinja2
    import plotly.offline
    import plotly.utils
    from threadpoolctl import threadpool_limits

    rows = [row for row in board.rows if row.auroc_mean is not None]
    labels = row_labels(rows)
    splits = {key: split_label(board, row) for key, row in {r.test_set: r for r in rows}.items()}
    with threadpool_limits(1, "blas"):  # many tiny solves: more threads would only wait
        details = [_details(row, labels[id(row)], splits[row.test_set], board.memo) for row in rows]
    columns, cells, shared = folded(COLUMNS, _table_rows(board, rows, labels, splits))
    bundle = Path(itables.options.dt_bundle)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True
    )
    page = env.get_template("board.html.j2").render(
        title=title,
        source=source,
        made=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        row_count=len(rows),
        page_length=PAGE_LENGTH,
        page_size=SIZE_MARK,
        legend=LEGEND,
        per_seed_columns=PER_SEED,
        warning_mark=WARNING_MARK,
        problems=board.problems,
        across=_across(board),
        shared=shared,
        table=_script_json(
            {
                "columns": [
                    {"title": c, "numeric": c in NUMERIC, "wrap": c in WRAPPING} for c in columns
                ],
                "facets": [columns.index(c) for c in FACETS if c in columns],
                "rows": cells,
                "page_length": PAGE_LENGTH,
                "page_lengths": PAGE_LENGTHS,
            }
        ),
        details=_script_json(
            {
                "rows": details,
                "figures": figure_settings(),
                "cost": cost_figures(board, labels),
                "per_seed_numbers": [c not in PER_SEED_TEXT for c in PER_SEED],
                "warning_mark": WARNING_MARK,
            },
            plotly.utils.PlotlyJSONEncoder,
        ),
        datatables_css=bundle.with_suffix(".css").read_text(encoding="utf-8"),
        datatables_js=base64.b64encode(bundle.read_bytes()).decode("ascii"),
        plotly_js=plotly.offline.get_plotlyjs(),
        glue_js=(TEMPLATES / "board.js").read_text(encoding="utf-8"),
    )
    return page.replace(SIZE_MARK, f"{len(page.encode('utf-8')) / 1e6:.1f} MB", 1)


def _across(board: Leaderboard) -> dict[str, Any] | None:
    """The methods ranked over the board's sets of test images (None for one set): the table's
    cells, the findings, and the critical-difference diagram as an embedded PNG."""
    import tempfile

    summary = across_datasets(board)
    if summary is None:
        return None
    headers, cells = summary_cells(summary)
    with tempfile.TemporaryDirectory() as folder:
        drawn = plot_critical_difference(summary, Path(folder), ".png")
        diagram = base64.b64encode(drawn[0].read_bytes()).decode("ascii") if drawn else None
    return {"headers": headers, "cells": cells, "findings": findings(summary), "diagram": diagram}


def cost_figures(board: Leaderboard, labels: dict[int, str]) -> dict[str, dict[str, Any]]:
    """The cost view of each set of test images (never rows of two sets in one figure), by
    title."""
    out = {}
    for (dataset, split), rows in test_set_panels(board).items():
        if (figure := cost_figure(rows, labels)) is not None:
            out[f"{dataset} ({split})"] = figure
    return out


def folded(
    columns: tuple[str, ...], cells: list[list[Any]]
) -> tuple[list[str], list[list[Any]], list[tuple[str, str]]]:
    """The columns and cells left when every ``FOLDABLE`` column that holds one value in all
    rows is taken out (and every localisation column that holds none), and what was taken out:
    ``(column, value)`` pairs for the caption."""
    constant = [
        i for i, c in enumerate(columns) if c in FOLDABLE and len({str(r[i]) for r in cells}) == 1
    ]
    shared = [(columns[i], _or_none(cells[0][i])) for i in constant] if cells else []
    unmeasured = [  # where no row has maps kept: not a column of the board at all
        i
        for i, c in enumerate(columns)
        if c in LOCALISATION_COLUMNS and all(r[i] is None for r in cells)
    ]
    kept = [i for i in range(len(columns)) if i not in constant and i not in unmeasured]
    return [columns[i] for i in kept], [[r[i] for i in kept] for r in cells], shared


def _or_none(value: Any) -> str:
    """A cell as the caption writes it: ``none`` for an empty one."""
    return "none" if value in ("", "-", None) else str(value)


def _table_rows(
    board: Leaderboard, rows: list[Row], labels: dict[int, str], splits: dict[tuple, str]
) -> list[list[Any]]:
    """A row of cells, in ``COLUMNS`` order, for each of ``rows`` (``splits``: the split of each
    set of test images, by ``Row.test_set``)."""
    shown = {id(r): h for r, h in zip(board.rows, human_rows(board), strict=True)}
    families = {method: _family(method) for method in {row.method for row in rows}}
    out = []
    for i, row in enumerate(rows):
        cells = shown[id(row)]
        seeds = ", ".join(map(str, row.seeds)) + (" (deterministic)" if row.deterministic else "")
        out.append(
            [
                str(i), row.dataset, splits[row.test_set], f"{row.image_size}px", row.profile,
                families[row.method], labels[id(row)], seeds, _percent(row.auroc_mean),
                _percent(row.std("auroc")), cells["95% CI"],
                _percent(row.mean("average_precision")), _percent(row.mean("sensitivity")),
                _percent(row.mean("specificity")), _percent(row.mean("f1")),
                *(_percent(row.mean(m.name)) for m in METRICS if m.localisation), cells["vs best"],
                cells["published"], " / ".join(row.cpu_models) or "-",
                f"{WARNING_MARK} {len(row.warnings)}" if row.warnings else "",
            ]
        )  # fmt: skip
    return out


def _details(row: Row, label: str, split: str, memo: Memo) -> dict[str, Any]:
    """What the page shows of a row when it is clicked: its figures' data (kept by ``memo``)
    and its text."""
    return {
        "label": label,
        "where": f"{row.dataset}, split {split}, {row.image_size} px",
        "seeds": row.seeds,
        "deterministic": row.deterministic,
        "auroc": _percent(row.auroc_mean),
        "per_seed": _per_seed(row),
        "settings": [(k, str(v), k in row.changes) for k, v in row.settings.items()],
        "command": _command(row),
        "warnings": row.warnings,
        "records": [str(run.path.name) for run in row.runs if run.path is not None],
        "map_sheet": _map_sheet(row, label),
        **row_figures(row, memo),
    }


def _map_sheet(row: Row, label: str) -> str | None:
    """The row's sheet of where its maps point, as base64 PNG (None without kept maps)."""
    if not (row.runs and row.runs[0].localisation):
        return None
    png = row_sheet_png(row, label)
    return None if png is None else base64.b64encode(png).decode("ascii")


PER_SEED = (
    "seed", "AUROC %", "AP %", "prepare s", "fit s", "score s", "wall s", "peak memory MiB",
    "device", "CPU model", "cores", "GPU",
)  # fmt: skip
"""The columns of a row's per-seed table in its details."""
PER_SEED_TEXT = ("device", "CPU model", "GPU")
"""Its columns that hold words, not numbers."""


def _per_seed(row: Row) -> list[list[str]]:
    """Each seed's AUROC, AP, timings, peak memory and hardware, in ``PER_SEED`` order."""
    out = []
    for i, (seed, run) in enumerate(zip(row.seeds, row.runs, strict=True)):
        times = [run.timings.get(t) for t in ("prepare_s", "fit_s", "score_s", "wall_s")]
        peak = run.timings.get("peak_memory_mb")
        hardware = run.hardware
        out.append(
            [
                str(seed), percent(row.values["auroc"][i]),
                percent(row.values["average_precision"][i]),
                *("-" if t is None else f"{t:.1f}" for t in times),
                "-" if peak is None else f"{peak:.0f}", hardware.get("device") or "-",
                hardware.get("cpu_model") or hardware.get("cpu") or "-",
                str(hardware.get("cpu_count") or "-"), hardware.get("gpu") or "-",
            ]
        )  # fmt: skip
    return out


def _command(row: Row) -> str:
    """The command that reruns every seed of the row."""
    return shell_line(reproduce_command(row.runs[0], dataset_defaults(row.dataset), row.seeds))


def _family(method: str) -> str:
    from uadbench import registry

    try:
        return registry.methods.get(method).family
    except UserError:  # a method no longer registered
        return "unknown"


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _script_json(data: Any, encoder: type[json.JSONEncoder] | None = None) -> str:
    """``data`` as JSON that can sit inside a ``<script>`` element."""
    return json.dumps(data, cls=encoder, separators=(",", ":")).replace("</", "<\\/")
