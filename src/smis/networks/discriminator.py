"""SPADE's multi-scale PatchGAN discriminator (docs/model.md §6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import sn_conv


class PatchDiscriminator(nn.Module):
    """(B, in_channels, H, W) -> list of every layer's output; the last is the (B,1,h,w) logits.

    Layer widths ndf, 2ndf, 4ndf, 8ndf (capped at 512); 4x4 kernels, padding 2; the last two
    convs have stride 1. Keys follow the authors' layout (modelN.0[.0]).
    """

    def __init__(self, in_channels: int, ndf: int = 64, num_layers: int = 4):
        super().__init__()
        self.model0 = nn.Sequential(nn.Conv2d(in_channels, ndf, 4, stride=2, padding=2),
                                    nn.LeakyReLU(0.2))
        nf = ndf
        for n in range(1, num_layers):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == num_layers - 1 else 2
            conv = sn_conv(nf_prev, nf, 4, stride=stride, padding=2, bias=False)
            block = nn.Sequential(nn.Sequential(conv, nn.InstanceNorm2d(nf, affine=False)),
                                  nn.LeakyReLU(0.2))
            self.add_module(f"model{n}", block)
        self.add_module(f"model{num_layers}", nn.Sequential(nn.Conv2d(nf, 1, 4, padding=2)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for layer in self.children():
            x = layer(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """Independent PatchGANs on the input and on 2x, 4x... average-pooled copies.

    (B, in_channels, H, W) -> one feature list per scale (see PatchDiscriminator).
    """

    def __init__(self, in_channels: int, ndf: int = 64, num_scales: int = 2, num_layers: int = 4):
        super().__init__()
        for i in range(num_scales):
            self.add_module(f"discriminator_{i}", PatchDiscriminator(in_channels, ndf, num_layers))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, disc in enumerate(self.children()):
            if i > 0:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(disc(x))
        return outputs
