"""`python -m smis.train OVERRIDES`, the same command as `smis-train` (its main: smis/cli/train.py);
`train(cfg)` runs a composed config from scripts and tests (smis.training.runner)."""

from .cli.train import main
from .training.options import ConfigError

__all__ = ["ConfigError", "main", "train"]  # noqa: F822 (train: see __getattr__)


def __getattr__(name: str):
    if name == "train":            # loaded when asked for: Lightning's start-up is seconds
        from .training.runner import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
