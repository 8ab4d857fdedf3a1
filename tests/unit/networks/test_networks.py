"""Networks at the small preset: shapes, forward and backward on CPU, inputs, per-class codes."""

import pytest
import torch

from smis.losses import feature_matching_loss, generator_adv_loss, hinge_d_loss, kl_divergence
from smis.networks import GroupDNet, instance_edges, one_hot, preset
from smis.networks.normalization import CondGroupNorm


@pytest.fixture
def net():
    return GroupDNet(preset("small", num_classes=8))


def batch(B=2, H=64, W=64, C=8):
    label = torch.randint(0, C, (B, 1, H, W))
    return torch.rand(B, 3, H, W) * 2 - 1, label


def test_forward_backward_every_network(net):
    image, label = batch(H=64, W=128)
    mu, logvar = net.encode(image, label)
    assert mu.shape == logvar.shape == (2, 64, 1, 2)
    fake = net.decode(label, net.reparameterize(mu, logvar))
    assert fake.shape == image.shape and fake.abs().max() <= 1
    fake_feats = net.discriminator_features(label, fake)
    real_feats = net.discriminator_features(label, image)
    loss = (generator_adv_loss(fake_feats) + feature_matching_loss(fake_feats, real_feats)
            + 0.05 * kl_divergence(mu, logvar)
            + hinge_d_loss(real_feats, real=True))
    loss.backward()
    for part in (net.generator, net.encoder, net.discriminator):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_init_follows_the_authors(net):
    w = net.generator.up_0.conv_0.weight_orig
    fan_in, fan_out = w.shape[1] * 9, w.shape[0] * 9
    assert w.std().item() == pytest.approx(0.02 * (2 / (fan_in + fan_out)) ** 0.5, rel=0.1)
    assert not net.generator.fc.bias.any()


def test_encoder_keeps_classes_apart(net):
    """Grouped convs: changing the pixels of one class only changes that class's code."""
    image, label = batch(B=1, W=128)
    label[:] = 0
    label[..., :32, :32] = 3
    net.eval()
    mu0, _ = net.encode(image, label)
    image2 = image.clone()
    image2[..., :32, :32] = torch.rand(3, 32, 32)                  # repaint class 3 only
    mu1, _ = net.encode(image2, label)
    changed = (mu0 - mu1).abs().flatten(2).amax(-1)[0] > 0       # per latent channel
    assert changed[24:32].all() and not changed[:24].any() and not changed[32:].any()


def test_latent_grid(net):
    z = net.sample_z(1, 64, 64)
    assert z.shape == (1, 64, 1, 1)
    with pytest.raises(ValueError, match="100x64: GroupDNet needs both sides to be multiples of 64"):
        net.sample_z(1, 100, 64)
    with pytest.raises(ValueError, match="at least 64x128"):
        net.encode(*batch(B=1))


def test_decode_checks_the_code_against_the_label_map(net):
    label = torch.zeros(2, 1, 128, 256, dtype=torch.int64)
    assert net.decode(label, net.sample_z(2, 128, 256)).shape == (2, 3, 128, 256)
    # a 64x64 code for a 128x256 label map once gave a 64x64 image without a word
    with pytest.raises(ValueError, match=r"z has shape \(2, 64, 1, 1\) but a \(2, 1, 128, 256\) label map "
                                         r"needs \(2, 64, 2, 4\): 8 channels per class for 8 classes"):
        net.decode(label, net.sample_z(2, 64, 64))
    with pytest.raises(ValueError, match=r"z has shape \(2, 56, 2, 4\)"):
        net.decode(label, torch.zeros(2, 56, 2, 4))
    with pytest.raises(ValueError, match=r"z has shape \(1, 64, 2, 4\)"):
        net.decode(label, torch.zeros(1, 64, 2, 4))


def test_bad_labels_get_clear_errors(net):
    image, label = batch()
    with pytest.raises(ValueError, match=r"\[0, 7\].*found values in \[0, 8\]"):
        label[0, 0, 0, 0] = 8
        net.decode(label, net.sample_z(2, 64, 64))
    with pytest.raises(ValueError, match=r"found values in \[-1, 7\]"):
        label[0, 0, 0, 0] = -1
        net.encode(*batch(W=128)[:1], label.repeat(1, 1, 1, 2))
    with pytest.raises(ValueError, match="shape \\(B,1,H,W\\)"):
        one_hot(torch.zeros(2, 64, 64, dtype=torch.int64), 8)


def test_instance_edges_by_hand():
    inst = torch.tensor([[1, 1, 2],
                         [1, 1, 2],
                         [3, 3, 3]]).view(1, 1, 3, 3)
    expected = torch.tensor([[0, 1, 1],
                             [1, 1, 1],
                             [1, 1, 1]], dtype=torch.float32).view(1, 1, 3, 3)
    assert torch.equal(instance_edges(inst), expected)


def test_cityscapes_interleaves_edges_with_every_class():
    cfg = preset("cityscapes", num_classes=4, ngf=4, encoder_width=8, ndf=8)
    from dataclasses import replace
    cfg = replace(cfg, group_schedule=(4, 4, 4, 4, 2, 2, 1))
    net = GroupDNet(cfg)
    label = torch.tensor([0, 1, 2, 3]).view(1, 1, 2, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    x = net.label_input(label, torch.zeros_like(label) + label)    # 5 channels: one-hot + edges
    seg = net.generator.norm_input(x)                              # (1, 8, 4, 4)
    assert seg.shape == (1, 8, 4, 4)
    for c in range(4):
        assert torch.equal(seg[0, 2 * c], x[0, c]) and torch.equal(seg[0, 2 * c + 1], x[0, 4])


@pytest.mark.parametrize("rule,hidden,shared,param", [
    ("fixed128", 128, 4, 4), ("per_class", 8 * 4, 8, 8), ("ade20k", 8 * 2, 8, 4),
])
def test_norm_rules(rule, hidden, shared, param):
    """docs/model.md §5 table: hidden width and group counts for C=8 classes, block groups g=4."""
    norm = CondGroupNorm(64, 8, num_classes=8, groups=4, rule=rule)
    conv = norm.mlp_shared[0]
    assert (conv.out_channels, conv.groups, norm.mlp_gamma.groups) == (hidden, shared, param)


def test_indivisible_widths_are_reported():
    with pytest.raises(ValueError, match="cannot be split into 3 groups"):
        GroupDNet(preset("small", num_classes=3))
