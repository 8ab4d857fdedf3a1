"""VGG19 features for the perceptual loss (torchvision's architecture, local weights only)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import nn

# torchvision's ImageNet VGG19 file (VGG19_Weights.IMAGENET1K_V1), as the torch hub caches it
VGG19_FILE = "vgg19-dcbb9e9d.pth"
# features[:2], [2:7], [7:12], [12:21], [21:30] end at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))


def default_vgg19_path() -> Path:
    """Where torchvision would cache the VGG19 weights: $TORCH_HOME/hub/checkpoints/."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


class VGG19Features(nn.Module):
    """image (B,3,H,W) -> [relu1_1, relu2_1, relu3_1, relu4_1, relu5_1] feature maps. Frozen.

    weights: a path to torchvision's vgg19 state_dict; None looks in the torch hub cache;
      "random" keeps random weights (tests only).
    """

    def __init__(self, weights: str | os.PathLike | None = None):
        super().__init__()
        vgg = torchvision.models.vgg19(weights=None)
        if weights != "random":
            path = Path(weights) if weights is not None else default_vgg19_path()
            if not path.is_file():
                raise FileNotFoundError(
                    f"VGG19 weights not found at {path}. The perceptual loss needs torchvision's "
                    f"ImageNet VGG19 file {VGG19_FILE}: copy it there (it is what "
                    "torchvision.models.vgg19(weights='IMAGENET1K_V1') downloads), set "
                    "loss.vgg_weights=PATH to where you keep it, or train without the VGG term: "
                    "loss=no_vgg")
            state = torch.load(path, map_location="cpu", weights_only=True)
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
