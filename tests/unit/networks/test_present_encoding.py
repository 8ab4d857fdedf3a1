"""Present-class encoding (`GroupEncoder.encode_present`) equals the authors' full computation
`encoder(class_crops(...))`: values, gradients and the spectral-norm state, in eval and training mode."""

import copy

import pytest
import torch

import smis
from smis.networks import GroupDNet, GroupEncoder, class_crops, class_mean_colours, preset
from smis.networks import encoder as encoder_module
from tests.helpers.reference import DATASETS, load_io


@pytest.fixture
def pairs_path(monkeypatch):
    """encode_present takes its pairs' path whatever the share of pairs present."""
    monkeypatch.setattr(encoder_module, "FULL_PATH_SHARE", 1.0)


def scenes(C: int, H: int = 64, W: int = 128) -> torch.Tensor:
    """(3,1,H,W) label maps: blobs with absent classes and a one-pixel class, a class covering the
    whole image, and every pixel random (most classes present, each scattered)."""
    label = torch.zeros(3, 1, H, W, dtype=torch.int64)
    label[0, 0, 10:40, 20:90] = 1
    label[0, 0, 30:, 60:] = C - 1
    label[0, 0, 5, 7] = 3                                       # one pixel
    label[1] = 2                                                # the whole image
    label[2] = torch.randint(0, C, (1, H, W))
    return label


def encoder(C: int, width: int, latent_per_class: int = 8, mean_colour: bool = False) -> GroupEncoder:
    enc = GroupEncoder(C, width, latent_per_class, mean_colour)
    enc.fc_var.bias.data.normal_()                              # absent classes: distinct constants
    if mean_colour:                                             # it starts at zero: make it count
        enc.mean_colour_to_mu.data.normal_()
    # a few power iterations: with its random initial u, v, eval mode's sigma is near 0
    with torch.no_grad():
        for _ in range(3):
            enc(torch.zeros(1, 3 * C, 64, 128), torch.zeros(1, C, 3))
    return enc


def assert_grads_close(ours: torch.Tensor, full: torch.Tensor) -> None:
    # the weight gradient through sigma sums over the groups in another order: float32 round-off
    # relative to the gradient's scale. On CUDA the crops' backward adds up to H*W terms into a
    # pixel (a one-pixel class's) with atomics, in any order: more round-off, run to run too (seen on
    # an H100: 2.3e-4 of the gradient's largest value on one pixel of 73,728)
    tol = 1e-3 if full.is_cuda else 1e-6
    torch.testing.assert_close(ours, full, rtol=10 * tol, atol=tol * float(full.abs().max()))


def run_both(enc: GroupEncoder, image: torch.Tensor, label: torch.Tensor, training: bool):
    """Forward + backward of both paths from the same state -> the two encoders and images."""
    cotangents = None
    out = []
    for path in ("present", "full"):
        e = copy.deepcopy(enc).train(training)
        x = image.clone().requires_grad_()
        if path == "present":
            mu, logvar = e.encode_present(x, label)
        else:
            means = class_mean_colours(x, label, e.num_classes) if e.mean_colour_to_mu is not None else None
            mu, logvar = e(class_crops(x, label, e.num_classes), means)
        if cotangents is None:
            cotangents = torch.randn_like(mu), torch.randn_like(logvar)
        ((mu * cotangents[0]).sum() + (logvar * cotangents[1]).sum()).backward()
        out.append((e, x, mu.detach(), logvar.detach()))
    return out


