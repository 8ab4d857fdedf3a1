"""Compose the training config in tests the way `python -m smis.train` does."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import smis

CONFIG_DIR = Path(smis.__file__).parent / "configs"


def compose_train(overrides: list[str], run_dir: Path | None = None,
                  log_dir: Path | None = None) -> DictConfig:
    """The `train` config with command-line style overrides; run_dir stands in for Hydra's
    run folder (paths.output_dir), log_dir (default: logs/ beside it) for paths.log_dir."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]                          # as in a real run: Hydra keeps it apart
        if run_dir is not None:
            cfg.paths.output_dir = str(run_dir)
            cfg.paths.log_dir = str(log_dir or run_dir.parent / "logs")
    return cfg
