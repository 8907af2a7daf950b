"""A self-contained benchmark report: leaderboard, figures, protocol and the list of runs.

``write_report`` turns a results folder into ``report.md`` (readable on GitHub, the figures
beside it) and ``report.html``, one file that holds everything: its figures are embedded, its
record links become the records' paths (a moved or mailed page has no broken link), its title
is the report's, and its numbers are right-aligned. Every number comes from the run records,
and the run list names the record of each run.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections import defaultdict
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from uadbench.atomic import write_output
from uadbench.errors import RecordError
from uadbench.outputs.across_datasets import across_datasets
from uadbench.outputs.across_datasets import to_markdown as summary_markdown
from uadbench.outputs.exports import to_markdown
from uadbench.outputs.figures import draw_all, figure_drawings
from uadbench.outputs.leaderboard import WARNING_MARK, Leaderboard, build_leaderboard
from uadbench.outputs.plots import output_folder
from uadbench.outputs.published import published_results
from uadbench.running.record_store import RecordSet
from uadbench.running.reproduce import dataset_defaults, reproduce_command, shell_line
from uadbench.running.run_record import RunRecord
from uadbench.statistics.ranking import RankSummary

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px}}
td.number{{text-align:right;font-variant-numeric:tabular-nums}}
img{{max-width:100%}}code{{background:#f4f4f4}}</style></head><body>
{body}
</body></html>
"""
NUMBER = re.compile(
    r"<td>([-+]?\d[\d.,]*(?: ± [\d.]+| \((?:one seed|deterministic)\)|px)?|\[[\d., ]+\]"
    r"|[\d.]+/[\d.]+)</td>"
)
"""A table cell that holds a number (or a mean ± std, an interval, sens/spec)."""


def write_report(
    results_dirs: list[Path], found: RecordSet, out: Path, title: str = "uadbench report"
) -> list[Path]:
    """Write ``out/report.md``, ``out/report.html`` and ``out/figures/`` from the records
    ``found`` in ``results_dirs`` (naming any file that could not be read); return their
    paths."""
    folders = list(dict.fromkeys(results_dirs))
    records = found.records
    board = build_leaderboard(records, found.memo)
    if not board.rows:
        where = ", ".join(str(Path(f) / "runs") for f in folders)
        raise RecordError(
            f"no run records under {where}; start one with `uadbench run`" + found.note()
        )
    out = output_folder(out)
    summary = across_datasets(board)
    head = "\n".join(
        [
            f"# {title}",
            "",
            f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from {len(records)} run "
            f"records in {', '.join(f'`{f}`' for f in folders)} by `uadbench report`.",
            "",
            *([_left_out(found, out)] if found.unreadable else []),
            "## Leaderboard",
            "",
            to_markdown(board),
            *_across(summary),
        ]
    )
    tail = "\n".join(
        [
            _protocol(records),
            _reproducing(board),
            _other_published(board),
            _run_list(records, out),
        ]
    )
    drawings = figure_drawings(board, records, out / "figures", summary)
    # the long text made into HTML while the figures are drawn (each on a core of its own)
    figures, _, [html_parts] = draw_all(
        drawings, out / "figures", [partial(_html_parts, head, tail)]
    )
    shown = "\n".join(
        [
            "## Figures",
            "",
            *[f"![{p.stem}](figures/{p.name})\n" for p in figures if p.suffix == ".png"],
            "Every figure is also in the `figures/` folder as PDF."
            if figures
            else "No figures: no run has finished.",
            "",
        ]
    )
    text = "\n".join([head, shown, tail])
    markdown_path = write_output(out / "report.md", text)
    body = "\n".join([html_parts[0], _html(shown, out), html_parts[1]])
    page = PAGE.format(title=html.escape(title), body=body)
    return [markdown_path, write_output(out / "report.html", page), *figures]


def _html_parts(*texts: str) -> list[str]:
    """Each of ``texts`` (Markdown without figures) as HTML (``_html``)."""
    return [_html(text, Path()) for text in texts]


def _across(summary: RankSummary | None) -> list[str]:
    """The section ranking the methods over the board's sets of test images, if several."""
    if summary is None:
        return []
    return ["## Across data sets", "", summary_markdown(summary)]


def _reproducing(board: Leaderboard) -> str:
    """The command that runs every seed of each row again, as ``uadbench show`` prints it."""
    lines = ["## Reproducing", "", "Each row again, every seed, into the same results folder:", ""]
    for row in (r for r in board.rows if r.runs):
        command = reproduce_command(row.runs[0], dataset_defaults(row.dataset), row.seeds)
        lines.append(f"- {row.label}: `{shell_line(command)}`")
    return "\n".join(lines) + "\n"


def _left_out(found: RecordSet, out: Path) -> str:
    lines = [f"**{len(found.unreadable)} record file(s) could not be read and are left out:**", ""]
    lines += [f"- `{_relative(u.path, out)}`: {u.reason}" for u in found.unreadable]
    return "\n".join(lines) + "\n"


