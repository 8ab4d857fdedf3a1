"""The pretrained files (smis.weights registry names) a training config loads."""

from __future__ import annotations

from omegaconf import DictConfig


def train_needs(cfg: DictConfig) -> list[str]:
    """The registry files `smis.train` loads with this config: VGG19 for the perceptual loss."""
    loss = cfg.get("loss") or {}
    return ["vgg19"] if (loss.get("vgg") or 0) > 0 and loss.get("vgg_weights") is None else []
