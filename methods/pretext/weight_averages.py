"""Averages over a training run's weights, kept while it trains: an exponential moving average
of the weights, and copies of the last checkpoints (for averaging their densities).

Both answer seed noise: the network at the last step depends on the last few batches drawn;
an average over the end of the run depends less on them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

WEIGHTS = ("last", "ema", "checkpoints")
"""The weights a pretext method scores with: the last step's, their moving average, and the
last checkpoints (one density each, the scores averaged)."""


def weights_variant(weights: str, name: str) -> str:
    """The name of a score computed with ``weights``: ``gaussian``, ``ema-gaussian``, ..."""
    return name if weights == "last" else f"{weights}-{name}"


class WeightAverages:
    """Kept during training by ``update(network, step)`` after each optimiser step.

    ``ema_decay``: the decay of the moving average (0.99: about the last 100 steps);
    checkpoints: the network every ``every`` steps of the last ``count * every``, the last
    step's included (300 steps, 3 and 50: steps 200, 250 and 300).
    """

    def __init__(self, network: nn.Module, steps: int, ema_decay: float, count: int, every: int):
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        self.ema = AveragedModel(
            network, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True
        )
        self.snapshot_steps = {steps - i * every for i in range(1, count) if steps - i * every > 0}
        self.snapshots: list[nn.Module] = []

    def update(self, network: nn.Module, step: int) -> None:
        """Fold the network after optimiser step ``step`` (1-based) into the averages."""
        self.ema.update_parameters(network)
        if step in self.snapshot_steps:
            self.snapshots.append(copy.deepcopy(network))

    def networks(self, last: nn.Module) -> dict[str, list[nn.Module]]:
        """The networks each choice of ``WEIGHTS`` scores with, ``last`` being the final one."""
        return {"last": [last], "ema": [self.ema.module], "checkpoints": [*self.snapshots, last]}
