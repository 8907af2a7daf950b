"""Training curves that a method records into its run record, with a guard against NaN."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from uadbench.errors import UserError


class NonFiniteLossError(UserError, FloatingPointError):
    """A training value became NaN or infinite; the run stops and says at which step."""

    def __init__(self, name: str, step: int, value: float) -> None:
        super().__init__(
            f"{name} became {value} at step {step}; the run was stopped. Lower the learning "
            f"rate (--param lr=...) or check the input images for constant or corrupt ones."
        )
        self.name, self.step, self.value = name, step, value


class TrainingHistory:
    """Named curves of (step, value) pairs, e.g. the training loss per step or epoch, and
    notes: single facts about the training worth keeping (counts, diagnostics)."""

    def __init__(self) -> None:
        self._curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._units: dict[str, str] = {}
        self.notes: dict[str, float | int | str] = {}
        self.warnings: list[str] = []

    def record(self, step: int, /, unit: str = "step", **values: float) -> None:
        """Append ``values`` at ``step``, counted in ``unit`` (``step``, ``epoch``); raise
        ``NonFiniteLossError`` on NaN or infinity."""
        for name, value in values.items():
            value = float(value)
            if not math.isfinite(value):
                raise NonFiniteLossError(name, step, value)
            self._curves[name].append((int(step), value))
            self._units[name] = unit

    def note(self, **values: float | int | str) -> None:
        """Keep single facts, e.g. ``note(empty_lung_masks=3)``; a later note replaces one. A
        value that is not a finite number is kept as its text (``"nan"``), which JSON allows."""
        for name, value in values.items():
            finite = not isinstance(value, float) or math.isfinite(value)
            self.notes[name] = value if finite else str(value)

    def warn(self, message: str) -> None:
        """Something a reader of the result must know (it is listed in the run record)."""
        self.warnings.append(message)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """The curves as ``{name: {"step": [...], "value": [...], "unit": "epoch"}}`` for JSON."""
        return {
            name: {
                "step": [s for s, _ in points],
                "value": [v for _, v in points],
                "unit": self._units[name],
            }
            for name, points in self._curves.items()
        }


def curve_unit(curve: dict[str, Any]) -> str:
    """What a recorded curve's ``step`` counts; records made before curves named it say so."""
    return curve.get("unit", "step or epoch (not recorded)")
