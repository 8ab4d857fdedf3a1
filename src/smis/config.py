"""Composing the Hydra configs shipped in the package, for scripts, notebooks and tests."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONFIG_DIR = Path(__file__).parent / "configs"


def compose_config(overrides=(), output_dir: str | Path | None = None, log_dir: str | Path | None = None,
                   config_name: str = "train") -> DictConfig:
    """The config `python -m smis.train OVERRIDES` would run (`smis.evaluate` with
    config_name="evaluate"), for scripts, notebooks and tests. output_dir stands in for Hydra's
    run folder."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)       # lets ${hydra:...} and the run's choices resolve
    with open_dict(cfg):
        del cfg["hydra"]                         # as in a command-line run: Hydra keeps it apart
        if log_dir is not None:
            cfg.paths.log_dir = str(log_dir)
        if output_dir is not None:
            cfg.paths.output_dir = str(output_dir)
    return cfg


def dataset_choice() -> str | None:
    """The `dataset=` option of the config being run (what names its protocol entry), when Hydra
    composed it."""
    try:
        return HydraConfig.get().runtime.choices.get("dataset")
    except ValueError:                    # not composed by Hydra (a hand-built config)
        return None
