"""Benchmark grids: methods x data sets x seeds (x image sizes), from options or a file.

Options given on the command line override a grid or run file by one rule (``overridden``).

A grid comes from options or from a TOML/YAML file::

    methods = ["ae", "anatpaste"]
    datasets = ["synthetic"]
    seeds = [0, 1, 2]
    profile = "quick"
    image_sizes = []          # empty: each method's own size
    [params]                  # --param for every method (optional) ...
    [params.ae]               # ... or for one method
    epochs = 5
    [data_options]            # --data-option for every data set (optional)

A value of the wrong type (``methods = "ae"``, a seed that is not a whole number) is a
``GridError`` naming it, before any cell starts.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from uadbench.errors import ParameterError, one_line
from uadbench.running.planning import MAX_SEED, RunRequest, parse_seeds


class GridError(ParameterError):
    """A grid (file or options) that cannot be run; no cell was started."""


@dataclass(frozen=True)
class Grid:
    """What a sweep covers."""

    methods: Sequence[str]
    datasets: Sequence[str]
    seeds: Sequence[int] = (0,)
    profile: str = "quick"
    image_sizes: Sequence[int] = ()
    params: dict[str, Any] = field(default_factory=dict)
    """``key: value`` for every method, or ``method: {key: value}`` for one."""
    data_options: dict[str, str] = field(default_factory=dict)
    data_root: Path | None = None
    results_dir: Path = Path("results")
    device: str = "auto"
    plugins: Sequence[str] = ()
    skip_unreadable: bool = False

    def requests(self) -> list[RunRequest]:
        """One request per (method, data set, size), each with all the seeds."""
        return [
            RunRequest(
                method=method,
                dataset=dataset,
                seeds=tuple(self.seeds),
                profile=self.profile,
                image_size=size,
                params=self.params_for(method),
                data_options=dict(self.data_options),
                device=self.device,
                data_root=self.data_root,
                results_dir=self.results_dir,
                skip_unreadable=self.skip_unreadable,
            )
            for dataset in self.datasets
            for method in self.methods
            for size in (self.image_sizes or [None])
        ]

    def params_for(self, method: str) -> dict[str, str]:
        """The parameters for every method, updated by those for ``method``."""
        shared = {k: str(v) for k, v in self.params.items() if not isinstance(v, dict)}
        table = self.params.get(method)
        own = {k: str(v) for k, v in table.items()} if isinstance(table, dict) else {}
        return {**shared, **own}


NAMES = ("methods", "datasets", "plugins")
TEXTS = ("profile", "device", "results_dir", "data_root")


def grid_from(path: Path | None, **overrides: Any) -> Grid:
    """The grid of the file at ``path`` with ``overrides`` (None: keep the file's), or, with no
    file, of the overrides alone (at least one method and one data set)."""
    if path is not None:
        return load_grid(path, **overrides)
    if overrides.get("methods") and overrides.get("datasets"):
        return Grid(**{k: v for k, v in overrides.items() if v is not None})
    raise GridError(
        "give a grid file (uadbench sweep grid.toml) or at least one --method and one --dataset"
    )


def load_grid(path: Path, **overrides: Any) -> Grid:
    """A grid from a TOML or YAML file; ``overrides`` (not None) replace its values."""
    return _grid(_read(Path(path)), Path(path), overrides)


GRID_FILE, RUN_FILE = "grid file", "run file"
"""What the files of ``uadbench sweep`` and ``uadbench run --config`` are called in messages."""


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _is_seed(value: Any) -> bool:
    return _is_int(value) and 0 <= value <= MAX_SEED


def _is_size(value: Any) -> bool:
    return _is_int(value) and value >= 1


SINGULAR: dict[str, tuple[str, str, Callable[[Any], bool]]] = {
    "method": ("methods", 'a name, e.g. method = "ae"', _is_name),
    "dataset": ("datasets", 'a name, e.g. dataset = "rsna"', _is_name),
    "seed": ("seeds", f"a whole number from 0 to {MAX_SEED}, e.g. seed = 0", _is_seed),
    "image_size": (
        "image_sizes",
        "a whole number of pixels from 1, e.g. image_size = 64",
        _is_size,
    ),
}
"""The keys of a run file that name one of what a grid file names several of: the grid key,
what the one value must be, and whether a value is that."""


def load_run_file(path: Path, **overrides: Any) -> RunRequest:
    """The one run of a TOML or YAML run file (the keys of a grid file, with ``method``,
    ``dataset``, ``seed`` and ``image_size`` for one each); ``overrides`` as ``load_grid``'s."""
    path = Path(path)
    values = _read(path, RUN_FILE)
    problems = []
    for one, (many, wanted, fits) in SINGULAR.items():
        if one not in values:
            continue
        value = values.pop(one)
        if many in values:
            problems.append(f"give {one} or {many}, not both")
        elif isinstance(value, list):
            problems.append(f"{one} is one value; use {many} for a list")
        elif not fits(value):
            problems.append(f"{one} must be {wanted}")
        else:
            values[many] = [value]
    if problems:
        raise GridError(f"{RUN_FILE} {path}: " + "; ".join(problems))
    grid = _grid(values, path, overrides, RUN_FILE)
    if len(grid.methods) != 1 or len(grid.datasets) != 1 or len(grid.image_sizes) > 1:
        raise GridError(
            f"{RUN_FILE} {path} names {len(grid.methods)} method(s), {len(grid.datasets)} data "
            f"set(s) and {len(grid.image_sizes)} image size(s); a run takes one of each (at most "
            "one size): for more, use `uadbench sweep`"
        )
    return grid.requests()[0]


def _read(path: Path, kind: str = GRID_FILE) -> dict[str, Any]:
    """The keys and values of a TOML or YAML file (a ``kind``); ``GridError`` when it is not
    that."""
    try:
        text = path.read_text()
    except OSError as error:
        raise GridError(f"cannot read {kind} {path}: {error.strerror or error}") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = tomllib.loads(text)
    except Exception as error:  # each parser has its own error types
        raise GridError(f"{kind} {path} does not parse: {one_line(str(error))}") from None
    if not isinstance(values, dict):
        raise GridError(f'{kind} {path} must hold keys and values, e.g. methods = ["ae"]')
    return values


def _grid(
    values: dict[str, Any], path: Path, overrides: dict[str, Any], kind: str = GRID_FILE
) -> Grid:
    known = {f.name for f in dataclasses.fields(Grid)}
    unknown = sorted(set(values) - known)
    if unknown:
        named = known | set(SINGULAR) if kind == RUN_FILE else known
        raise GridError(
            f"{kind} {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(named))}"
        )
    values = overridden(_checked_values(values, path, kind), overrides)
    missing = [key for key in ("methods", "datasets") if not values.get(key)]
    if missing:
        raise GridError(f"{path} names no {' and no '.join(missing)}; add them to the file")
    for key in ("results_dir", "data_root"):
        if values.get(key) is not None:
            values[key] = Path(values[key])
    return Grid(**values)


def overridden(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A file's ``values`` with what the command line gave (None: not given): the one rule of
    ``run --config`` and ``sweep``. A value replaces the file's; a ``--param`` or
    ``--data-option`` pair replaces that one key of the file's table (``params``: also in
    each method's own table), the file's other keys standing."""
    out = dict(values)
    for key, value in overrides.items():
        if value is None:
            continue
        if key in ("params", "data_options"):
            table = {k: dict(v) if isinstance(v, dict) else v for k, v in out.get(key, {}).items()}
            for name, text in value.items():
                table[name] = text
                for own in (t for t in table.values() if isinstance(t, dict)):
                    if name in own:
                        own[name] = text
            out[key] = table
        else:
            out[key] = value
    return out


def _checked_values(values: dict[str, Any], path: Path, kind: str) -> dict[str, Any]:
    """The values of a grid or run file (a ``kind``) in the types ``Grid`` takes; ``GridError``
    naming each one that is of another type (a plain string for a list would be read letter by
    letter)."""
    problems, out = [], dict(values)
    for key in NAMES:
        value = values.get(key)
        if key in values and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            problems.append(f"{key} must be a list of names, e.g. {key} = [{value!r}]")
    if "seeds" in values:
        seeds = values["seeds"]
        if isinstance(seeds, str):
            try:
                out["seeds"] = parse_seeds(seeds, "seeds")
            except ParameterError as error:
                problems.append(str(error))
        elif not (isinstance(seeds, list) and all(_is_int(s) for s in seeds)):
            problems.append('seeds must be a list of whole numbers, e.g. [0, 1, 2], or "0-2"')
    sizes = values.get("image_sizes", [])
    if not (isinstance(sizes, list) and all(_is_int(s) for s in sizes)):
        problems.append("image_sizes must be a list of whole numbers, e.g. [64, 128]")
    for key in TEXTS:
        if key in values and not isinstance(values[key], str):
            problems.append(f'{key} must be a string, e.g. {key} = "..."')
    if "skip_unreadable" in values and not isinstance(values["skip_unreadable"], bool):
        problems.append("skip_unreadable must be true or false")
    for key in ("params", "data_options"):
        table = values.get(key, {})
        if not isinstance(table, dict):
            problems.append(f"{key} must be a table of key = value")
            continue
        for name, value in table.items():
            inner = value if key == "params" and isinstance(value, dict) else {name: value}
            if any(isinstance(v, list | dict) for v in inner.values()):
                problems.append(f"{key}.{name} must be a single value (or, in params, a table)")
        if key == "data_options" and isinstance(table, dict):
            out[key] = {k: str(v) for k, v in table.items()}
    if problems:
        raise GridError(f"{kind} {path}: " + "; ".join(problems))
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
