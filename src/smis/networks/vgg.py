"""VGG19 features for the perceptual loss (torchvision's architecture and ImageNet weights, fetched
into the torch hub cache on first use: smis.weights)."""

from __future__ import annotations

import os

import torch
import torchvision
from torch import nn

from ..weights import entry, load_state_dict, weight_file

# torchvision's ImageNet VGG19 file (VGG19_Weights.IMAGENET1K_V1), as the torch hub caches it
VGG19_FILE = entry("vgg19").filename
# features[:2], [2:7], [7:12], [12:21], [21:30] end at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))


class VGG19Features(nn.Module):
    """image (B,3,H,W) -> [relu1_1, relu2_1, relu3_1, relu4_1, relu5_1] feature maps. Frozen.

    weights: a path to torchvision's vgg19 state_dict; None: the torch hub cache's copy, downloaded
      and checked on first use (smis.weights); "random" keeps random weights (tests only).
    """

    def __init__(self, weights: str | os.PathLike | None = None):
        super().__init__()
        vgg = torchvision.models.vgg19(weights=None)
        if weights != "random":
            path = weight_file("vgg19", weights, "loss.vgg_weights")
            state = load_state_dict(path, "VGG19 (perceptual loss)")
            try:
                vgg.load_state_dict(state)
            except RuntimeError as e:
                raise ValueError(f"{path} is not a torchvision VGG19 state_dict: {e}") from e
        self.slices = nn.ModuleList(nn.Sequential(*vgg.features[a:b]) for a, b in SLICES)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)     # frozen feature extractor: always eval

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for s in self.slices:
            x = s(x)
            feats.append(x)
        return feats
