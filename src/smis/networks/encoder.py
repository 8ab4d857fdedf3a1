"""Class-wise VAE encoder (SPEC §3): grouped convs keep every class's crop in its own group."""

from __future__ import annotations

import torch
from torch import nn

from .crops import class_crops
from .layers import check_groups, lrelu, sn_conv


class GroupEncoder(nn.Module):
    """Class-wise crops (B, 3C, H, W) -> mu, logvar (B, latent_per_class*C, H/64, W/64).

    num_classes: C, the number of groups (one per semantic class).
    width: e, the first layer's width; later layers use 2e, 4e, 8e, 8e, 8e.
      Authors: 256 (DeepFashion), 350 (Cityscapes), 604 = 151*4 (ADE20K).
    num_layers: stride-2 convs; 6 for 256-pixel crops (the authors drop one below 256).
    """

    def __init__(self, num_classes: int, width: int, num_layers: int = 6, latent_per_class: int = 8):
        super().__init__()
        self.num_classes = num_classes
        widths = [3 * num_classes] + [width * m for m in (1, 2, 4, 8, 8, 8)][:num_layers]
        for i, (fin, fout) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            check_groups(f"encoder layer{i}", fout, num_classes)
            # authors' key layout: layerN.0 = spectral-normed conv without bias, then InstanceNorm
            conv = sn_conv(fin, fout, 3, stride=2, padding=1, groups=num_classes, bias=False)
            self.add_module(f"layer{i}", nn.Sequential(conv, nn.InstanceNorm2d(fout, affine=False)))
        self.num_layers = num_layers
        latent = latent_per_class * num_classes
        self.fc_mu = nn.Conv2d(widths[-1], latent, 3, padding=1, groups=num_classes)
        self.fc_var = nn.Conv2d(widths[-1], latent, 3, padding=1, groups=num_classes)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = crops                                                   # (B, 3C, H, W)
        for i in range(1, self.num_layers + 1):
            x = lrelu(getattr(self, f"layer{i}")(x))                # (B, 8e, H/64, W/64) at the end
        return self.fc_mu(x), self.fc_var(x)

    def encode(self, image: torch.Tensor, label: torch.Tensor):
        """image (B,3,H,W) in [-1,1], label (B,1,H,W) int64 ids -> mu, logvar."""
        return self(class_crops(image, label, self.num_classes))
