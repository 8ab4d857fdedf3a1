"""The checks a training config passes before any training starts: option types and ranges, the
network preset against the data, enough data for one batch, an image size GroupDNet can use."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ..networks import GroupDNetConfig, check_image_size

PRECISIONS = {"32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true"}


class ConfigError(ValueError):
    """A config value that cannot work: raised before any training starts."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# option: (what it must be, the test); options a config does not have are not checked
NUMERIC_OPTIONS = {
    "seed": ("an integer", _is_int),
    "dataset.batch_size": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "dataset.num_workers": ("auto or an integer >= 0", lambda v: v == "auto" or _is_int(v) and v >= 0),
    "optim.lr_g": ("a number > 0", lambda v: _is_number(v) and v > 0),
    "optim.lr_d": ("a number > 0", lambda v: _is_number(v) and v > 0),
    "optim.beta1": ("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1),
    "optim.beta2": ("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1),
    "optim.constant_epochs": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "optim.decay_epochs": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    **{f"loss.{k}": ("a number >= 0", lambda v: _is_number(v) and v >= 0)
       for k in ("gan", "feat", "vgg", "kld", "l1", "isolation", "flipped_codes")},
    "loss.kld_reduction": ("sum or image_mean", lambda v: v in ("sum", "image_mean")),
    **{f"loss.{k}_fraction": ("a number in [0, 1]", lambda v: _is_number(v) and 0 <= v <= 1)
       for k in ("isolation", "flipped_codes")},
    "loss.isolation_band": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "encoder_init.head_gain": ("a number > 0 or null", lambda v: v is None or _is_number(v) and v > 0),
    "encoder_init.logvar_bias": ("a number or null", lambda v: v is None or _is_number(v)),
    "channels_last": ("true or false", lambda v: isinstance(v, bool)),
    "trainer.max_steps": ("an integer (-1: no limit)", lambda v: _is_int(v) and v >= -1),
    "trainer.max_epochs": ("an integer (-1: no limit) or null",
                           lambda v: v is None or _is_int(v) and v >= -1),
    "ema_decay": ("a number in (0, 1) or null", lambda v: v is None or _is_number(v) and 0 < v < 1),
    "ema_warmup": ("true or false", lambda v: isinstance(v, bool)),
}


def check_config(cfg: DictConfig) -> None:
    """Types and ranges of the numeric and named options, the precision: a ConfigError naming the option."""
    missing = object()
    for key, (expected, valid) in NUMERIC_OPTIONS.items():
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
