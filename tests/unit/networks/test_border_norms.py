"""The conditional norms' border path (networks/borders.py) computes what the dense convs
compute: checked in float64 against torch's own convs, values and gradients."""

import pytest
import torch
import torch.nn.functional as F

from smis.data.synthetic import voronoi_labels as scene
from smis.networks.borders import LabelWindows, border_modulation, unique_rows
from smis.networks.normalization import CondGroupNorm, LabelMaps, is_one_hot


def random_norm(channels, classes, groups, rule="fixed128", seed=0):
    """A norm in float64 with every weight and bias drawn (biases too, so that the hidden ReLU
    is both on and off and every bias's place in the sum is checked)."""
    torch.manual_seed(seed)
    norm = CondGroupNorm(channels, classes, classes, groups, rule).double()
    for p in norm.parameters():
        torch.nn.init.normal_(p, 0.0, 0.1)
    return norm


def label_maps(kind, batch, classes, height, width):
    if kind == "voronoi":
        return scene(batch, classes, height, width)[0][:, 0]
    if kind == "one class":                        # borders only along the image's edge
        return torch.full((batch, height, width), classes - 1)
    g = torch.Generator().manual_seed(1)           # every pixel its own neighbourhood
    return torch.randint(classes, (batch, height, width), generator=g)


@pytest.mark.parametrize("kind", ["voronoi", "one class", "noise"])
@pytest.mark.parametrize("channels,classes,groups,rule,size", [
    (16, 8, 1, "fixed128", (24, 40)),
    (8, 8, 2, "fixed32", (17, 9)),                  # grouped convs, odd sizes
    (6, 3, 1, "fixed32", (1, 12)),                  # a one-pixel-high map
    (12, 4, 4, "fixed64", (8, 8)),
])
def test_border_modulation_equals_the_dense_convs(kind, channels, classes, groups, rule, size):
    norm = random_norm(channels, classes, groups, rule)
    labels = label_maps(kind, 2, classes, *size)
    one_hot = F.one_hot(labels, classes).permute(0, 3, 1, 2).double()
    hidden = norm.mlp_shared(one_hot)
    dense = torch.cat([norm.mlp_gamma(hidden), norm.mlp_beta(hidden)], 1)     # (B, 2ch, H, W)
    dense = dense.permute(0, 2, 3, 1).reshape(-1, 2 * channels)
    rows = border_modulation(norm.mlp_shared[0], [norm.mlp_gamma, norm.mlp_beta],
                             LabelWindows(labels, classes))
    torch.testing.assert_close(rows, dense, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(dense)
    params = list(norm.parameters())
    expected = torch.autograd.grad((dense * weights).sum(), params)
    got = torch.autograd.grad((rows * weights).sum(), params)
    for name, a, b in zip([n for n, _ in norm.named_parameters()], got, expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)


def test_norm_takes_the_border_path_with_the_same_result():
    """The whole norm (batch norm, modulation) through the border path and through the dense
    convs: the same output and gradients, and the border path really ran."""
    norm = random_norm(16, 8, 1)
    labels = label_maps("voronoi", 4, 8, 48, 64)
    one_hot = F.one_hot(labels, 8).permute(0, 3, 1, 2).double()
    x = torch.randn(4, 16, 48, 64, dtype=torch.float64, requires_grad=True)
    maps = LabelMaps(one_hot, one_hot=True)
    assert norm.border_windows(x, maps) is not None
    results = []
    for border in (True, False):
        norm.border_path = border
        out = norm(x, maps)
        results.append((out, torch.autograd.grad(out.square().sum(), [x, *norm.parameters()])))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_label_maps_use_the_border_path_only_where_it_pays():
    voronoi = F.one_hot(label_maps("voronoi", 8, 8, 64, 128), 8).permute(0, 3, 1, 2).float()
    maps = LabelMaps(voronoi, one_hot=True)
    windows = maps.windows((64, 128))
    assert windows is not None and 8 * len(windows.patterns) <= 8 * 64 * 128
    assert maps.windows((16, 16)) is None                          # under 1,024 pixels
    assert LabelMaps(voronoi, one_hot=False).windows((64, 128)) is None
    assert LabelMaps(voronoi * 0.5, one_hot=True).windows((64, 128)) is None   # checked, not one-hot
    noise = F.one_hot(label_maps("noise", 2, 8, 32, 32), 8).permute(0, 3, 1, 2).float()
    assert LabelMaps(noise, one_hot=True).windows((32, 32)) is None   # a window per pixel
    # nearest resizing: the windows' labels are those of the resized one-hot map
    small = maps.windows((32, 64))
    assert torch.equal(small.labels, maps.resized((32, 64)).argmax(1).flatten())


def test_is_one_hot():
    one_hot = F.one_hot(label_maps("voronoi", 2, 5, 8, 8), 5).permute(0, 3, 1, 2).float()
    assert is_one_hot(one_hot)
    assert not is_one_hot(torch.cat([one_hot, torch.ones_like(one_hot[:, :1])], 1))  # + edge map
    assert not is_one_hot(one_hot * 0.5)
    assert not is_one_hot(torch.zeros_like(one_hot))


@pytest.mark.parametrize("base", [9, 200])     # 200**9 > 2**63: the row-wise unique
def test_unique_rows(base):
    g = torch.Generator().manual_seed(0)
    rows = torch.randint(3, (500, 9), generator=g) * (base // 3)
    patterns, index = unique_rows(rows, base)
    expected = torch.unique(rows, dim=0)
    assert torch.equal(patterns, expected)
    assert torch.equal(patterns[index], rows)


def test_border_path_is_deterministic():
    """Bit for bit the same gradients twice (exact resume depends on it; an indexing backward,
    which accumulates in a varying order on a CPU, broke it)."""
    norm = CondGroupNorm(16, 8, 8, 1)
    labels = label_maps("voronoi", 8, 8, 64, 128)
    one_hot = F.one_hot(labels, 8).permute(0, 3, 1, 2).float()
    x = torch.randn(8, 16, 64, 128)
    grads = []
    for _ in range(3):
        out = norm(x, LabelMaps(one_hot, one_hot=True))
        grads.append(torch.autograd.grad(out.square().sum(), list(norm.parameters())))
    for other in grads[1:]:
        assert all(torch.equal(a, b) for a, b in zip(grads[0], other))
