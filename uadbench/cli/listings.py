"""``uadbench methods``, ``datasets`` and ``contact-sheet``: what is registered, what is
found on disk, and what the prepared images look like."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from uadbench.cli.common import (
    DEFAULT_DATASET,
    FLAG,
    CacheOption,
    DataOptionOption,
    DataRootOption,
    PluginOption,
    fail,
    user_errors,
    wrote,
)
from uadbench.cli.common import out as stdout

if TYPE_CHECKING:
    from rich.table import Table

    from uadbench.data.availability import Availability


def methods(
    names: Annotated[
        list[str] | None, typer.Argument(help="Only these methods, with every hyperparameter.")
    ] = None,
    params: Annotated[
        bool, typer.Option("--params", help="Every method's hyperparameters.", metavar=FLAG)
    ] = False,
    plugin: PluginOption = [],  # noqa: B006
) -> None:
    """List the registered methods (maps: whether it says where an image is anomalous); with
    names (or --params), every hyperparameter with its type, its value in each profile and what
    it does."""
    from rich.table import Table

    from uadbench import registry

    with user_errors():
        registry.load_plugins(plugin)
        if names or params:
            for name in names or registry.methods.names():
                cls = registry.methods.get(name)
                stdout.print(_parameter_table(name, cls))
                for note in cls.parameter_notes():
                    stdout.print(Text(note))
            return
        table = Table(title="Methods")
        for column in ("name", "profiles", "maps", "from", "description"):
            table.add_column(column, overflow="fold", no_wrap=column in ("name", "maps"))
        for name in registry.methods.names():
            cls = registry.methods.get(name)
            profiles = ", ".join(f"{p} {v.image_size}px" for p, v in cls.profile_table().items())
            origin = registry.methods.origin(name).split(" (")[0]
            maps = "yes" if cls.has_anomaly_map() else "-"
            table.add_row(name, profiles, maps, origin, Text(cls.describe()))
    stdout.print(table)


WIDE_PARAMETERS = 120
"""Below this many columns ``methods NAME`` lists each parameter as a block, not a table row."""


def _parameter_table(name: str, cls: type) -> object:
    """``cls``'s hyperparameters: name, type, the value in each profile and the meaning; a table
    on a wide terminal, a block per parameter on a narrow one (no word is split)."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table

    from uadbench.contracts.param_docs import parameters

    found = parameters(cls)
    profiles = list(found[0].values) if found else []
    title = Text.assemble((f"{name}: ", "bold"), cls.describe())
    if stdout.width < WIDE_PARAMETERS:
        blocks: list[object] = [title]
        for p in found:
            values = ", ".join(f"{q}={p.values[q]!r}" for q in profiles)
            blocks.append(Text.assemble((p.name, "bold cyan"), f"  {p.kind}  ", values))
            if p.doc:
                blocks.append(Padding(Text(p.doc), (0, 0, 0, 4)))
        return Group(*blocks)
    table = Table(title=title, title_justify="left")
    table.add_column("parameter", no_wrap=True)  # names and values are never split
    table.add_column("type", overflow="fold")
    for profile in profiles:
        table.add_column(profile, no_wrap=True)
    table.add_column("meaning", overflow="fold", min_width=20)
    for p in found:
        table.add_row(p.name, Text(p.kind), *(Text(repr(p.values[q])) for q in profiles), p.doc)
    return table


