"""`python -m smis.train OVERRIDES`, the same command as `smis-train` (its main: smis/cli/train.py);
`train(cfg)` runs a composed config from scripts and tests (smis.training.runner)."""

from .cli.train import main
from .training.checks import ConfigError
from .training.runner import train

__all__ = ["ConfigError", "main", "train"]

if __name__ == "__main__":
    main()
