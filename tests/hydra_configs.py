"""Compose the training config in tests the way `python -m smis.train` does."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from smis.train import compose_config


def compose_train(overrides: list[str], run_dir: Path | None = None,
                  log_dir: Path | None = None) -> DictConfig:
    """run_dir stands in for Hydra's run folder; log_dir defaults to logs/ beside it."""
    if run_dir is not None and log_dir is None:
        log_dir = run_dir.parent / "logs"
    return compose_config(overrides, run_dir, log_dir)
