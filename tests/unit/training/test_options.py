"""The typed training options (smis.training.options): defaults are the authors' presets, and a
wrong type, range or key is an error naming the option."""

import dataclasses

import pytest
import yaml

from smis.config import CONFIG_DIR
from smis.training.options import ConfigError, LossOptions, OptimOptions


@pytest.mark.parametrize("options, group", [(LossOptions, "loss"), (OptimOptions, "optim")])
def test_the_defaults_are_the_authors_preset(options, group):
    """A checkpoint written before an option existed trains on as the authors' preset says."""
    authors = yaml.safe_load((CONFIG_DIR / group / "authors.yaml").read_text())
    defaults = {f.name: f.default for f in dataclasses.fields(options)}
    assert defaults == authors


@pytest.mark.parametrize("group, values, message", [
    (LossOptions, {"kld": -1}, "loss.kld=-1: expected a number >= 0"),
    (LossOptions, {"kld": True}, "loss.kld=True: expected a number >= 0"),
    (LossOptions, {"kld_reduction": "mean"}, "loss.kld_reduction='mean': expected sum or image_mean"),
    (LossOptions, {"isolation_fraction": 1.5}, "loss.isolation_fraction=1.5: expected a number in [0, 1]"),
    (LossOptions, {"isolation_band": 2.0}, "loss.isolation_band=2.0: expected an integer >= 0"),
    (LossOptions, {"kdl": 1.0}, "loss.kdl: unknown option; loss has feat, flipped_codes"),
    (OptimOptions, {"beta1": 1.0}, "optim.beta1=1.0: expected a number in [0, 1)"),
    (OptimOptions, {"lr_g": 0}, "optim.lr_g=0: expected a number > 0"),
])
def test_a_wrong_value_names_the_option(group, values, message):
    with pytest.raises(ConfigError) as e:
        group.parse(values, "loss" if group is LossOptions else "optim")
    assert message in str(e.value)


def test_given_values_override_the_defaults():
    loss = LossOptions.parse({"kld": 0.001, "l1": 10.0}, "loss")
    assert (loss.kld, loss.l1, loss.gan) == (0.001, 10.0, 1.0)
