"""The training loop: LightningModule, schedule, callbacks and figures.

The names below load their module (and with it PyTorch Lightning) on first use, so the commands'
config checks (checks.py, needs.py) and their error messages come without Lightning's start-up.
"""

import importlib

_HOMES = {"AtomicCheckpointIO": "callbacks", "ImagesPerSecond": "callbacks", "ProgressLines": "callbacks",
          "GroupDNetModule": "module", "NonFiniteLossError": "module", "ConstantThenLinear": "schedule"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
