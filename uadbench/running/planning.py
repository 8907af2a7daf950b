"""Planning: a user's request turned into validated runs, each with the path of its record.

``plan`` raises every configuration error before any work starts (a ``UserError``: no record
is written): unknown names, bad seeds or parameters, an unwritable results folder, a newer or
unusable record in a run's place, and (given the cache folder) missing data or a refused split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uadbench import registry
from uadbench.contracts.dataset import Dataset
from uadbench.contracts.extras import get_extra
from uadbench.contracts.method import DefaultParams, Method
from uadbench.data.fingerprint import DataSource, resolve
from uadbench.data.prepare import check_cache_dir
from uadbench.errors import ParameterError
from uadbench.running.record_store import Cell, place
from uadbench.running.run_record import RunConfig
from uadbench.running.runtime import resolve_device

MAX_SEED = 2**32 - 1
"""Seeds are whole numbers from 0 to this (what every random generator of the stack takes)."""


def parse_seeds(text: str, option: str = "--seeds") -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` (or a mix) as a list of seeds; ``ParameterError`` for any part
    that is not a seed or an ascending range of seeds."""
    seeds: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        if not (low.strip().isdigit() and (not dash or high.strip().isdigit())):
            raise ParameterError(
                f"{option} wants seeds (whole numbers from 0) like 0,1,2 or ranges like 0-4; "
                f"{part!r} in {text!r} is neither"
            )
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ParameterError(
                f"{option}: the range {part!r} runs backwards; write {last}-{first}"
            )
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise ParameterError(f"{option} is empty; give at least one seed, e.g. {option} 0,1,2")
    return seeds


def chosen_seeds(seed: int | str | None, seeds: str | None) -> list[int]:
    """The seeds of ``--seed N`` or ``--seeds 0,1,2`` (0 when neither is given)."""
    if seed is not None and seeds is not None:
        raise ParameterError("give --seed or --seeds, not both (--seeds 0,1,2 takes a list)")
    if seeds is not None:
        return parse_seeds(seeds)
    if seed is None:
        return [0]
    if isinstance(seed, str) and not seed.strip().isdigit():
        raise ParameterError(
            f"--seed takes one seed, a whole number from 0, not {seed!r}; for a range or a list "
            f"use --seeds (e.g. --seeds {seed.strip() if ('-' in seed or ',' in seed) else '0-2'})"
        )
    return [int(seed)]


def parse_pairs(values: Sequence[str], option: str) -> dict[str, str]:
    """``["k=v", ...]`` as a dictionary; ``ParameterError`` for an item without ``=``."""
    pairs = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"{option} wants key=value, got {value!r}")
        pairs[key.strip()] = text.strip()
    return pairs


def check_seeds(seeds: Sequence[int]) -> None:
    """Raise ``ParameterError`` unless ``seeds`` are seeds."""
    if not seeds:
        raise ParameterError("no seeds given; pass --seed N or --seeds 0,1,2")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ParameterError(f"seed {seed!r} is not a whole number from 0 to {MAX_SEED}")


@dataclass(frozen=True)
class RunRequest:
    """What a user asks ``uadbench run`` for (every seed of it)."""

    method: str
    dataset: str
    seeds: Sequence[int] = (0,)
    profile: str = "quick"
    image_size: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    data_options: Mapping[str, str] = field(default_factory=dict)
    device: str = "auto"
    data_root: Path | None = None
    results_dir: Path = Path("results")
    skip_unreadable: bool = False


@dataclass(frozen=True)
class PlannedRun:
    """One seed of a request, resolved and validated, with the path of its record."""

    method_cls: type[Method]
    params: Any
    dataset: Dataset
    device: str
    config: RunConfig
    cell: Cell
    request: RunRequest
    changed_params: dict[str, Any] = field(default_factory=dict)
    """The parameters that differ from the profile's."""
    warnings: tuple[str, ...] = ()
    """What the parameters alone make worth knowing (e.g. no training at all)."""
    source: DataSource | None = None
    """The data, when it was resolved at planning."""
    plugins: tuple[str, ...] = ()
    """The plugins that defined the method or the data set (``Registry.plugin_of``)."""

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def path(self) -> Path:
        """The cell's record."""
        return self.cell.path

    @property
    def label(self) -> str:
        """``<method> on <dataset> (seed <n>)``, for messages."""
        return f"{self.config.method} on {self.config.dataset} (seed {self.seed})"


def plan(request: RunRequest, cache_dir: Path | None = None) -> list[PlannedRun]:
    """Resolve names, parameters, device and record paths; raise a ``UserError`` before any
    work on bad input. With ``cache_dir`` the data set is read and fingerprinted now too, so a
    missing folder or file, or a refused split, fails here."""
    check_seeds(request.seeds)
    if request.image_size is not None and request.image_size < 1:
        raise ParameterError(
            f"--image-size must be a positive number of pixels, got {request.image_size}"
        )
    dataset_cls = registry.datasets.get(request.dataset)
    method_cls, profile, params = registry.method_settings(
        request.method, request.profile, _overrides(request, dataset_cls)
    )
    for extra in method_cls.required_extras(params):
        get_extra(extra)  # a requirement that nobody registered is named now
    defaults = dataclasses.asdict(method_cls.profile_table()[profile])
    changed = {k: v for k, v in dataclasses.asdict(params).items() if defaults.get(k) != v}
    dataset = dataset_cls.from_settings(request.data_root, request.data_options)
    device = resolve_device(request.device)
    source = None
    if cache_dir is not None:
        check_cache_dir(cache_dir)
        source = resolve(dataset, cache_dir)
    plugins = (
        registry.methods.plugin_of(request.method),
        registry.datasets.plugin_of(request.dataset),
    )
    runs = []
    for seed in dict.fromkeys(request.seeds):
        config = RunConfig(
            method=request.method,
            profile=profile,
            params=dataclasses.asdict(params),
            dataset=request.dataset,
            dataset_options=dataset.get_options(),
            split_version=dataset.split_version,
            seed=int(seed),
            label_use=method_cls.label_use(params),
            skip_unreadable=request.skip_unreadable,
            method_version=method_cls.version,
        )
        cell = place(
            request.results_dir, config, (source.fingerprint, source.earlier) if source else ()
        )
        warnings = tuple(method_cls.param_warnings(params))
        runs.append(
            PlannedRun(
                method_cls,
                params,
                dataset,
                device,
                config,
                cell,
                request,
                changed,
                warnings,
                source,
                tuple(dict.fromkeys(p for p in plugins if p)),
            )
        )
    return runs


def _overrides(request: RunRequest, dataset_cls: type[Dataset]) -> dict[str, str]:
    """The user's hyperparameters, with the image size (``--image-size``, or for a method
    without hyperparameters the data set's own size)."""
    overrides = dict(request.params)
    if request.image_size is not None:
        overrides["image_size"] = str(request.image_size)
    else:
        method_cls = registry.methods.get(request.method)
        if method_cls.Params is DefaultParams and dataset_cls.default_image_size:
            overrides.setdefault("image_size", str(dataset_cls.default_image_size))
    return overrides
