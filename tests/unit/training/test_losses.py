"""Losses against values computed by hand on tiny tensors."""

import math

import pytest
import torch
import torchvision

from smis.losses import (
    VGGLoss,
    feature_matching_loss,
    generator_adv_loss,
    hinge_d_loss,
    isolation_loss,
    kl_divergence,
)
from smis.networks.vgg import VGG19_FILE, VGG19Features

# two discriminator scales; the last entry of each list is the logits
LOGITS = [torch.tensor([[2.0, -0.5]]), torch.tensor([0.5])]


def test_hinge_discriminator_loss():
    # real: scale 1 mean(relu(1-2), relu(1+0.5)) = 0.75; scale 2 relu(0.5) = 0.5 -> 0.625
    assert hinge_d_loss(LOGITS, real=True).item() == pytest.approx(0.625)
    # fake: scale 1 mean(relu(3), relu(0.5)) = 1.75; scale 2 relu(1.5) = 1.5 -> 1.625
    assert hinge_d_loss(LOGITS, real=False).item() == pytest.approx(1.625)
    # feature lists are accepted too: only the last entry counts
    feats = [[torch.full((1, 3), 9.0), LOGITS[0]], [LOGITS[1]]]
    assert hinge_d_loss(feats, real=True).item() == pytest.approx(0.625)


def test_generator_adversarial_loss():
    # -(mean(2, -0.5) + 0.5) / 2 = -(0.75 + 0.5) / 2
    assert generator_adv_loss(LOGITS).item() == pytest.approx(-0.625)


def test_feature_matching_loss():
    fake = [[torch.tensor([1.0, 2.0]), torch.tensor([0.0]), torch.tensor([7.0])],
            [torch.tensor([3.0]), torch.tensor([5.0])]]
    real = [[torch.tensor([0.0, 0.0]), torch.tensor([2.0]), torch.tensor([-7.0])],
            [torch.tensor([1.0]), torch.tensor([0.0])]]
    # scale 1: L1 1.5 + 2.0 (logits ignored); scale 2: 2.0 -> (3.5 + 2.0) / 2 scales
    assert feature_matching_loss(fake, real).item() == pytest.approx(2.75)


def test_feature_matching_does_not_train_the_real_branch():
    real = [[torch.ones(2, requires_grad=True), torch.zeros(1)]]
    fake = [[torch.zeros(2, requires_grad=True), torch.zeros(1)]]
    feature_matching_loss(fake, real).backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None


def test_kl_divergence_is_a_sum():
    mu = torch.tensor([1.0, 0.0])
    logvar = torch.tensor([0.0, math.log(2.0)])
    # -0.5 * [(1 + 0 - 1 - 1) + (1 + ln2 - 0 - 2)] = 1 - ln2 / 2
    assert kl_divergence(mu, logvar).item() == pytest.approx(1 - math.log(2) / 2)
    assert kl_divergence(torch.zeros(5), torch.zeros(5)).item() == 0.0


def test_kl_image_mean_does_not_grow_with_the_batch():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(2.0)]])
    one = kl_divergence(mu, logvar, "image_mean")
    assert one.item() == pytest.approx(1 - math.log(2) / 2)
    four = mu.repeat(4, 1), logvar.repeat(4, 1)
    assert kl_divergence(*four, "image_mean").item() == pytest.approx(one.item())
    assert kl_divergence(*four).item() == pytest.approx(4 * one.item())
    with pytest.raises(ValueError, match="kld_reduction"):
        kl_divergence(mu, logvar, "mean")


def test_isolation_loss_counts_only_the_change_beyond_the_band():
    label = torch.zeros(2, 1, 8, 10, dtype=torch.long)
    label[:, :, :, 5:] = 1                                    # class 0 left half, class 1 right half
    fake = torch.zeros(2, 3, 8, 10)
    redrawn = fake.clone()
    redrawn[:, :, :, :6] = 0.5                                # class 0 and the first column of class 1 change
    classes = torch.tensor([0, 1])
    # image 0 re-drew class 0: beyond a 1-pixel band (columns 6-9, 32 pixels) nothing changed
    # image 1 re-drew class 1: beyond the band (columns 0-3, 32 pixels) everything changed by 0.5
    loss = isolation_loss(redrawn, fake, label, classes, band=1)
    assert loss.item() == pytest.approx(0.5 * 32 / 64)
    # only the re-drawn image gets the gradient (the other is treated as fixed)
    redrawn.requires_grad_(True)
    fake.requires_grad_(True)
    isolation_loss(redrawn, fake, label, classes, band=1).backward()
    assert fake.grad is None and redrawn.grad[1, :, :, :4].abs().sum() > 0
    assert redrawn.grad[0].abs().sum() == 0


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("vgg") / VGG19_FILE
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), path)
    return path


def test_vgg_loss_matches_torchvision_features(vgg_file):
    """The five slices end at relu1_1 ... relu5_1 of torchvision's VGG19, weighted 1/32 ... 1."""
    reference = torchvision.models.vgg19(weights=None)
    reference.load_state_dict(torch.load(vgg_file, weights_only=True))
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1

    def relus(img):   # indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in vgg19.features
        out, feats = img, []
        for i, layer in enumerate(reference.features[:30]):
            out = layer(out)
            if i in (1, 6, 11, 20, 29):
                feats.append(out)
        return feats

    expected = sum(w * (a - b).abs().mean() for w, a, b in
                   zip((1 / 32, 1 / 16, 1 / 8, 1 / 4, 1), relus(x), relus(y)))
    loss = VGGLoss(weights=vgg_file)(x, y)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_vgg_is_frozen_and_imagenet_normalisation_is_an_option(vgg_file):
    loss = VGGLoss(weights=vgg_file)
    assert not any(p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.vgg.training
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert VGGLoss(vgg_file, imagenet_normalize=True)(x, y) != loss(x, y)


def test_missing_vgg_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError, match=f"(?s)hub/checkpoints.*{VGG19_FILE}"):
        VGG19Features()
    with pytest.raises(FileNotFoundError, match="elsewhere.pth"):
        VGG19Features(tmp_path / "elsewhere.pth")
