"""The grouped-convolution alternatives compute the library's grouped conv (float64, to round-off),
with gradients, on the shapes GroupDNet uses (benchmarks: smis.benchmarks.grouped_conv)."""

import pytest
import torch
import torch.nn.functional as F

from smis.networks.grouped import IMPLEMENTATIONS, block_diagonal


@pytest.mark.parametrize("impl", ["dense", "bmm"])
@pytest.mark.parametrize("cin, cout, kernel, groups",
                         [(16, 32, 3, 8), (24, 24, 3, 3), (8, 16, 1, 4), (6, 6, 3, 1)])
def test_alternatives_equal_the_grouped_conv_and_its_gradients(impl, cin, cout, kernel, groups):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, cin, 5, 7, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(cout, cin // groups, kernel, kernel, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(cout, dtype=torch.float64, generator=g, requires_grad=True)
    pad = kernel // 2
    expected = F.conv2d(x, w, b, padding=pad, groups=groups)
    grads = torch.autograd.grad(expected.square().sum(), (x, w, b))
    out = IMPLEMENTATIONS[impl](x, w, b, groups, pad)
    assert out.shape == expected.shape and torch.allclose(out, expected, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(torch.autograd.grad(out.square().sum(), (x, w, b)), grads):
        assert torch.allclose(ours, theirs, rtol=1e-10, atol=1e-10)


def test_the_block_diagonal_weight_is_zero_off_its_blocks():
    w = torch.arange(1.0, 1 + 4 * 2 * 1 * 1).view(4, 2, 1, 1)        # 2 groups: Cin 4, Cout 4
    dense = block_diagonal(w, 2)[:, :, 0, 0]
    assert torch.equal(dense, torch.tensor([[1., 2, 0, 0], [3, 4, 0, 0], [0, 0, 5, 6], [0, 0, 7, 8]]))
