"""uadbench: an open benchmark for unsupervised anomaly detection in chest radiographs.

The public API is what a plugin author needs: ``Method`` and its ``RunContext`` and ``ImageSet``,
and ``Dataset``. See ``uadbench.contracts.method`` and ``uadbench.contracts.dataset`` for the
contracts. They are imported when first asked for, so that the command line starts without
NumPy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["Dataset", "ImageSet", "LabelledImages", "Method", "RunContext"]
__version__ = "0.1.0"

_HOMES = {
    "Dataset": "uadbench.contracts.dataset",
    "ImageSet": "uadbench.contracts.method",
    "LabelledImages": "uadbench.contracts.method",
    "Method": "uadbench.contracts.method",
    "RunContext": "uadbench.contracts.method",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'uadbench' has no attribute {name!r}")
