"""At the authors' widths the parameter counts are exactly the authors' (docs/faithfulness.md)."""

import pytest
import torch

from smis.networks import GroupDNet, preset

AUTHORS = {  # generator, encoder, discriminator, counted by the authors' code
    "deepfashion": (96_324_451, 12_835_712, 5_544_066),
    "cityscapes": (76_501_358, 5_768_210, 5_601_410),
    "ade20k": (68_326_847, 4_411_012, 5_836_930),   # G counts the unused up_4 block
}


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", sorted(AUTHORS))
def test_parameter_counts(name):
    with torch.device("meta"):
        net = GroupDNet(preset(name), init_gain=None)
    assert (count(net.generator), count(net.encoder), count(net.discriminator)) == AUTHORS[name]


def test_ade20k_without_unused_block():
    from dataclasses import replace
    with torch.device("meta"):
        net = GroupDNet(replace(preset("ade20k"), unused_up_4=False), init_gain=None)
    assert not hasattr(net.generator, "up_4")
    assert count(net.generator) < AUTHORS["ade20k"][0]
