"""Where uadbench's data files lie: split files and the published-results table.

In the wheel they are installed inside the package, as the data-only packages
``uadbench.splits`` (from the repository's ``datasets/`` folder) and ``uadbench.reference``
(from ``results/reference/``), found by the import system; in a source checkout or an editable
install, in the repository.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_data(package: str, folder: str) -> Path:
    """The folder of the data installed as ``package`` (files, no code), else the repository's
    ``folder``."""
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / folder
