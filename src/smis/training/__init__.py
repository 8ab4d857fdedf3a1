"""The training loop: LightningModule, schedule, callbacks and figures."""

from .callbacks import AtomicCheckpointIO, ImagesPerSecond, ProgressLines
from .module import GroupDNetModule, NonFiniteLossError
from .schedule import ConstantThenLinear

__all__ = ["AtomicCheckpointIO", "ConstantThenLinear", "GroupDNetModule", "ImagesPerSecond",
           "NonFiniteLossError", "ProgressLines"]
