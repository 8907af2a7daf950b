"""Reproducing a run from its record: the request (``request_from_record``) and the command
line (``reproduce_command``) of the same method, data set, seed, profile, image size, changed
parameters and data options, with the data folder, the plugins and the results folder the
record names, so that the command runs as printed."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from uadbench.running.planning import RunRequest
from uadbench.running.record_store import results_dir_of
from uadbench.running.run_record import RunRecord

DETECTED_OPTIONS = ("layout",)
"""Data-set options that are found, not chosen (the release layout)."""


def reproduce_command(
    record: RunRecord, defaults: dict[str, Any] | None = None, seeds: Sequence[int] = ()
) -> list[str]:
    """``uadbench run ...`` of ``request_from_record`` (for ``seeds`` instead of the record's
    own), writing beside ``record``; data options equal to ``defaults`` (the data set's
    defaults, when known) are left out. Without a recorded data folder (records before it was
    kept) the data root is the default one."""
    request = request_from_record(record, Path("results"))
    command = ["uadbench", "run", "--method", request.method, "--dataset", request.dataset]
    if len(seeds) > 1:
        command += ["--seeds", ",".join(map(str, seeds))]
    else:
        command += ["--seed", str(seeds[0] if seeds else record.config.seed)]
    if request.profile not in ("quick", "default"):
        command += ["--profile", request.profile]
    if request.image_size is not None:
        command += ["--image-size", str(request.image_size)]
    for key, text in request.params.items():
        command += ["--param", f"{key}={text}"]
    for key, text in request.data_options.items():
        if defaults is None or key not in defaults or _text(defaults[key]) != text:
            command += ["--data-option", f"{key}={text}"]
    if request.skip_unreadable:
        command.append("--skip-unreadable")
    if request.data_root is not None:
        command += ["--data-root", str(request.data_root)]
    for plugin in record.plugins:
        command += ["--plugin", plugin]
    if record.path is not None and (folder := results_dir_of(record.path)) is not None:
        command += ["--results-dir", str(folder)]
    return command


def dataset_defaults(name: str) -> dict[str, Any] | None:
    """The default options of the data set registered as ``name``; None when it is not."""
    import dataclasses

    from uadbench import registry
    from uadbench.errors import UserError

    try:
        return dataclasses.asdict(registry.datasets.get(name).Options())
    except UserError:  # a data set no longer registered: every option is written out
        return None


def request_from_record(
    record: RunRecord, results_dir: Path, data_root: Path | None = None, device: str = "auto"
) -> RunRequest:
    """The request that plans the cell of ``record`` again, its data under ``data_root`` (by
    default the folder the record names)."""
    config = record.config
    if data_root is None and record.data is not None and record.data.root is not None:
        data_root = Path(record.data.root)
    changed = dict(record.changed_params)
    size = changed.pop("image_size", None)
    return RunRequest(
        method=config.method,
        dataset=config.dataset,
        seeds=(config.seed,),
        profile=config.profile,
        image_size=size,
        params={k: _text(v) for k, v in changed.items()},
        data_options={
            k: _text(v)
            for k, v in config.dataset_options.items()
            if k not in DETECTED_OPTIONS and v is not None
        },
        device=device,
        data_root=data_root,
        results_dir=results_dir,
        skip_unreadable=config.skip_unreadable,
    )


def shell_line(command: list[str]) -> str:
    """``command`` quoted for a POSIX shell."""
    return shlex.join(command)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
