"""The installed distributions' entry points of a group, read once per process: how built-ins
and third-party packages make methods, data sets, families and per-image extras known."""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points


@functools.cache
def installed(group: str) -> tuple[EntryPoint, ...]:
    """The entry points of ``group`` in every installed distribution."""
    return tuple(entry_points(group=group))
