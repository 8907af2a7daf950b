"""Per-image arrays derived from prepared images once and cached beside them (e.g. lung masks).

A method that needs such an array in ``fit`` lists its name in ``Method.requires``; the module
that defines the derivation registers it with ``@register_extra`` and is listed in the
``uadbench.extras`` entry-point group (``name = "module:function"``), so that asking for the
name imports it. Preparation computes it for
every image of the split the first time it is asked for, and later runs read it from the cache.

    >>> import numpy as np
    >>> from uadbench.contracts.extras import register_extra
    >>> @register_extra("bright-pixels", version=1)
    ... def bright_pixels(image: np.ndarray) -> np.ndarray:
    ...     return image > 200
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from uadbench.entry_points import installed
from uadbench.errors import UserError


class UnknownExtraError(UserError, KeyError):
    """A per-image extra that no module registered."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Extra:
    """A named per-image derivation; bump ``version`` when its output changes."""

    name: str
    version: int
    compute: Callable[[np.ndarray], np.ndarray]


EXTRAS_GROUP = "uadbench.extras"
_EXTRAS: dict[str, Extra] = {}


def register_extra(
    name: str, version: int = 1
) -> Callable[[Callable[[np.ndarray], np.ndarray]], Callable[[np.ndarray], np.ndarray]]:
    """Register ``fn(image (H, W) uint8) -> array`` as the extra ``name``."""

    def decorate(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        known = _EXTRAS.get(name)
        if known is not None and _where(known.compute) != _where(fn):
            raise ValueError(f"extra {name!r} is already registered by {_where(known.compute)}")
        _EXTRAS[name] = Extra(name, version, fn)
        return fn

    return decorate


def _where(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def get_extra(name: str) -> Extra:
    """The registered extra ``name``; an error listing the known ones otherwise."""
    if name not in _EXTRAS:
        for entry in installed(EXTRAS_GROUP):
            if entry.name == name:
                entry.load()  # importing the module registers the extra
    try:
        return _EXTRAS[name]
    except KeyError:
        known = ", ".join(sorted({*_EXTRAS, *(e.name for e in installed(EXTRAS_GROUP))})) or "none"
        raise UnknownExtraError(
            f"no per-image extra named {name!r} is registered (known: {known}); list the module "
            "that defines it in the uadbench.extras entry points, or import it in the method"
        ) from None
