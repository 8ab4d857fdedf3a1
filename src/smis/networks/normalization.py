"""Conditional group normalisation: the authors' GROUP_SPADE (SPEC §5).

out = BN(x) * (1 + gamma(seg)) + beta(seg), with BN parameter-free (synchronised under DDP)
and gamma, beta predicted from the label map by grouped convs, so that groups of classes
modulate groups of feature channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import check_groups

# How the hidden width and the two conv group counts follow from (C classes, g block groups).
# The authors use a different rule per dataset; here they are named options of one module.
NORM_RULES = {
    # name: (hidden width, groups of the shared conv, groups of the gamma/beta convs)
    "fixed128": lambda C, g: (128, g, g),                                   # DeepFashion
    "fixed64": lambda C, g: (64, g, g),         # not the authors': narrower, for fast CPU decoding
    "fixed32": lambda C, g: (32, g, g),         # not the authors': narrower, for fast CPU decoding
    "per_class": lambda C, g: (C * g, C, C),                                # Cityscapes
    "ade20k": lambda C, g: (2 * C if C % g == 0 else C * g, C, g),          # ADE20K
}


class CondGroupNorm(nn.Module):
    """x (B, channels, h, w), seg (B, seg_channels, H, W) float -> (B, channels, h, w).

    seg_channels is C, or 2C when every class channel is followed by the instance-edge map
    (Cityscapes).
    """

    def __init__(self, channels: int, seg_channels: int, num_classes: int, groups: int,
                 rule: str = "fixed128"):
        super().__init__()
        if rule not in NORM_RULES:
            raise ValueError(f"unknown norm rule {rule!r}; expected one of {sorted(NORM_RULES)}")
        hidden, shared_groups, param_groups = NORM_RULES[rule](num_classes, groups)
        for what, n, g in [("label input", seg_channels, shared_groups), ("hidden", hidden, shared_groups),
                           ("hidden", hidden, param_groups), ("output", channels, param_groups)]:
            check_groups(f"CondGroupNorm({rule}, C={num_classes}, g={groups}) {what}", n, g)
        self.param_free_norm = nn.BatchNorm2d(channels, affine=False)
        self.mlp_shared = nn.Sequential(   # in-place ReLU: the conv's output is not needed again
            nn.Conv2d(seg_channels, hidden, 3, padding=1, groups=shared_groups), nn.ReLU(inplace=True))
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1, groups=param_groups)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1, groups=param_groups)

    def modulation(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, hidden, h, w) -> gamma, beta (B, channels, h, w): mlp_gamma(h), mlp_beta(h) as
        one conv with both weights (each output channel is computed as by its own conv, so the
        values are the same to float round-off; on a CPU one wider conv is faster than two)."""
        g = self.mlp_gamma.groups
        weight = torch.stack([self.mlp_gamma.weight.unflatten(0, (g, -1)),
                              self.mlp_beta.weight.unflatten(0, (g, -1))], 1).flatten(0, 2)
        bias = torch.stack([self.mlp_gamma.bias.view(g, -1), self.mlp_beta.bias.view(g, -1)], 1).flatten()
        out = F.conv2d(h, weight, bias, padding=self.mlp_gamma.padding, groups=g)  # (B, 2*channels, h, w)
        out = out.unflatten(1, (g, 2, -1))          # per group: its gamma channels, then its beta channels
        return out[:, :, 0].flatten(1, 2), out[:, :, 1].flatten(1, 2)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        gamma, beta = self.modulation(self.mlp_shared(seg))
        return self.param_free_norm(x) * (1 + gamma) + beta
