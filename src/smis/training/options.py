"""The training options smis defines, typed: each field's type, default and valid range, once.

The YAML files (configs/loss, configs/optim, train.yaml) set values; these classes say what a
value may be. `parse` turns a config node into an instance, with a ConfigError naming the option
(`loss.kld=-1: expected a number >= 0`) for a wrong type or range and for an unknown key. The
defaults are the authors' (configs/loss/authors.yaml, configs/optim/authors.yaml), so a checkpoint
written before an option existed loads with the behaviour it was trained with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A config value that cannot work: raised before any training starts."""


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def option(default, expected: str, valid: Callable[[object], bool], doc: str = ""):
    """A field with its default, what it must be (for the error) and the test."""
    return field(default=default, metadata={"expected": expected, "valid": valid, "doc": doc})


def weight(default: float, doc: str = ""):
    return option(default, "a number >= 0", lambda v: is_number(v) and v >= 0, doc)


def fraction(default: float, doc: str = ""):
    return option(default, "a number in [0, 1]", lambda v: is_number(v) and 0 <= v <= 1, doc)


def count(default: int, doc: str = ""):
    return option(default, "an integer >= 0", lambda v: is_int(v) and v >= 0, doc)


def check_value(name: str, value, f: dataclasses.Field) -> None:
    if not f.metadata["valid"](value):
        raise ConfigError(f"{name}={value!r}: expected {f.metadata['expected']}")


class Options:
    """Shared by the option classes: parsing with errors that name the option."""

    @classmethod
    def parse(cls, values: Mapping | None, prefix: str):
        """values (a dict or config node; None: all defaults) -> an instance; prefix names the
        group in errors ("loss"; "" for top-level options)."""
        values = dict(values or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"{prefix}.{unknown[0]}: unknown option; {prefix} has "
                              f"{', '.join(sorted(fields))}")
        for key, value in values.items():
            check_value(f"{prefix}.{key}" if prefix else key, value, fields[key])
        return cls(**values)


@dataclass(frozen=True)
class LossOptions(Options):
    """configs/loss/: the weights of the generator's terms and how some are computed."""

    gan: float = weight(1.0, "hinge GAN loss")
    feat: float = weight(10.0, "discriminator feature matching")
    vgg: float = weight(10.0, "VGG19 perceptual loss (needs the VGG19 weight file)")
    kld: float = weight(0.05, "KL divergence of the codes from N(0, I)")
    vgg_weights: str | None = option(None, "a path or null", lambda v: v is None or isinstance(v, str),
                                     "VGG19 weights: null fetches torchvision's; `random` for tests")
    kld_reduction: str = option("sum", "sum or image_mean", lambda v: v in ("sum", "image_mean"),
                                "sum: the authors' (grows with the batch); image_mean: per image")
    l1: float = weight(0.0, "pixel L1 between the fake and the real image")
    isolation: float = weight(0.0, "pixel change outside a class when only its code is re-drawn")
    isolation_fraction: float = fraction(1.0, "share of the steps that add the isolation term")
    isolation_band: int = count(4, "pixels around the class left out of the isolation term")
    flipped_codes: float = weight(0.0, "L1 of the image decoded from codes encoded from it flipped")
    flipped_codes_fraction: float = fraction(1.0, "share of the steps that add the flipped-codes term")


@dataclass(frozen=True)
class OptimOptions(Options):
    """configs/optim/: Adam and the learning-rate schedule (constant, then linear to zero)."""

    lr_g: float = option(1e-4, "a number > 0", lambda v: is_number(v) and v > 0, "generator + encoder")
    lr_d: float = option(4e-4, "a number > 0", lambda v: is_number(v) and v > 0, "discriminator")
    beta1: float = option(0.0, "a number in [0, 1)", lambda v: is_number(v) and 0 <= v < 1)
    beta2: float = option(0.9, "a number in [0, 1)", lambda v: is_number(v) and 0 <= v < 1)
    constant_epochs: int = count(100, "epochs at the full rate (the authors' niter)")
    decay_epochs: int = count(100, "epochs of linear decay to zero (the authors' niter_decay)")
    d_reuses_fake: bool = option(False, "true or false", lambda v: isinstance(v, bool),
                                 "D trains on G's fake instead of a fresh one (the authors regenerate)")


@dataclass(frozen=True)
class EncoderInit(Options):
    """encoder_init: the encoder heads' initialisation (null keeps the authors': gain 0.02, bias 0)."""

    head_gain: float | None = option(None, "a number > 0 or null",
                                     lambda v: v is None or is_number(v) and v > 0)
    logvar_bias: float | None = option(None, "a number or null", lambda v: v is None or is_number(v))


@dataclass(frozen=True)
class RunOptions(Options):
    """train.yaml's own options that the training module reads."""

    seed: int = option(0, "an integer", is_int)
    ema_decay: float | None = option(None, "a number in (0, 1) or null",
                                     lambda v: v is None or is_number(v) and 0 < v < 1)
    ema_warmup: bool = option(False, "true or false", lambda v: isinstance(v, bool))
    channels_last: bool = option(False, "true or false", lambda v: isinstance(v, bool))
    compile: str | None = option(None, "null, default, reduce-overhead or max-autotune",
                                 lambda v: v in (None, "default", "reduce-overhead", "max-autotune"),
                                 "torch.compile mode of the generator and discriminator (null: eager)")
    finite_check_every: int = option(1, "an integer >= 1", lambda v: is_int(v) and v >= 1,
                                     "optimiser steps between reads of the losses' finite check")


# config group -> its options class (training.checks checks a composed config against these)
GROUPS = {"loss": LossOptions, "optim": OptimOptions, "encoder_init": EncoderInit}
