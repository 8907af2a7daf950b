"""uadbench: an open benchmark for unsupervised anomaly detection in chest radiographs.

The public API is what a plugin author needs: ``Method`` and its ``RunContext`` and ``ImageSet``,
and ``Dataset`` (the contracts: ``uadbench.contracts.method`` and ``uadbench.contracts.dataset``);
``create_method(name, profile, **hyperparameters)`` makes any registered method. For notebooks,
``load_leaderboard(results_dir)`` and ``load_records(results_dir)`` give pandas DataFrames
(``uadbench.outputs.frames``). Each name is imported when first asked for, so that the command
line starts without NumPy.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

os.environ.setdefault("MKL_CBWR", "AUTO")
"""Intel MKL's conditional numerical reproducibility, asked for before MKL's first computation
(it reads this once): the instructions of its default dispatch, with fixed cache sizes,
deterministic reductions and static scheduling, so that a seed gives the same scores bit for bit
on one machine. A user's own setting wins; each run records the one in force
(``hardware.mkl_reproducibility``), since it changes the last bits of MKL's sums."""

__all__ = [
    "Dataset",
    "ImageSet",
    "LabelledImages",
    "Method",
    "RunContext",
    "create_method",
    "load_leaderboard",
    "load_records",
]
__version__ = "0.1.0"

_HOMES = {
    "Dataset": "uadbench.contracts.dataset",
    "ImageSet": "uadbench.contracts.method",
    "LabelledImages": "uadbench.contracts.method",
    "Method": "uadbench.contracts.method",
    "RunContext": "uadbench.contracts.method",
    "create_method": "uadbench.registry",
    "load_leaderboard": "uadbench.outputs.frames",
    "load_records": "uadbench.outputs.frames",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'uadbench' has no attribute {name!r}")
