"""Names that are safe as file and folder names, one rule for the cache, records and figures."""

from __future__ import annotations

import re


def slug(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``.``, ``_`` and ``-``
    turned into one ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))
