"""Compose the training config in tests the way `python -m smis.train` does, and run short fits."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from smis.config import compose_config

# small and quiet: CPU, CSV logs, no live progress bar, small validation figures
TINY = ["trainer=cpu", "logger=csv", "~callbacks.progress_bar", "samples.rows=1", "samples.random=1",
        "samples.resample=2", "trainer.log_every_n_steps=1"]
# 4 synthetic scenes of 64x128 in batches of 2: 2 steps per epoch
SYNTHETIC = ["dataset=synthetic", "dataset.size=[64,128]", "dataset.num_train=4", "dataset.num_val=2",
             "dataset.batch_size=2", "dataset.num_workers=0"]


def compose_train(overrides: list[str], run_dir: Path | None = None,
                  log_dir: Path | None = None) -> DictConfig:
    """run_dir stands in for Hydra's run folder; log_dir defaults to logs/ beside it."""
    if run_dir is not None and log_dir is None:
        log_dir = run_dir.parent / "logs"
    return compose_config(overrides, run_dir, log_dir)


def run(tmp_path: Path, *overrides: str, name: str = "run") -> dict:
    """Train in tmp_path/logs/train/runs/NAME, as `python -m smis.train` would lay it out."""
    from smis.train import train

    cfg = compose_train([*TINY, *overrides], tmp_path / "logs" / "train" / "runs" / name, tmp_path / "logs")
    return train(cfg)


# Trained runs shared by every test that only reads their results (one fit instead of one per test).
# Options: tests/hydra_configs.py.
SHARED_RUN = ["optim.constant_epochs=1", "optim.decay_epochs=2", "seed=3", "logger=[csv,tensorboard]"]
