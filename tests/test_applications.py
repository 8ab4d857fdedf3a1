"""Latent-code edits (SPEC §9), checked against the channel layout: class c owns 8c ... 8c+7."""

import torch

from smis.applications import class_channels, interpolate_codes, resample_class, transfer_class


def codes(n=1, classes=3):
    return torch.randn(n, 8 * classes, 2, 2, generator=torch.Generator().manual_seed(n))


def test_resample_changes_only_that_class():
    z = codes()
    out = resample_class(z, 1, 4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 24, 2, 2)
    assert torch.equal(out[:, :8], z[:, :8].expand(4, -1, -1, -1))
    assert torch.equal(out[:, 16:], z[:, 16:].expand(4, -1, -1, -1))
    assert not torch.equal(out[0, 8:16], out[1, 8:16])
    assert class_channels(2) == slice(16, 24) and class_channels(1, per_class=4) == slice(4, 8)


def test_transfer_copies_one_class_from_the_reference():
    target, reference = codes(1), codes(2)[:1]
    out = transfer_class(target, reference, 2)
    assert torch.equal(out[:, 16:], reference[:, 16:]) and torch.equal(out[:, :16], target[:, :16])


def test_interpolation_ends_at_both_codes_and_can_keep_other_classes():
    a, b = codes(1), codes(3)[:1]
    path = interpolate_codes(a, b, 5)
    assert torch.allclose(path[0], a[0]) and torch.allclose(path[-1], b[0])
    assert torch.allclose(path[2], (a[0] + b[0]) / 2, atol=1e-6)
    one = interpolate_codes(a, b, 3, classes=[0])
    assert torch.allclose(one[-1, :8], b[0, :8]) and torch.equal(one[:, 8:], a[:, 8:].expand(3, -1, -1, -1))
