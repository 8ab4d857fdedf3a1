"""The pixel-space control metric on decoders whose behaviour is known by construction."""

import math

import pytest
import torch

from smis.evaluation.separation import class_separation, summarize_separation, transfer_hits
from smis.latents import LatentLayout
from smis.losses import far_from

LAYOUT = LatentLayout(num_classes=3, per_class=2)


def label_map():
    label = torch.zeros(1, 1, 64, 128, dtype=torch.int64)
    label[..., :, 64:] = 1                      # class 0 left half, class 1 right half; class 2 absent
    return label


def test_a_decoder_that_ignores_a_class_has_no_inside_change():
    def ignores_class_1(label, z):
        B, _, H, W = label.shape
        return z[:, :1].mean((2, 3), keepdim=True).expand(B, 3, H, W)   # only class 0's code matters
    z = torch.randn(1, 6, 1, 2)
    result = class_separation(ignores_class_1, LAYOUT, label_map(), z, k=4,
                              generator=torch.Generator().manual_seed(0))
    assert set(result) == {0, 1}                                        # class 2 is absent
    assert result[1] == (0.0, 0.0)                                      # re-drawing 1 changes nothing
    assert result[0][0] > 0 and result[0][1] == pytest.approx(result[0][0])   # 0 changes everything


def test_a_clean_decoder_and_a_leaking_one():
    def painter(leak):
        def decode(label, z):
            colours = torch.stack([z[:, 2 * c].mean((1, 2)) for c in range(3)], 1)   # (B, 3)
            own = colours.gather(1, label.flatten(1)).view(label.shape)             # (B,1,H,W)
            # every pixel also follows the codes of the other classes, scaled by `leak`
            others = colours.sum(1).view(-1, 1, 1, 1) - own
            return (own + leak * others).expand(-1, 3, -1, -1)
        return decode

    z = torch.randn(1, 6, 1, 2)
    g = torch.Generator().manual_seed(1)
    clean = summarize_separation([class_separation(painter(0.0), LAYOUT, label_map(), z, k=6, generator=g)])
    assert clean["outside"] == 0 and clean["inside"] > 0 and clean["separation"] == 0
    leaky = class_separation(painter(0.25), LAYOUT, label_map(), z, k=6,
                             generator=torch.Generator().manual_seed(1))
    for inside, outside in leaky.values():
        assert outside == pytest.approx(0.25 * inside, rel=1e-5)        # the leak it was built with
    assert summarize_separation([leaky])["separation"] == pytest.approx(0.25, rel=1e-5)


def test_the_band_around_a_class_is_left_out():
    mask = torch.zeros(10, 10, dtype=torch.bool)
    mask[4:6, 4:6] = True
    far = far_from(mask, 2)
    assert not far[2:8, 2:8].any() and far[1, 1] and far[0].all()
    assert torch.equal(far_from(mask, 0), ~mask)


def test_summaries_skip_nan_and_need_pairs():
    s = summarize_separation([{0: (0.5, math.nan)}, {0: (0.3, 0.1), 1: (1.0, 0.2)}])
    assert s["per_class"][0] == {"inside": 0.4, "outside": 0.1, "images": 2}
    assert s["inside"] == pytest.approx(0.7) and s["separation"] == pytest.approx(0.15 / 0.7)
    with pytest.raises(ValueError, match="k must be at least 2"):
        class_separation(None, LAYOUT, label_map(), torch.zeros(1, 6, 1, 2), k=1)


def test_encoder_health_sees_collapse_and_information():
    from smis.training.module import encoder_health

    label = torch.zeros(4, 1, 64, 128, dtype=torch.int64)
    label[:, :, :, 64:] = 1                                             # classes 0 and 1 in every image
    collapsed = encoder_health(torch.zeros(4, 16, 1, 2), torch.zeros(4, 16, 1, 2), label, 8)
    assert collapsed["mu_std"] == 0 and collapsed["sigma"] == 1
    mu = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 16, 1, 2)         # a different code per image
    informative = encoder_health(mu, torch.full((4, 16, 1, 2), -2.0), label, 8)
    assert informative["mu_std"] == pytest.approx(torch.arange(4.0).std().item())
    assert informative["sigma"] == pytest.approx(math.exp(-1))
    assert "mu_std" not in encoder_health(mu[:1], mu[:1], label[:1], 8)   # one image: no spread


def test_transfer_hits_when_the_copied_code_carries_the_colour():
    """Class c's pixels take the colour of c's code (a faithful decoder) or ignore the codes."""
    def faithful(label, z):
        colours = torch.stack([z[:, 2 * c].mean((1, 2)) for c in range(3)], 1)   # (B, 3)
        return colours.gather(1, label.flatten(1)).view(label.shape).expand(-1, 3, -1, -1)

    def ignores_codes(label, z):
        return torch.full((label.shape[0], 3, *label.shape[2:]), 0.5)

    label = label_map()
    target = (torch.full((1, 3, 64, 128), 0.5), label, torch.full((1, 6, 1, 2), 0.5))    # looks 0.5
    reference = (torch.full((1, 3, 64, 128), -0.5), label, torch.full((1, 6, 1, 2), -0.5))
    assert transfer_hits(faithful, LAYOUT, target, reference) == {0: True, 1: True}
    assert transfer_hits(ignores_codes, LAYOUT, target, reference) == {0: False, 1: False}
    absent = label.clone().fill_(0)                     # class 1 not in the reference: not counted
    assert transfer_hits(faithful, LAYOUT, target, (reference[0], absent, reference[2])) == {0: True}
