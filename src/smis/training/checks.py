"""The checks a training config passes before any training starts: option types and ranges, the
network preset against the data, enough data for one batch, an image size GroupDNet can use."""

from __future__ import annotations

import dataclasses

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ..networks import GroupDNetConfig, check_image_size
from .options import GROUPS, ConfigError, RunOptions, is_int

PRECISIONS = {"32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true"}


# options owned by other classes (the data modules, Lightning's Trainer) that a config sets:
# option: (what it must be, the test); options a config does not have are not checked. smis's own
# options are typed in options.py.
OTHER_OPTIONS = {
    "dataset.batch_size": ("a positive integer", lambda v: is_int(v) and v > 0),
    "dataset.num_workers": ("auto or an integer >= 0", lambda v: v == "auto" or is_int(v) and v >= 0),
    "trainer.max_steps": ("an integer (-1: no limit)", lambda v: is_int(v) and v >= -1),
    "trainer.max_epochs": ("an integer (-1: no limit) or null",
                           lambda v: v is None or is_int(v) and v >= -1),
}


def check_config(cfg: DictConfig) -> None:
    """Types and ranges of every option, the precision: a ConfigError naming the option."""
    for group, options in GROUPS.items():
        if group in cfg:
            options.parse(OmegaConf.to_container(cfg[group], resolve=True) if cfg[group] is not None
                          else None, group)
    run = {f.name: cfg[f.name] for f in dataclasses.fields(RunOptions) if f.name in cfg}
    RunOptions.parse(run, "")
    missing = object()
    for key, (expected, valid) in OTHER_OPTIONS.items():
        value = OmegaConf.select(cfg, key, default=missing)
        if value is not missing and not valid(value):
            raise ConfigError(f"{key}={value!r}: expected {expected}")
    if str(cfg.trainer.precision) not in PRECISIONS:
        raise ConfigError(f"trainer.precision={cfg.trainer.precision!r}; "
                          f"expected one of {sorted(PRECISIONS)}")


def model_config(cfg: DictConfig, num_classes: int) -> GroupDNetConfig:
    """The network preset, with the class count taken from the dataset when left null."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    if model.get("num_classes") is None:
        model["num_classes"] = num_classes
    elif model["num_classes"] != num_classes:
        raise ConfigError(f"model.num_classes={model['num_classes']} but the dataset has {num_classes} "
                          "classes; pick the model preset of this dataset or set model.num_classes=null")
    return instantiate(model)


def check_enough_data(datamodule, devices: int) -> None:
    """Training drops the last partial batch: fewer scenes than one global batch trains nothing."""
    per_step = datamodule.batch_size * devices
    if len(datamodule.train_set) < per_step:
        raise ConfigError(f"the training set has {len(datamodule.train_set)} images, fewer than one batch "
                          f"({datamodule.batch_size} per process x {devices} processes): add data or lower "
                          "dataset.batch_size")


def check_training_size(datamodule) -> tuple[int, int]:
    """The training images must suit GroupDNet (networks.check_image_size). -> (H, W)."""
    H, W = datamodule.train_set[0]["image"].shape[1:]
    try:
        check_image_size(H, W)
    except ValueError as e:
        raise ConfigError(f"training images: {e}; change the dataset's size/crop options") from None
    return H, W
