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
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(seg_channels, hidden, 3, padding=1, groups=shared_groups), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1, groups=param_groups)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1, groups=param_groups)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        h = self.mlp_shared(seg)
        return self.param_free_norm(x) * (1 + self.mlp_gamma(h)) + self.mlp_beta(h)
