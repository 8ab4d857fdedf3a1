"""UperNet-101 of the CSAIL scene-parsing models (`ade20k-resnet101-upernet`), the ADE20K segmenter of the
SPADE/SMIS evaluation. Two weight files as released: encoder_epoch_50.pth (their ResNet-101 with the deep
3-conv stem, keys conv1.. / layer1..4.) and decoder_epoch_50.pth (UPerNet: PPM + FPN, keys ppm_conv..,
fpn_in.., conv_last..). Architecture after CSAILVision/semantic-segmentation-pytorch
mit_semseg/models/resnet.py and models.py."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from smis.evaluation.segmenters.base import IMAGENET_MEAN, IMAGENET_STD, Segmenter, load_exact
from smis.evaluation.segmenters.drn import Bottleneck
from smis.evaluation.weights import load_state_dict, resolve_weights

UPERNET_DIR = "ade20k-resnet101-upernet"  # default folder in the torch hub cache
ENCODER_FILENAME = "encoder_epoch_50.pth"
DECODER_FILENAME = "decoder_epoch_50.pth"
UPERNET_SOURCE = "http://sceneparsing.csail.mit.edu/model/pytorch/ade20k-resnet101-upernet/"


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv (no bias), BN, ReLU: keys .0.weight, .1.*."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


def _stage(in_ch: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(in_ch, planes, stride)] + [Bottleneck(planes * 4, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet101Encoder(nn.Module):
    """CSAIL ResNet-101 without avgpool/fc: deep stem (three 3x3 convs), maxpool, layer1..4.
    (B,3,H,W) -> features at strides 4, 8, 16, 32 with 256, 512, 1024, 2048 channels."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(64, 64, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(64, 128, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(128)
        self.relu3 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _stage(128, 64, 3, 1)
        self.layer2 = _stage(256, 128, 4, 2)
        self.layer3 = _stage(512, 256, 23, 2)
        self.layer4 = _stage(1024, 512, 3, 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.maxpool(self.relu3(self.bn3(self.conv3(x))))  # (B,128,H/4,W/4)
        features = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            features.append(x)
        return features


def _resize(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class UPerNetDecoder(nn.Module):
    """Pyramid pooling on the top feature, then a top-down FPN; all levels fused at stride 4."""

    def __init__(self, num_classes: int = 150, fc_dim: int = 2048, pool_scales=(1, 2, 3, 6),
                 fpn_inplanes=(256, 512, 1024, 2048), fpn_dim: int = 512):
        super().__init__()
        self.ppm_pooling = nn.ModuleList(nn.AdaptiveAvgPool2d(s) for s in pool_scales)
        self.ppm_conv = nn.ModuleList(conv_bn_relu(fc_dim, 512, kernel=1) for _ in pool_scales)
        self.ppm_last_conv = conv_bn_relu(fc_dim + len(pool_scales) * 512, fpn_dim)
        self.fpn_in = nn.ModuleList(conv_bn_relu(c, fpn_dim, kernel=1) for c in fpn_inplanes[:-1])
        # the original wraps each 3x3 block in one more Sequential: keys fpn_out.i.0.{0,1}.*
        self.fpn_out = nn.ModuleList(nn.Sequential(conv_bn_relu(fpn_dim, fpn_dim))
                                     for _ in fpn_inplanes[:-1])
        self.conv_last = nn.Sequential(conv_bn_relu(len(fpn_inplanes) * fpn_dim, fpn_dim),
                                       nn.Conv2d(fpn_dim, num_classes, 1))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        top = features[-1]                                                     # (B,2048,H/32,W/32)
        pooled = [conv(_resize(pool(top), top.shape[-2:]))                     # pool, resize back, then conv
                  for pool, conv in zip(self.ppm_pooling, self.ppm_conv)]
        f = self.ppm_last_conv(torch.cat([top, *pooled], 1))                   # (B,fpn_dim,H/32,W/32)
        levels = [f]
        for i in reversed(range(len(features) - 1)):                            # strides 16, 8, 4
            lateral = self.fpn_in[i](features[i])
            f = lateral + _resize(f, lateral.shape[-2:])
            levels.append(self.fpn_out[i](f))
        levels.reverse()                                                        # stride 4 first
        size = levels[0].shape[-2:]
        fused = torch.cat([levels[0]] + [_resize(x, size) for x in levels[1:]], 1)  # (B,4*fpn_dim,H/4,W/4)
        return self.conv_last(fused)                                            # (B,K,H/4,W/4)


class UperNetSegmenter(Segmenter):
    """UperNet-101 on ADE20K: 150 classes = our ADE20K ids 0..149."""

    def __init__(self, num_classes: int = 150):
        super().__init__(num_classes, IMAGENET_MEAN, IMAGENET_STD)
        self.encoder = ResNet101Encoder()
        self.decoder = UPerNetDecoder(num_classes)
        self.eval()

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def upernet_weight_paths(encoder: str | os.PathLike | None = None, decoder: str | os.PathLike | None = None,
                         folder: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """The two weight files: given paths, else FOLDER/<official name>, else the hub cache's
    ade20k-resnet101-upernet/<official name>; each missing one is a MissingWeightsError naming it."""
    paths = []
    parts = ((encoder, ENCODER_FILENAME, "encoder"), (decoder, DECODER_FILENAME, "decoder"))
    for given, filename, part in parts:
        if given is None and folder is not None:
            given = Path(folder) / filename
        name = filename if given is not None else f"{UPERNET_DIR}/{filename}"  # hub cache: in a subfolder
        paths.append(resolve_weights(given, name, f"UperNet101 ADE20K {part}", UPERNET_SOURCE + filename))
    return paths[0], paths[1]


def upernet101(encoder_weights: str | os.PathLike | None = None,
               decoder_weights: str | os.PathLike | None = None,
               weights_dir: str | os.PathLike | None = None, pretrained: bool = True) -> UperNetSegmenter:
    """UperNet-101 ADE20K segmenter from encoder_epoch_50.pth and decoder_epoch_50.pth (see
    upernet_weight_paths for where they are looked for); pretrained=False leaves it randomly initialised."""
    paths = upernet_weight_paths(encoder_weights, decoder_weights, weights_dir) if pretrained else None
    model = UperNetSegmenter()
    if paths is not None:
        for module, path, part in zip((model.encoder, model.decoder), paths, ("encoder", "decoder")):
            what = f"UperNet101 ADE20K {part}"
            load_exact(module, load_state_dict(path, what), what, path)
    return model.eval().requires_grad_(False)