def _html(text: str, out: Path) -> str:
    """The Markdown as one self-contained page: figures embedded as data, links to record
    files shown as their paths, numeric cells right-aligned."""
    import markdown

    page = markdown.markdown(text, extensions=["tables"])
    page = re.sub(r'<img alt="([^"]*)" src="([^"]+)"', lambda m: _embedded(m, out), page)
    page = re.sub(r'<a href="([^"]+\.json)">([^<]*)</a>', r"<code>\1</code>", page)
    return NUMBER.sub(r'<td class="number">\1</td>', page)


def _embedded(match: re.Match, out: Path) -> str:
    data = base64.b64encode((out / match.group(2)).read_bytes()).decode()
    return '<img alt="' + match.group(1) + '" src="data:image/png;base64,' + data + '"'


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())


def _protocol(records: list[RunRecord]) -> str:
    ok = [r for r in records if r.ok]
    lines = [
        "## Protocol",
        "",
        "### Data",
        "",
        "| data set | split | checksum | data fingerprint | train | val | test |",
        "|---|---|---|---|---|---|---|",
    ]
    seen = set()
    for r in ok:
        d = r.data
        key = (r.config.dataset, r.config.split_version, d.checksum, d.fingerprint or "-")
        if key not in seen:
            seen.add(key)
            sizes = (d.n_train, d.n_val, d.n_test)
            lines.append(_md_row(*key[:2], f"`{key[2][:12]}`", f"`{key[3]}`", *sizes))
    lines += [
        "",
        "Training and validation sets hold normal images only; the validation normals are carved "
        "from the training normals and set the operating-point threshold. Every method of a data "
        "set gets the same prepared arrays (grayscale, 8 bit, resized straight to its image size).",
        "",
        "### Methods, profiles and hyperparameters",
        "",
    ]
    configs: dict[str, tuple[tuple[str, str, int], dict[str, Any]]] = {}
    seeds: dict[str, set[int]] = defaultdict(set)
    for r in ok:
        c = r.config
        configs[r.row_key] = ((c.method, c.profile, c.image_size), c.params)
        seeds[r.row_key].add(c.seed)
    for key, ((method, profile, size), params) in sorted(configs.items(), key=lambda c: c[1][0]):
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        used = sorted(seeds[key])
        lines.append(f"- **{method}** ({profile}, {size} px; seeds {used}): {shown}")
    hardware = {
        (
            r.hardware.get("device"),
            r.hardware.get("cpu_model") or r.hardware.get("cpu"),
            r.hardware.get("gpu"),
            r.hardware.get("cpu_count"),
        )
        for r in ok
    }
    versions: dict[str, set[str]] = defaultdict(set)
    for r in ok:
        for package, version in r.versions.items():
            versions[package].add(version)
    lines += ["", "### Hardware and software", ""]
    lines += [
        f"- device {device}: {cpu}, {cores} CPU cores" + (f", {gpu}" if gpu else "")
        for device, cpu, gpu, cores in sorted(hardware, key=str)
    ]
    lines.append(
        "- " + ", ".join(f"{p} {'/'.join(sorted(v))}" for p, v in sorted(versions.items()))
    )
    return "\n".join(lines) + "\n"


def _other_published(board: Any) -> str:
    shown = {(r.dataset, r.split_version, r.method) for r in board.rows}
    others = [p for p in published_results() if (p.dataset, p.split_version, p.method) not in shown]
    if not others:
        return ""
    lines = [
        "## Published numbers on splits not run here",
        "",
        "Not comparable with the measured numbers above: the splits differ. Listed for reference.",
        "",
        "| data set | split | method | AUROC % | source |",
        "|---|---|---|---|---|",
    ]
    for p in others:
        spread = f" ± {p.auroc_std:g}" if p.auroc_std is not None else ""
        lines.append(
            _md_row(p.dataset, p.split_version, p.published_name, f"{p.auroc:g}{spread}", p.source)
        )
    return "\n".join(lines) + "\n"


def _run_list(records: list[RunRecord], out: Path) -> str:
    lines = [
        "## Runs",
        "",
        "| data set | method | profile | size | seed | status | AUROC % | wall s | record |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def order(r: RunRecord) -> tuple[Any, ...]:
        c = r.config
        return c.dataset, c.method, c.profile, c.image_size, c.seed

    for r in sorted(records, key=order):
        auroc = f"{100 * r.metrics['auroc']:.1f}" if r.ok else "-"
        wall = r.timings.get("wall_s")
        wall = "-" if wall is None else f"{wall:.0f}"
        path = _relative(r.path, out)
        cells = [*order(r), r.state]
        if r.warnings:
            cells[-1] += f" {WARNING_MARK} {len(r.warnings)}"
        lines.append(_md_row(*cells, auroc, wall, f"[{Path(path).name}]({path})"))
    return "\n".join(lines) + "\n"


def _md_row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"
