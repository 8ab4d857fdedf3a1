"""Conditional group normalisation: the authors' GROUP_SPADE (docs/model.md §5).

out = BN(x) * (1 + gamma(seg)) + beta(seg), with BN parameter-free (synchronised under DDP)
and gamma, beta predicted from the label map by grouped convs, so that groups of classes
modulate groups of feature channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .borders import LabelWindows, border_modulation
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


class LabelMaps:
    """The conditional norms' label input at every resolution they ask for, resized once per
    generator pass (every norm of a block reads the same map), and, for a one-hot map, its 3x3
    windows (`LabelWindows`, for `border_modulation`).

    seg (B, seg_channels, H, W); one_hot: seg should be a one-hot label map (one class per
    pixel, no instance-edge channels). That is checked the first time the windows are asked
    for, so a pass that never needs them (a GPU, autocast, the dense convs) never reads the map.
    """

    def __init__(self, seg: torch.Tensor, one_hot: bool):
        self.full, self.one_hot = seg, one_hot
        self._ids: torch.Tensor | None = None                        # (B, 1, H, W) class ids
        self._resized: dict[tuple[int, int], torch.Tensor] = {}
        self._windows: dict[tuple[int, int], LabelWindows] = {}

    def resized(self, size: tuple[int, int]) -> torch.Tensor:
        if size not in self._resized:
            self._resized[size] = F.interpolate(self.full, size=size, mode="nearest")
        return self._resized[size]

    def class_ids(self) -> torch.Tensor | None:
        """(B, 1, H, W) float class ids of a one-hot map (exact: one 1 per pixel), or None when
        the map is not one-hot. Checked and computed once."""
        if self.one_hot and self._ids is None:
            self.one_hot = is_one_hot(self.full)
            if self.one_hot:
                ids = torch.arange(self.full.shape[1], dtype=self.full.dtype, device=self.full.device)
                self._ids = torch.einsum("bchw,c->bhw", self.full, ids)[:, None]
        return self._ids

    def windows(self, size: tuple[int, int]) -> LabelWindows | None:
        """The map's windows at this size, or None where the dense convs are cheaper: their
        work grows with the pixels, the border path's with the distinct border windows, and on
        this project's CPU the border path wins from about 8 pixels per distinct window (it lost
        at 16x32 with 8 Voronoi scenes: 4,096 pixels, 1,385 windows)."""
        if size not in self._windows:
            ids = self.class_ids() if size[0] * size[1] >= 1024 else None   # smaller: not worth it
            windows = None
            if ids is not None:
                # nearest resizing picks the same pixels from the ids as from the one-hot map
                labels = F.interpolate(ids, size=size, mode="nearest")[:, 0].long()
                windows = LabelWindows(labels, self.full.shape[1])
                if labels.numel() < 8 * len(windows.patterns):
                    windows = None
            self._windows[size] = windows
        return self._windows[size]


def is_one_hot(seg: torch.Tensor) -> bool:
    """Every pixel of seg (B, C, H, W) is exactly one class: one 1, the rest 0."""
    return bool(((seg == 0) | (seg == 1)).all() and (seg.sum(1) == 1).all())


class CondGroupNorm(nn.Module):
    """x (B, channels, h, w), seg (B, seg_channels, H, W) float or its LabelMaps -> (B, channels, h, w).

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
        self.border_path = True   # False: always the dense convs (the authors' computation)
        self.fused_modulation = True   # False: mlp_gamma and mlp_beta as two convs (the authors')

    def modulation(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, hidden, h, w) -> gamma, beta (B, channels, h, w): mlp_gamma(h), mlp_beta(h) as
        one conv with both weights (each output channel is computed as by its own conv, so the
        values are the same to float round-off; on a CPU one wider conv is faster than two)."""
        if not self.fused_modulation:
            return self.mlp_gamma(h), self.mlp_beta(h)
        g = self.mlp_gamma.groups
        weight = torch.stack([self.mlp_gamma.weight.unflatten(0, (g, -1)),
                              self.mlp_beta.weight.unflatten(0, (g, -1))], 1).flatten(0, 2)
        bias = torch.stack([self.mlp_gamma.bias.view(g, -1), self.mlp_beta.bias.view(g, -1)], 1).flatten()
        out = F.conv2d(h, weight, bias, padding=self.mlp_gamma.padding, groups=g)  # (B, 2*channels, h, w)
        out = out.unflatten(1, (g, 2, -1))          # per group: its gamma channels, then its beta channels
        return out[:, :, 0].flatten(1, 2), out[:, :, 1].flatten(1, 2)

    def border_windows(self, x: torch.Tensor, labels: LabelMaps) -> LabelWindows | None:
        """The label windows when `border_modulation` computes gamma and beta, else None: for
        one-hot maps, fp32/fp64 on a CPU, where it is faster (on a GPU the dense convs are; under
        autocast the dense convs' precision rules apply) and the map is large enough."""
        if (self.border_path and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
                and not torch.is_autocast_enabled("cpu")):
            return labels.windows(tuple(x.shape[2:]))
        return None

    def forward(self, x: torch.Tensor, seg: torch.Tensor | LabelMaps) -> torch.Tensor:
        labels = seg if isinstance(seg, LabelMaps) else LabelMaps(seg, one_hot=False)
        size = tuple(x.shape[2:])
        windows = self.border_windows(x, labels)
        if windows is not None:
            rows = border_modulation(self.mlp_shared[0], [self.mlp_gamma, self.mlp_beta],
                                     windows)                            # (B*h*w, 2 * channels)
            both = rows.view(x.shape[0], *size, -1).permute(0, 3, 1, 2)  # (B, 2 * channels, h, w)
            # split, not two slices: its backward concatenates the two gradients (two slices
            # would each fill a zero tensor of the full size)
            gamma, beta = both.split(self.mlp_gamma.out_channels, 1)
        else:
            gamma, beta = self.modulation(self.mlp_shared(labels.resized(size)))
        return self.param_free_norm(x) * (1 + gamma) + beta
