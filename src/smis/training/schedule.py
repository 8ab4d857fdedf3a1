"""Learning-rate schedule of the authors' trainer (docs/model.md §7)."""

from __future__ import annotations


class ConstantThenLinear:
    """Multiplier of the base learning rate in epoch `epoch` (0-based): 1 for `constant` epochs,
    then down by 1/decay per epoch (the authors' `update_learning_rate`, called after each epoch)."""

    def __init__(self, constant: int, decay: int):
        if constant < 0 or decay < 0:
            raise ValueError(f"epochs must be >= 0; got constant={constant}, decay={decay}")
        self.constant, self.decay = int(constant), int(decay)

    def __call__(self, epoch: int) -> float:
        if epoch < self.constant or self.decay == 0:
            return 1.0
        return max(0.0, 1.0 - (epoch - self.constant) / self.decay)
