"""The formats a board is written in, by name: the one list that ``--format`` offers (in its
help and shell completion) and the writers follow. A new format is a name here and a function
``to_<name>`` in ``uadbench.outputs.exports`` (the board) and ``uadbench.outputs.across_datasets``
(the board across data sets)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

FORMATS = ("table", "csv", "markdown", "latex", "json")
"""``table``, the terminal's rich table, then the formats written as text."""
TEXT_FORMATS = FORMATS[1:]


def writers(module: ModuleType) -> dict[str, Callable[[Any], str]]:
    """``module``'s writer of each text format: its function ``to_<format>``."""
    return {name: getattr(module, f"to_{name}") for name in TEXT_FORMATS}
