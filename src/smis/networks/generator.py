"""GroupDNet generator (docs/model.md §4): a decoder whose group counts shrink block after block,
so class codes start separate and merge progressively."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import check_groups, lrelu, sn_conv
from .normalization import CondGroupNorm, LabelMaps

BLOCK_NAMES = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3")


class GroupResBlock(nn.Module):
    """Residual block with grouped, spectral-normed convs and conditional group norms.

    x (B, fin, h, w), seg: the label input (B, seg_channels, H, W) or its LabelMaps -> (B, fout, h, w)
    """

    def __init__(self, fin: int, fout: int, groups: int, seg_channels: int, num_classes: int,
                 norm_rule: str):
        super().__init__()
        fmid = min(fin, fout)
        for what, n in [("in", fin), ("mid", fmid), ("out", fout)]:
            check_groups(f"GroupResBlock({fin}->{fout}, g={groups}) {what}", n, groups)
        self.learned_shortcut = fin != fout
        self.conv_0 = sn_conv(fin, fmid, 3, groups=groups)
        self.conv_1 = sn_conv(fmid, fout, 3, groups=groups)
        self.norm_0 = CondGroupNorm(fin, seg_channels, num_classes, groups, norm_rule)
        self.norm_1 = CondGroupNorm(fmid, seg_channels, num_classes, groups, norm_rule)
        if self.learned_shortcut:
            self.conv_s = sn_conv(fin, fout, 1, groups=groups, bias=False)
            self.norm_s = CondGroupNorm(fin, seg_channels, num_classes, groups, norm_rule)

    def forward(self, x: torch.Tensor, seg: torch.Tensor | LabelMaps) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(lrelu(self.norm_0(x, seg)))
        dx = self.conv_1(lrelu(self.norm_1(dx, seg)))
        return shortcut + dx


class GroupDNetGenerator(nn.Module):
    """z (B, 8C, h, w) and the label input (B, C[+1], H, W) -> image (B, 3, 64h, 64w) in [-1, 1].

    num_classes: C; widths: 8 channel counts, the output of `fc` then of each of the 7 blocks;
    fc_groups, group_schedule: group counts of `fc` and of the 7 blocks;
    norm_rule: see `normalization.NORM_RULES`;
    instance_edges: the label input carries an instance-edge channel last, which every
      conditional norm receives next to each class channel (Cityscapes);
    unused_up_4: build the authors' ADE20K `up_4` block (never run; kept so their checkpoints
      and parameter counts match).
    """

    def __init__(self, num_classes: int, widths: Sequence[int], fc_groups: int,
                 group_schedule: Sequence[int], norm_rule: str = "fixed128",
                 instance_edges: bool = False, unused_up_4: bool = False,
                 latent_per_class: int = 8):
        super().__init__()
        if len(widths) != 8 or len(group_schedule) != 7:
            raise ValueError(f"widths needs 8 values and group_schedule 7; got {list(widths)} "
                             f"and {list(group_schedule)}")
        self.num_classes, self.instance_edges = num_classes, instance_edges
        seg_channels = 2 * num_classes if instance_edges else num_classes
        latent = latent_per_class * num_classes
        check_groups("generator fc in", latent, fc_groups)
        check_groups("generator fc out", widths[0], fc_groups)
        self.fc = nn.Conv2d(latent, widths[0], 3, padding=1, groups=fc_groups)
        for name, fin, fout, g in zip(BLOCK_NAMES, widths[:-1], widths[1:], group_schedule):
            self.add_module(name, GroupResBlock(fin, fout, g, seg_channels, num_classes, norm_rule))
        if unused_up_4:
            self.up_4 = GroupResBlock(widths[-1], widths[-1] // 2, 1, seg_channels, num_classes,
                                      norm_rule)
        self.conv_img = nn.Conv2d(widths[-1], 3, 3, padding=1)

    def norm_input(self, label_input: torch.Tensor) -> torch.Tensor:
        """(B, C[+1], H, W) -> what the conditional norms read: (B, C or 2C, H, W)."""
        if not self.instance_edges:
            return label_input
        onehot, edge = label_input[:, :-1], label_input[:, -1:]
        # class c's one-hot channel, then the edge map: channels (2c, 2c+1)
        return torch.stack([onehot, edge.expand_as(onehot)], 2).flatten(1, 2)

    def forward(self, label_input: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        seg = self.norm_input(label_input)
        # resized once per pass; a one-hot map lets the norms work near class borders only
        seg = LabelMaps(seg, one_hot=not self.instance_edges)
        x = self.fc(z)                                              # (B, widths[0], h, w)
        for i, name in enumerate(BLOCK_NAMES):
            if i > 0:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = getattr(self, name)(x, seg)                         # 6 upsamplings: h -> 64h
        return torch.tanh(self.conv_img(lrelu(x)))