def check_paths_agree(enc, image, label, training):
    (ours, x_ours, mu, logvar), (full, x_full, mu_full, logvar_full) = run_both(enc, image, label, training)
    torch.testing.assert_close(mu, mu_full, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(logvar, logvar_full, rtol=1e-6, atol=1e-6)
    assert_grads_close(x_ours.grad, x_full.grad)
    for (name, p), p_full in zip(ours.named_parameters(), full.parameters()):
        assert p.grad is not None, name
        assert_grads_close(p.grad, p_full.grad)
    # spectral norm: one power iteration per layer in training mode, none in eval mode
    for (name, b), b_full in zip(ours.named_buffers(), full.buffers()):
        assert torch.equal(b, b_full), name
        assert torch.equal(b, enc.get_buffer(name)) != training, name
    return mu, logvar


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("C, width, latent", [(5, 20, 8), (12, 24, 8), (20, 40, 4)])
def test_matches_the_full_encoder(C, width, latent, training, pairs_path):
    enc = encoder(C, width, latent)
    label = scenes(C)
    image = torch.rand(3, 3, 64, 128) * 2 - 1
    mu, logvar = check_paths_agree(enc, image, label, training)
    assert mu.shape == logvar.shape == (3, latent * C, 1, 2)
    # an absent class's code is its head's bias, exactly
    absent = logvar.unflatten(1, (C, latent))[0, 2]             # image 0 has no class 2
    assert torch.equal(absent, enc.fc_var.bias.view(C, latent)[2, :, None, None].expand_as(absent))


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_the_mean_colour_path_matches_the_full_encoder(training, pairs_path):
    """encoder_mean_colour (not the authors'): both paths add the same per-class term, gradients
    included, and an absent class's code is still its head's bias."""
    C, latent = 5, 8
    enc = encoder(C, 20, latent, mean_colour=True)
    mu, _ = check_paths_agree(enc, torch.rand(3, 3, 64, 128) * 2 - 1, scenes(C), training)
    absent = mu.unflatten(1, (C, latent))[0, 2]                 # image 0 has no class 2
    assert torch.equal(absent, enc.fc_mu.bias.view(C, latent)[2, :, None, None].expand_as(absent))


def test_every_class_in_every_image(pairs_path):
    """Each class in both images: every class's weights serve two groups."""
    C = 6
    label = torch.arange(C).repeat_interleave(128 // C + 1)[:128].expand(2, 1, 64, 128)
    check_paths_agree(encoder(C, 12), torch.rand(2, 3, 64, 128) * 2 - 1, label, training=True)


def test_full_path_when_almost_every_pair_is_present(monkeypatch):
    C = 4
    enc, label = encoder(C, 8).eval(), torch.randint(0, C, (3, 1, 64, 128))
    label[1] = 0                                                # 4 + 1 + 4 of 12 pairs: 75%
    full_calls, forward = [], GroupEncoder.forward
    monkeypatch.setattr(GroupEncoder, "forward", lambda self, *a: full_calls.append(1) or forward(self, *a))
    image = torch.rand(3, 3, 64, 128) * 2 - 1
    enc.encode_present(image, label)
    assert not full_calls
    label[1, 0, 0, :3] = torch.tensor([1, 2, 3])               # 12 of 12
    mu, logvar = enc.encode_present(image, label)
    assert len(full_calls) == 1
    assert torch.equal(mu, enc(class_crops(image, label, C))[0])


def test_successive_training_steps_stay_identical(pairs_path):
    """Two optimiser steps on each path: weights and u/v end where the full path puts them."""
    C = 6
    enc, label, image = encoder(C, 12), scenes(C), torch.rand(3, 3, 64, 128) * 2 - 1
    trained = []
    for present in (True, False):
        e = copy.deepcopy(enc).train()
        opt = torch.optim.SGD(e.parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            mu, logvar = e.encode_present(image, label) if present else e(class_crops(image, label, C))
            (mu.square().mean() + logvar.exp().mean()).backward()
            opt.step()
        trained.append(e.state_dict())
    for name, value in trained[0].items():
        torch.testing.assert_close(value, trained[1][name], rtol=1e-5, atol=1e-6, msg=name)


def test_groupdnet_encode_uses_it():
    net = GroupDNet(preset("small", num_classes=8)).eval()
    label, image = scenes(8), torch.rand(3, 3, 64, 128) * 2 - 1
    with torch.no_grad():
        mu, logvar = net.encode(image, label)
        mu_full, logvar_full = net.encoder(class_crops(image, label, 8))
    torch.testing.assert_close(mu, mu_full, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(logvar, logvar_full, rtol=1e-6, atol=1e-6)


def test_autocast_bf16_keeps_the_full_paths_dtype(pairs_path):
    """Under autocast the absent classes' constants are the bias in the output dtype, as in the
    full path (whose last conv adds a bf16 bias)."""
    C = 5
    enc, label, image = encoder(C, 10).eval(), scenes(C), torch.rand(3, 3, 64, 128) * 2 - 1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        mu, logvar = enc.encode_present(image, label)
        mu_full, logvar_full = enc(class_crops(image, label, C))
    assert mu.dtype == mu_full.dtype and logvar.dtype == logvar_full.dtype
    torch.testing.assert_close(mu, mu_full, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(logvar, logvar_full, rtol=2e-2, atol=2e-2)


@pytest.mark.gpu
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_matches_the_full_encoder_on_cuda(training, pairs_path, monkeypatch):
    # TF32 convs would differ between the two paths by more than float32 round-off
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    C = 12
    enc = encoder(C, 48).cuda()
    label = scenes(C).cuda()
    image = torch.rand(3, 3, 64, 128, device="cuda") * 2 - 1
    check_paths_agree(enc, image, label, training)


@pytest.mark.parametrize("dataset", DATASETS)
def test_authors_tensors_through_the_pairs_path(dataset, reference_dir, pairs_path):
    """The authors' reference labels have every class present (so GroupDNet.encode takes the full
    path there): forced through the pairs' path, the encoder still reproduces their mu and logvar."""
    io = load_io(reference_dir, dataset)
    net = smis.load_official(reference_dir / dataset, dataset=dataset)
    with torch.no_grad():
        mu, logvar = net.encode(io["image"], io["label"].long())
    torch.testing.assert_close(mu, io["mu"], rtol=1e-5, atol=1e-5 * float(io["mu"].abs().max()))
    torch.testing.assert_close(logvar, io["logvar"], rtol=1e-5, atol=1e-5 * float(io["logvar"].abs().max()))


def blocky_scene(C: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 128x128 image of random pixels over a label map of random classes in 16x16 blocks."""
    label = torch.randint(0, C, (1, 1, 8, 8)).repeat_interleave(16, 2).repeat_interleave(16, 3)
    return torch.rand(1, 3, 128, 128) * 2 - 1, label


def test_a_class_crop_scaled_by_a_positive_factor_gets_the_same_code():
    """The authors' encoder (bias-free convs, instance norm, LeakyReLU) is positively homogeneous
    up to its heads and instance norm divides the scale out: scaling one class's pixels by 0.5
    leaves that class's code unchanged (to instance norm's eps) and every other class's exactly,
    while negating them changes it. The shipped model's card (docs/design-notes.md) cites this limit."""
    torch.manual_seed(0)
    encoder = GroupEncoder(num_classes=4, width=16).eval()
    image, label = blocky_scene(4)
    mu, _ = encoder.encode_present(image, label)
    codes = mu.view(1, 4, 8, 2, 2)
    for factor, same in [(0.5, True), (-1.0, False)]:
        scaled = torch.where(label == 2, factor * image, image)
        other = encoder.encode_present(scaled, label)[0].view(1, 4, 8, 2, 2)
        assert torch.equal(other[:, [0, 1, 3]], codes[:, [0, 1, 3]])
        assert torch.allclose(other[:, 2], codes[:, 2], rtol=1e-3, atol=1e-4) == same


def test_the_mean_colour_path_sees_a_scaled_crop():
    """With encoder_mean_colour the same halving changes that class's code (by the path's
    term, computed here by hand from the halved mean colour), and no other class's."""
    torch.manual_seed(0)
    plain = GroupEncoder(num_classes=4, width=16).eval()
    encoder = GroupEncoder(num_classes=4, width=16, mean_colour=True).eval()
    encoder.load_state_dict(plain.state_dict(), strict=False)
    image, label = blocky_scene(4)
    # starting at zero, the path changes nothing: a network trained without it computes the same
    assert torch.equal(encoder.encode_present(image, label)[0], plain.encode_present(image, label)[0])
    encoder.mean_colour_to_mu.data.normal_()
    scaled = torch.where(label == 2, 0.5 * image, image)
    mu = encoder.encode_present(image, label)[0].view(1, 4, 8, 2, 2)
    other = encoder.encode_present(scaled, label)[0].view(1, 4, 8, 2, 2)
    assert torch.equal(other[:, [0, 1, 3]], mu[:, [0, 1, 3]])
    half_mean = -0.5 * image[0][:, label[0, 0] == 2].mean(1)    # the mean colour's change
    expected = encoder_module.MEAN_COLOUR_GAIN * encoder.mean_colour_to_mu[2].detach() @ half_mean
    torch.testing.assert_close((other - mu)[0, 2], expected[:, None, None].expand(8, 2, 2),
                               rtol=1e-3, atol=1e-3)
