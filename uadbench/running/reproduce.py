"""The command that reproduces a run from its record: the same method, data set, seed,
profile, image size, changed parameters and data options."""

from __future__ import annotations

import shlex
from typing import Any

from uadbench.running.run_record import RunRecord

DETECTED_OPTIONS = ("layout",)
"""Data-set options that are found, not chosen (the release layout)."""


def reproduce_command(record: RunRecord, defaults: dict[str, Any] | None = None) -> list[str]:
    """``uadbench run ...`` for ``record``; data options equal to ``defaults`` (the data set's
    defaults, when known) are left out. The data root is the user's: not in the command."""
    config = record.config
    command = ["uadbench", "run", "--method", config.method, "--dataset", config.dataset]
    command += ["--seed", str(config.seed)]
    if config.profile not in ("quick", "default"):
        command += ["--profile", config.profile]
    for key, value in record.changed_params.items():
        if key == "image_size":
            command += ["--image-size", str(value)]
        else:
            command += ["--param", f"{key}={_text(value)}"]
    for key, value in config.dataset_options.items():
        if key in DETECTED_OPTIONS or value is None:
            continue
        if defaults is None or defaults.get(key) != value:
            command += ["--data-option", f"{key}={_text(value)}"]
    if config.skip_unreadable:
        command.append("--skip-unreadable")
    return command


def shell_line(command: list[str]) -> str:
    """``command`` quoted for a POSIX shell."""
    return shlex.join(command)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
