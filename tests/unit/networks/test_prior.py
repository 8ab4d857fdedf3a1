"""The appearance prior (smis.networks.prior): what it stores, how it draws, where it is used."""

import pytest
import torch
import torch.nn.functional as F

from smis import Synthesizer
from smis.hub import load_model
from smis.hub.model_files import save_model
from smis.latents import LatentLayout
from smis.networks import GroupDNet, preset
from smis.networks.prior import AppearancePrior, choose_prior, fit_prior


def small_net(seed: int = 0) -> GroupDNet:
    torch.manual_seed(seed)
    return GroupDNet(preset("small", num_classes=4), with_discriminator=False).eval()


def two_scenes():
    """Two 64x128 scenes: class 0 everywhere but a 64x64 block of class 1 (left in the first,
    right in the second); classes 2 and 3 cover no pixel."""
    label = torch.zeros(2, 1, 64, 128, dtype=torch.long)
    label[0, :, :, :64] = 1
    label[1, :, :, 64:] = 1
    image = torch.rand(2, 3, 64, 128, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return image, label


def test_fit_keeps_each_present_class_code_as_the_encoder_gives_it():
    net = small_net()
    image, label = two_scenes()
    prior = fit_prior(net, [(image[:1], label[:1]), (image[1:], label[1:])])
    with torch.no_grad():
        mu = torch.cat([net.encode(image[i:i + 1], label[i:i + 1])[0] for i in range(2)])   # (2, 8*4, 1, 2)
    k = net.config.latent_per_class
    assert sorted(prior.codes) == [0, 1]                     # classes 2 and 3 are in no image
    for c in (0, 1):
        torch.testing.assert_close(prior.codes[c], mu[:, k * c:k * (c + 1)], rtol=0, atol=1e-6)
    assert prior.grid == (1, 2)


def test_fit_stops_at_max_images_and_max_per_class():
    net = small_net()
    image, label = two_scenes()
    assert len(fit_prior(net, [(image, label)] * 3, max_images=3).codes[0]) == 3
    assert len(fit_prior(net, [(image, label)] * 3, max_per_class=2).codes[1]) == 2


def bank() -> AppearancePrior:
    g = torch.Generator().manual_seed(0)
    return AppearancePrior({0: torch.randn(5, 8, 2, 2, generator=g), 2: torch.randn(3, 8, 2, 2, generator=g)})


def test_a_draw_is_one_of_the_stored_codes():
    prior = bank()
    draws = prior.draw(0, 20, 2, 2, torch.Generator().manual_seed(3))          # (20, 8, 2, 2)
    distance = (draws[:, None] - prior.codes[0][None]).abs().amax((2, 3, 4))  # (20, 5)
    assert (distance.min(1).values == 0).all()
    assert len({int(i) for i in distance.argmin(1)}) > 1                      # not one code every time


def test_temperature_moves_the_draw_towards_the_class_mean():
    codes = bank().codes
    cooled = AppearancePrior(codes, temperature=0.5)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    plain, cool = AppearancePrior(codes).draw(0, 6, 2, 2, g1), cooled.draw(0, 6, 2, 2, g2)
    mean = codes[0].mean(0)
    torch.testing.assert_close(cool - mean, 0.5 * (plain - mean))


def test_another_grid_resizes_the_stored_code_and_a_class_without_codes_is_standard_normal():
    prior = bank()
    big = prior.draw(0, 4, 4, 8, torch.Generator().manual_seed(5))
    small = prior.draw(0, 4, 2, 2, torch.Generator().manual_seed(5))             # the same picks
    torch.testing.assert_close(big, F.interpolate(small, size=(4, 8), mode="bilinear", align_corners=False))
    unseen = prior.draw(1, 2, 2, 2, torch.Generator().manual_seed(6))
    torch.testing.assert_close(unseen, torch.randn(2, 8, 2, 2, generator=torch.Generator().manual_seed(6)))


@pytest.mark.parametrize("options, message", [({"bandwidth": -0.1}, "bandwidth"),
                                              ({"temperature": 1.5}, "temperature"),
                                              ({"temperature": True}, "temperature")])
def test_bad_settings_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        AppearancePrior(bank().codes, **options)


def test_the_model_file_carries_the_prior_and_the_synthesizer_draws_from_it(tmp_path):
    net = small_net()
    image, label = two_scenes()
    net.prior = fit_prior(net, [(image, label)], temperature=0.9)
    path = save_model(net, tmp_path / "model.pt")
    loaded = load_model(path)
    for c in (0, 1):      # stored in fp16
        torch.testing.assert_close(loaded.prior.codes[c], net.prior.codes[c], rtol=1e-3, atol=1e-3)
    assert loaded.prior.temperature == 0.9

    fitted = Synthesizer(loaded, device="cpu")                         # auto: the model's prior
    normal = Synthesizer(load_model(path), device="cpu", prior="normal")
    z = fitted.sample(label[:1], seeds=[7], size="input").codes[0].z
    again = fitted.sample(label[:1], seeds=[7], size="input").codes[0].z
    assert torch.equal(z, again)                                      # a seed still names one look
    k = net.config.latent_per_class
    drawn = z[0, :k]                                                  # class 0's code
    assert min(float((drawn - (torch.lerp(loaded.prior.mean[0], code, 0.9))).abs().max())
               for code in loaded.prior.codes[0]) < 1e-6
    assert not torch.equal(normal.sample(label[:1], seeds=[7], size="input").codes[0].z, z)
    assert normal.layout.prior is None


def test_choose_prior():
    net = small_net()
    assert choose_prior(net, "auto") is None and choose_prior(net, "normal") is None
    with pytest.raises(ValueError, match="prior=fitted: this model has no fitted appearance prior"):
        choose_prior(net, "fitted")
    with pytest.raises(ValueError, match="prior='gauss'"):
        choose_prior(net, "gauss")
    net.prior = bank()
    assert choose_prior(net, "auto") is net.prior and choose_prior(net, "normal") is None


def test_random_redraw_and_sample_z_use_the_prior():
    prior = bank()
    layout = LatentLayout(4, 8, prior)
    z = torch.zeros(1, 32, 2, 2)
    redrawn = layout.random_redraw(z, 2, 4, torch.Generator().manual_seed(0))
    assert (redrawn[:, :16] == 0).all() and (redrawn[:, 24:] == 0).all()    # the other classes kept
    assert all(any(torch.equal(r, code) for code in prior.codes[2]) for r in redrawn[:, 16:24])
    net = small_net()
    drawn = net.sample_z(2, 128, 128, generator=torch.Generator().manual_seed(1), prior=prior)
    assert all(any(torch.equal(d, code) for code in prior.codes[0]) for d in drawn[:, :8])
