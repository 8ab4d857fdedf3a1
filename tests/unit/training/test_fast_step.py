"""The faster CPU training step computes the same maths as the authors' algorithm
(smis.networks.reference): fused gamma/beta convs, the conditional norms' border path, the
present-class encoder, the G step's real pass without gradient, channels-last memory."""

import copy

import pytest
import torch

from smis.data.synthetic import voronoi_labels as scene
from smis.networks import normalization, preset
from smis.networks.borders import border_modulation
from smis.networks.normalization import CondGroupNorm
from smis.training import GroupDNetModule
from tests.helpers.reference import AUTHORS_LOSS as LOSS
from tests.helpers.reference import AUTHORS_OPTIM as OPTIM


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_fused_modulation_equals_two_convs(groups):
    torch.manual_seed(0)
    norm = CondGroupNorm(8, 4, 4, groups, "fixed32")
    for conv in (norm.mlp_gamma, norm.mlp_beta):       # non-zero biases, so their order is checked
        torch.nn.init.normal_(conv.bias)
    h = torch.randn(2, 32, 6, 5, requires_grad=True)
    gamma, beta = norm.modulation(h)
    ref_gamma, ref_beta = norm.mlp_gamma(h), norm.mlp_beta(h)
    torch.testing.assert_close(gamma, ref_gamma, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(beta, ref_beta, rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad((gamma * 2 + beta * 3).sum(), h)
    (ref_grad,) = torch.autograd.grad((ref_gamma * 2 + ref_beta * 3).sum(), h)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-6)


def module_and_batch(channels_last=False):
    torch.manual_seed(0)
    loss = {**LOSS, "vgg": 0.0, "vgg_weights": "random"}
    config = preset("small", ngf=8, ndf=8).to_dict()
    # float64: round-off far below any difference of maths (a conv bias before a batch norm has a
    # true gradient of 0, and the norms amplify the round-off of the generator's first layers)
    module = GroupDNetModule(config, OPTIM, loss, channels_last=channels_last).double()
    label, _ = scene(2, 8, 64, 128)
    image = torch.rand(2, 3, 64, 128, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    return module, image, label


def one_step(module, image, label):
    # SGD rather than the training's Adam: Adam scales the round-off gradient of a parameter whose
    # true gradient is 0 (a conv bias before a batch norm) into a full step of random sign
    opt_g = torch.optim.SGD([*module.net.generator.parameters(), *module.net.encoder.parameters()], lr=0.01)
    opt_d = torch.optim.SGD(module.net.discriminator.parameters(), lr=0.01)
    if module.hparams.channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    noise = torch.Generator().manual_seed(3)
    g_terms, fake, _ = module.generator_step(opt_g, image, label, None, noise, lambda loss: loss.backward())
    d_terms, _, _ = module.discriminator_step(opt_d, image, label, None, noise, fake,
                                              lambda loss: loss.backward())
    return {**g_terms, **d_terms}


@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_step_matches_the_authors_algorithm(channels_last, monkeypatch):
    """Two full G+D steps from the same weights on the same batch: the same losses and the same
    weights and spectral-norm vectors afterwards, to float64 round-off."""
    fast, image, label = module_and_batch(channels_last)
    reference = copy.deepcopy(fast)
    reference.use_authors_paths()
    border_sizes = []                       # the sizes the border path ran at, in the fast step

    def spy(shared, params, windows):
        border_sizes.append(len(windows.labels))
        return border_modulation(shared, params, windows)

    monkeypatch.setattr(normalization, "border_modulation", spy)
    for _ in range(2):
        fast_terms = one_step(fast, image, label)
        assert border_sizes                     # the border path computed some norms
        border_sizes.clear()
        ref_terms = one_step(reference, image, label)
        assert not border_sizes                 # and never in the authors' algorithm
        for key, value in ref_terms.items():
            torch.testing.assert_close(fast_terms[key], value, rtol=1e-9, atol=1e-10, msg=key)
    ref_state = reference.state_dict()
    for key, value in fast.state_dict().items():
        torch.testing.assert_close(value, ref_state[key], rtol=1e-7, atol=1e-9, msg=key)


def test_generator_step_real_pass_leaves_the_discriminator_as_one_pass_would():
    module, image, label = module_and_batch()
    fake = torch.rand_like(image) * 2 - 1
    other = copy.deepcopy(module)
    fast_fake, fast_real = module.discriminate_for_generator(label, None, fake, image)
    ref_fake, ref_real = other.discriminate(label, None, fake, image)
    assert module.net.discriminator.training                     # back in training mode
    for a, b in zip(sum(fast_fake + fast_real, []), sum(ref_fake + ref_real, [])):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for (key, value), ref in zip(module.net.discriminator.state_dict().items(),
                                 other.net.discriminator.state_dict().values()):
        torch.testing.assert_close(value, ref, rtol=1e-6, atol=1e-7, msg=key)   # u, v stepped once
