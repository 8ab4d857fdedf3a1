"""Two other ways to compute a grouped convolution, equal to `F.conv2d(..., groups=g)` up to float
round-off: GroupDNet is hundreds of grouped convs (the generator's blocks and conditional norms),
and a library's grouped kernels can be far slower than its dense ones. They are measured against
the library's own in `python -m smis.benchmarks.grouped_conv`; the networks use F.conv2d.

    grouped_conv_dense   one dense conv with the block-diagonal weight: g times the multiply-adds,
                         on the library's fastest path
    grouped_conv_bmm     im2col (unfold) and one batched matmul over the groups
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def block_diagonal(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """A grouped conv's weight (Cout, Cin/g, k, k) -> the dense (Cout, Cin, k, k) weight that is
    zero outside the g diagonal blocks (output group i reads input group i only)."""
    cout, cin_g, kh, kw = weight.shape
    dense = weight.new_zeros(cout, cin_g * groups, kh, kw)
    cout_g = cout // groups
    for i in range(groups):
        dense[i * cout_g:(i + 1) * cout_g, i * cin_g:(i + 1) * cin_g] = weight[i * cout_g:(i + 1) * cout_g]
    return dense


def grouped_conv_dense(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int,
                       padding: int) -> torch.Tensor:
    """x (B, Cin, H, W), weight (Cout, Cin/g, k, k) -> F.conv2d(x, weight, bias, padding=padding,
    groups=groups), computed as one dense conv with the block-diagonal weight."""
    return F.conv2d(x, block_diagonal(weight, groups), bias, padding=padding)


def grouped_conv_bmm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int,
                     padding: int) -> torch.Tensor:
    """The same grouped conv (stride 1) as unfold + one batched matmul over the groups."""
    B, cin, H, W = x.shape
    cout, cin_g, kh, kw = weight.shape
    out_h, out_w = H + 2 * padding - kh + 1, W + 2 * padding - kw + 1
    cols = F.unfold(x, (kh, kw), padding=padding)                           # (B, Cin*k*k, L)
    cols = cols.view(B, groups, cin_g * kh * kw, out_h * out_w)              # (B, g, Cin/g*k*k, L)
    w = weight.view(groups, cout // groups, cin_g * kh * kw)                  # (g, Cout/g, Cin/g*k*k)
    out = torch.matmul(w, cols).view(B, cout, out_h, out_w)                   # (B, Cout, H', W')
    return out if bias is None else out + bias.view(1, -1, 1, 1)


IMPLEMENTATIONS = {"grouped": lambda x, w, b, g, p: F.conv2d(x, w, b, padding=p, groups=g),
                   "dense": grouped_conv_dense, "bmm": grouped_conv_bmm}
