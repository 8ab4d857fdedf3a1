"""DRN-D-105 + DRNSeg head, the Cityscapes segmenter of the SPADE/SMIS evaluation (fyu/drn drn.py and
segment.py). Module names reproduce the released checkpoint drn-d-105_ms_cityscapes.pth, a DRNSeg
state_dict: `base.0` .. `base.8` = DRN layer0 .. layer8 (the trunk without avgpool/fc), `seg` (1x1 conv to
19 classes), `up` (fixed bilinear x8 transposed conv)."""

from __future__ import annotations

import math
import os

import torch
from torch import nn

from smis.evaluation.segmenters.base import Segmenter, load_exact
from smis.weights import entry, load_state_dict, weight_file

DRN_WEIGHTS = "drn-d-105-cityscapes"            # its entry in smis.weights's registry
DRN_FILENAME = entry(DRN_WEIGHTS).filename
# fyu/drn datasets/cityscapes/info.json: Cityscapes train-set statistics of [0,1] RGB images.
DRN_MEAN = (0.29010095242892997, 0.32808144844279574, 0.28696394422942517)
DRN_STD = (0.1829540508368939, 0.18656561047509476, 0.18447508988480435)


class Bottleneck(nn.Module):
    """ResNet bottleneck with the stride and dilation on the 3x3 conv; out channels = 4 * planes."""

    def __init__(self, in_ch: int, planes: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


def conv_stage(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """DRN-D's plain (non-residual) stage: conv, BN, ReLU (keys .0.weight, .1.*)."""
    padding = dilation * (kernel // 2)  # keeps the size (up to the stride)
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


def residual_stage(in_ch: int, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """`blocks` bottlenecks; only the first strides (DRN replaces later strides by dilation)."""
    layers = [Bottleneck(in_ch, planes, stride, dilation)]
    layers += [Bottleneck(planes * 4, planes, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def drn_d_105_trunk() -> nn.Sequential:
    """DRN-D-105 layer0..layer8 (fyu/drn: Bottleneck, [1, 1, 3, 4, 23, 3, 1, 1], arch 'D'); output stride 8,
    512 channels. (B,3,H,W) -> (B,512,H/8,W/8)."""
    return nn.Sequential(
        conv_stage(3, 16, kernel=7),                    # layer0  H
        conv_stage(16, 16),                             # layer1  H
        conv_stage(16, 32, stride=2),                   # layer2  H/2
        residual_stage(32, 64, 3, stride=2),            # layer3  H/4, 256 ch
        residual_stage(256, 128, 4, stride=2),          # layer4  H/8, 512 ch
        residual_stage(512, 256, 23, dilation=2),       # layer5  H/8, 1024 ch
        residual_stage(1024, 512, 3, dilation=4),       # layer6  H/8, 2048 ch
        conv_stage(2048, 512, dilation=2),              # layer7  (de-gridding, no residual)
        conv_stage(512, 512),                           # layer8
    )


def bilinear_upsampling_(up: nn.ConvTranspose2d) -> None:
    """Fill a depthwise transposed conv with the bilinear interpolation kernel (fyu/drn fill_up_weights)."""
    k = up.weight.shape[-1]
    f = math.ceil(k / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    ramp = 1 - (torch.arange(k, dtype=torch.float64) / f - c).abs()  # (k,)
    with torch.no_grad():
        up.weight.copy_((ramp[:, None] * ramp[None, :]).expand_as(up.weight))


class DRNSegmenter(Segmenter):
    """DRN-D-105 trained on Cityscapes fine: the 19 trainId classes."""

    def __init__(self, num_classes: int = 19):
        super().__init__(num_classes, DRN_MEAN, DRN_STD)
        self.base = drn_d_105_trunk()
        self.seg = nn.Conv2d(512, num_classes, 1)
        self.up = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, padding=4,
                                     groups=num_classes, bias=False)
        bilinear_upsampling_(self.up)
        self.up.weight.requires_grad_(False)  # fixed in the original too
        self.eval()

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.seg(self.base(x)))  # (B,19,8*ceil(H/8),8*ceil(W/8))


def drn_d_105(weights: str | os.PathLike | None = None, pretrained: bool = True) -> DRNSegmenter:
    """DRN-D-105 Cityscapes segmenter loaded from `weights` (default: drn-d-105_ms_cityscapes.pth in the
    torch hub cache, fetched on first use where a mirror serves it); pretrained=False leaves it
    randomly initialised (tests)."""
    what = "DRN-D-105 Cityscapes segmenter"
    path = weight_file(DRN_WEIGHTS, weights, "segmenters.cityscapes.weights") if pretrained else None
    model = DRNSegmenter()
    if path is not None:
        load_exact(model, load_state_dict(path, what), what, path)
        model.weight_files = [path]
    return model.eval().requires_grad_(False)


def drn_d_105_weights(weights: str | os.PathLike | None = None, pretrained: bool = True) -> list[str]:
    """The registry files drn_d_105(...) with these arguments will load (none when given a path)."""
    return [DRN_WEIGHTS] if pretrained and weights is None else []


drn_d_105.weight_names = drn_d_105_weights
