"""How varied the sampled looks are next to the data's own, per class, with no weight file.

A class's look in one image is four numbers: its mean colour (R, G, B) and its texture, the mean
absolute Laplacian inside its region (pixels whose 3x3 window is all that class). Over the real
validation images that show the class, and over images decoded from prior draws:

- ratio: the spread (standard deviation) of the sampled colours over the real colours' spread,
  the mean over R, G and B (1: as varied as the data; 0: one look whatever the code);
- texture_ratio: the same for the texture (apart: a class the data paints flat, such as a clear
  sky, has almost no texture spread to compare with);
- coverage: the share of sampled colours inside the real colours' range (R, G and B each between
  the real minimum and maximum);
- bias: the distance between the mean sampled colour and the mean real colour (RGB, images in
  [-1, 1]).

Per class (classes with at least 2 real and 2 sampled looks), then the mean over classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

STATS = ("r", "g", "b", "texture")
MIN_SPREAD = 1e-6          # a number the real images do not vary is left out of the ratio


def class_looks(images: torch.Tensor, label: torch.Tensor, num_classes: int,
                min_area: float = 0.01) -> dict[int, torch.Tensor]:
    """images (B,3,H,W) in [-1,1], label (B,1,H,W) -> {class: (n, 4) looks} for every image where
    the class covers at least `min_area` of the pixels."""
    images = images.detach().float().cpu()
    label = label.cpu()
    gray = images.mean(1, keepdim=True)                                              # (B,1,H,W)
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    detail = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), kernel).abs()     # (B,1,H,W)
    looks: dict[int, list[torch.Tensor]] = {}
    for c in range(num_classes):
        mask = (label == c).float()                                                  # (B,1,H,W)
        area = mask.mean((1, 2, 3))                                                  # (B,)
        inner = -F.max_pool2d(-mask, 3, stride=1, padding=1)                         # whole 3x3 window
        for i in torch.nonzero(area >= min_area).flatten().tolist():
            n = mask[i].sum()
            colour = (images[i] * mask[i]).sum((1, 2)) / n                           # (3,)
            m = inner[i].sum()
            texture = (detail[i] * inner[i]).sum() / m if m > 0 else torch.tensor(0.0)
            looks.setdefault(c, []).append(torch.cat([colour, texture.view(1)]))
    return {c: torch.stack(v) for c, v in looks.items()}


class LookSpread:
    """Real and sampled looks, added batch by batch; `summary` compares them (module docstring)."""

    def __init__(self, num_classes: int, min_area: float = 0.01):
        self.num_classes, self.min_area = num_classes, min_area
        self.real: dict[int, list[torch.Tensor]] = {}
        self.sampled: dict[int, list[torch.Tensor]] = {}

    def _add(self, into: dict, images: torch.Tensor, label: torch.Tensor) -> None:
        for c, looks in class_looks(images, label, self.num_classes, self.min_area).items():
            into.setdefault(c, []).append(looks)

    def add_real(self, images: torch.Tensor, label: torch.Tensor) -> None:
        self._add(self.real, images, label)

    def add_sampled(self, images: torch.Tensor, label: torch.Tensor) -> None:
        self._add(self.sampled, images, label)

    def summary(self, names=None) -> dict:
        """{"per_class": {name: {"ratio", "texture_ratio", "coverage", "bias", "real", "sampled"}},
        "ratio", "texture_ratio", "coverage", "bias"}; NaN where no class has enough looks."""
        per_class = {}
        for c in sorted(set(self.real) & set(self.sampled)):
            real, sampled = torch.cat(self.real[c]).double(), torch.cat(self.sampled[c]).double()
            if len(real) < 2 or len(sampled) < 2:
                continue
            spread, sampled_spread = real.std(0), sampled.std(0)                    # (4,)
            varied = spread > MIN_SPREAD
            colour = varied[:3]
            ratio = (float((sampled_spread[:3][colour] / spread[:3][colour]).mean()) if colour.any()
                     else math.nan)
            texture = float(sampled_spread[3] / spread[3]) if varied[3] else math.nan
            low, high = real[:, :3].min(0).values, real[:, :3].max(0).values
            inside = ((sampled[:, :3] >= low - 1e-9) & (sampled[:, :3] <= high + 1e-9)).all(1)
            name = names[c] if names is not None else c
            per_class[name] = {"ratio": ratio, "texture_ratio": texture,
                               "coverage": float(inside.double().mean()),
                               "bias": float((sampled[:, :3].mean(0) - real[:, :3].mean(0)).norm()),
                               "real": len(real), "sampled": len(sampled)}

        def mean(key: str) -> float:
            values = [v[key] for v in per_class.values() if not math.isnan(v[key])]
            return sum(values) / len(values) if values else math.nan

        return {"per_class": per_class, "ratio": mean("ratio"), "texture_ratio": mean("texture_ratio"),
                "coverage": mean("coverage"), "bias": mean("bias")}