def datasets(
    names: Annotated[
        list[str] | None, typer.Argument(help="Only these data sets, with how to get them.")
    ] = None,
    plugin: PluginOption = [],  # noqa: B006
    data_root: DataRootOption = None,
    data_option: DataOptionOption = [],  # noqa: B006
) -> None:
    """List the data sets: found (every file of the split), incomplete, missing, not recognised
    or refused, with their counts (and, for a partial copy, those of split=available)."""
    from rich.table import Table

    from uadbench import registry
    from uadbench.data.availability import check_availability
    from uadbench.running.planning import parse_pairs

    with user_errors():
        registry.load_plugins(plugin)
        chosen = names or registry.datasets.names()
        classes = {name: registry.datasets.get(name) for name in chosen}
        table = Table(title="Data sets")
        for column in ("name", "status", "split", "train", "val", "test N/A"):
            table.add_column(column, no_wrap=column in ("split", "train", "val"), overflow="fold")
        notes = []
        options = parse_pairs(data_option, "--data-option")
        if options and not names:
            fail("--data-option applies to named data sets: uadbench datasets NAME --data-option")
        for name, cls in classes.items():
            dataset = cls.from_settings(data_root, options)
            found = check_availability(dataset)
            _add_row(table, name, found)
            if found.available is not None:
                _add_row(table, f"{name} split=available", found.available)
            where = "generated in memory" if not cls.needs_root else str(dataset.root)
            if found.usable and (layout := dataset.get_options().get("layout")):
                where += f", layout {layout}"
            notes.append(Text.assemble((name, "bold"), f": {cls.describe()} ({where})"))
            if found.reason:
                notes.append(Text(f"  {found.reason}", style="red"))
            if found.counts and (left_out := dataset.left_out()):
                notes += _left_out_notes(left_out, every=bool(names))
            if found.available is not None and found.available.usable:
                notes.append(
                    Text(
                        f"  --data-option split=available runs on the images present: split "
                        f"{found.available.split_version}, derived from them (never shown beside "
                        "a published number)"
                    )
                )
            elif found.available is not None:
                notes.append(Text(f"  split=available: {found.available.reason}", style="red"))
            if names and found.state == "missing" and cls.needs_root:
                notes.append(Text(dataset.missing_message()))
            elif names and found.state == "layout not recognised":
                notes.append(Text(dataset.where_to_get()))
    stdout.print(table)
    stdout.print("test N/A: normal/abnormal test images\n", markup=False)
    for note in notes:
        stdout.print(note, highlight=False)
    if not names and any(line.style == "red" for line in notes):
        stdout.print("`uadbench datasets NAME` says where to get a data set and how to lay it out.")


LEFT_OUT_SHOWN = 3
"""Files named per reason in the overview; ``datasets NAME`` names every one."""


def _left_out_notes(left_out: list[dict[str, str]], every: bool) -> list[Text]:
    """One ``left out`` line per reason, naming its files (the first few unless ``every``)."""
    by_why: dict[str, list[str]] = {}
    for entry in left_out:
        by_why.setdefault(entry["why"], []).append(entry["file"])
    lines = []
    for why, files in by_why.items():
        shown = files if every else files[:LEFT_OUT_SHOWN]
        more = len(files) - len(shown)
        tail = f" and {more} more (uadbench datasets NAME lists them)" if more else ""
        text = f"  left out, {len(files)} file(s) {why}: {', '.join(shown)}{tail}"
        lines.append(Text(text, style="yellow"))
    return lines


def _add_row(table: Table, name: str, found: Availability) -> None:
    """One data set's (or its split=available's) row of the ``datasets`` table."""
    counts = found.counts
    table.add_row(
        name,
        Text(found.state, style="green" if found.usable else "red"),
        found.split_version if counts else "",
        str(counts.get("train", "")),
        str(counts.get("val", "")),
        f"{counts['test normal']}/{counts['test abnormal']}" if counts else "",
    )


def contact_sheet(
    out_file: Annotated[Path, typer.Option("--out", help="PNG file to write.")],
    dataset: Annotated[str, typer.Option(help="Data set name.")] = DEFAULT_DATASET,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    image_size: Annotated[int, typer.Option(min=8, help="Image side in pixels.")] = 128,
    count: Annotated[int, typer.Option(min=1, help="Images per row.")] = 8,
    overlay: Annotated[
        str | None, typer.Option(help="A per-image extra to draw over the images, e.g. lung_mask.")
    ] = None,
    data_option: DataOptionOption = [],  # noqa: B006
    data_root: DataRootOption = None,
    cache_dir: CacheOption = None,
    plugin: PluginOption = [],  # noqa: B006
) -> None:
    """Save a grid of prepared images: for test, a row of normals then one of abnormals (by
    finding); for train and val, two rows."""
    from uadbench import registry
    from uadbench.contracts.progress import RichProgress
    from uadbench.data.prepare import default_cache_dir, prepare
    from uadbench.outputs.contact_sheet import output_file, pick, plot_contact_sheet
    from uadbench.running.planning import parse_pairs

    with user_errors():
        out_file = output_file(out_file)
        registry.load_plugins(plugin)
        data = registry.datasets.get(dataset).from_settings(
            data_root, parse_pairs(data_option, "--data-option")
        )
        prepared = prepare(data, image_size, cache_dir or default_cache_dir(), RichProgress())
        sheet = pick(prepared, split, count, overlay)
        path = plot_contact_sheet(sheet.images, sheet.titles, out_file, count, sheet.masks)
    wrote(path)
