"""The leaderboard as one self-contained web page (``uadbench board --out site/``).

``site/index.html`` holds all it shows: the rows, their figures, DataTables (through the
``itables`` package's bundle) for the sortable table with filters by data set, split, image size,
profile and method family, and Plotly for the figures, all inlined, so it opens from a USB stick
with no server and no network. Clicking a row shows its ROC curve, score distributions with the
validation threshold, training curves, hyperparameters and the command that reproduces it. The
page is made by jinja2 from ``templates/board.html.j2``; ``templates/board.js`` is the glue that
wires the table's clicks to the details.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

from uadbench.errors import UserError
from uadbench.outputs.display import LEGEND, human_rows
from uadbench.outputs.leaderboard import WARNING_MARK, Leaderboard, Row
from uadbench.outputs.plots import output_folder, row_labels, split_label, test_set_panels
from uadbench.outputs.web_figures import cost_figure, curves_figure, roc_figure, score_figure
from uadbench.running.reproduce import dataset_defaults, reproduce_command, shell_line

TEMPLATES = Path(__file__).with_name("templates")
COLUMNS = (
    "key", "data set", "split", "size", "profile", "family", "method", "seeds", "AUROC %", "±",
    "95% CI", "AP %", "sens %", "spec %", "F1 %", "vs best", "published", "changed", "warnings",
)  # fmt: skip
"""The table's columns; ``key`` (hidden) ties a table row to its details."""
FACETS = ("data set", "split", "size", "profile", "family")
"""The columns the board filters by."""
NUMERIC = ("AUROC %", "±", "AP %", "sens %", "spec %", "F1 %")


def write_board(board: Leaderboard, out: Path, title: str, source: str) -> Path:
    """Write ``out/index.html`` (``out`` made if missing); its path."""
    path = output_folder(out) / "index.html"
    path.write_text(board_page(board, title, source), encoding="utf-8")
    return path


def board_page(board: Leaderboard, title: str, source: str) -> str:
    """The page's HTML: ``source`` names the records it was made from."""
    import itables
    import jinja2
    import plotly.offline
    import plotly.utils

    rows = [row for row in board.rows if row.auroc_mean is not None]
    labels = row_labels(rows)
    details = [_details(board, str(i), row, labels[id(row)]) for i, row in enumerate(rows)]
    figures = {d["key"]: d.pop("figures") for d in details}
    cost = cost_figures(board, labels)
    bundle = Path(itables.options.dt_bundle)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True
    )
    return env.get_template("board.html.j2").render(
        title=title,
        source=source,
        made=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        legend=LEGEND,
        warning_mark=WARNING_MARK,
        details=details,
        problems=board.problems,
        table=_script_json(
            {
                "columns": [{"title": c, "numeric": c in NUMERIC} for c in COLUMNS],
                "facets": [COLUMNS.index(c) for c in FACETS],
                "rows": _table_rows(board, rows, labels),
            }
        ),
        figures=_script_json({"rows": figures, "cost": cost}, plotly.utils.PlotlyJSONEncoder),
        datatables_css=bundle.with_suffix(".css").read_text(encoding="utf-8"),
        datatables_js=base64.b64encode(bundle.read_bytes()).decode("ascii"),
        plotly_js=plotly.offline.get_plotlyjs(),
        glue_js=(TEMPLATES / "board.js").read_text(encoding="utf-8"),
    )


def cost_figures(board: Leaderboard, labels: dict[int, str]) -> dict[str, dict[str, Any]]:
    """The cost view of each set of test images (never rows of two sets in one figure), by
    title."""
    out = {}
    for (dataset, split), rows in test_set_panels(board).items():
        if (figure := cost_figure(rows, labels)) is not None:
            out[f"{dataset} ({split})"] = figure
    return out


def _table_rows(board: Leaderboard, rows: list[Row], labels: dict[int, str]) -> list[list[Any]]:
    shown = {id(r): h for r, h in zip(board.rows, human_rows(board), strict=True)}
    out = []
    for i, row in enumerate(rows):
        cells = shown[id(row)]
        std = row.std("auroc")
        out.append(
            [
                str(i), row.dataset, split_label(board, row), f"{row.image_size}px", row.profile,
                _family(row.method), labels[id(row)], ", ".join(map(str, row.seeds)),
                _percent(row.auroc_mean), _percent(std), cells["95% CI"],
                _percent(row.mean("average_precision")), _percent(row.mean("sensitivity")),
                _percent(row.mean("specificity")), _percent(row.mean("f1")), cells["vs best"],
                cells["published"], ", ".join(f"{k}={v}" for k, v in row.changes.items()),
                f"{WARNING_MARK} {len(row.warnings)}" if row.warnings else "",
            ]
        )  # fmt: skip
    return out


def _details(board: Leaderboard, key: str, row: Row, label: str) -> dict[str, Any]:
    """What the page shows of a row when it is clicked."""
    figures = {"roc": roc_figure(row), "scores": score_figure(row)}
    if (curves := curves_figure(row)) is not None:
        figures["curves"] = curves
    return {
        "key": key,
        "label": label,
        "where": f"{row.dataset}, split {split_label(board, row)}, {row.image_size} px",
        "seeds": ", ".join(map(str, row.seeds)),
        "settings": [(k, v, k in row.changes) for k, v in row.settings.items()],
        "command": _command(row),
        "warnings": row.warnings,
        "records": [str(run.path.name) for run in row.runs if run.path is not None],
        "figures": figures,
    }


def _command(row: Row) -> str:
    """The command that reruns every seed of the row."""
    command = reproduce_command(row.runs[0], dataset_defaults(row.dataset))
    if row.n > 1:
        at = command.index("--seed")
        command[at : at + 2] = ["--seeds", ",".join(map(str, row.seeds))]
    return shell_line(command)


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
