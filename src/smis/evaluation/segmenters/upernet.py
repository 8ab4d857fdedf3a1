"""UperNet-101 of the CSAIL scene-parsing models, the ADE20K segmenter of the SPADE/SMIS evaluation, in both
published weight releases (`RELEASES`): the older `baseline-resnet101-upernet` and the newer
`ade20k-resnet101-upernet`. Each release is two weight files, encoder_epoch_50.pth (their ResNet-101 with the
deep 3-conv stem, keys conv1.. / layer1..4.) and decoder_epoch_50.pth (UPerNet: PPM + FPN, keys ppm_conv..,
fpn_in.., conv_last..). Architecture after CSAILVision/semantic-segmentation-pytorch
mit_semseg/models/resnet.py and models.py; the two releases share it (same keys and shapes in the code of both
periods) and differ in the input convention they were trained with (see UperNetRelease).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from smis.evaluation.segmenters.base import IMAGENET_MEAN, IMAGENET_STD, Segmenter, load_exact
from smis.evaluation.segmenters.drn import Bottleneck
from smis.weights import entry, load_state_dict
from smis.weights.registry import upernet_names
from smis.weights.store import ensure, given_file

ENCODER_FILENAME = "encoder_epoch_50.pth"
DECODER_FILENAME = "decoder_epoch_50.pth"


@dataclass(frozen=True)
class UperNetRelease:
    """One published pair of weight files and the input its network was trained on: pixel values in
    [0, scale], channels reversed to BGR if `bgr`, then (x - mean) / std (mean/std in that scale and order).

    name: the release's folder on the CSAIL site, and its folder in the torch hub cache.
    source: where the convention is written down.
    """

    name: str
    bgr: bool
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str


RELEASES = {r.name: r for r in (
    # 2019-07 models; mit_semseg/dataset.py normalises RGB [0,1] with the ImageNet statistics
    # (commit "change std", 2019-08-03).
    UperNetRelease("ade20k-resnet101-upernet", bgr=False, scale=1.0, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                   source="mit_semseg/dataset.py: RGB/255, ImageNet mean and std"),
    # 2018 models; dataset.py of 2018-04 .. 2019-07 feeds BGR [0,255] minus these BGR means, std 1
    # (README then: "The model takes the input in BGR form (consistent with opencv)").
    UperNetRelease("baseline-resnet101-upernet", bgr=True, scale=255.0, mean=(102.9801, 115.9465, 122.7717),
                   std=(1.0, 1.0, 1.0), source="dataset.py before 2019-08: BGR [0,255] minus BGR means"),
)}
DEFAULT_RELEASE = "ade20k-resnet101-upernet"
# The input scale a stem implies (see implied_input_scale): ~1 for normalised [0,1] input, ~60 for [0,255].
INPUT_SCALE_SPLIT = 8.0


def release(name: str) -> UperNetRelease:
    """A release by name, with an error listing the names."""
    try:
        return RELEASES[name]
    except KeyError:
        raise ValueError(f"unknown UperNet release {name!r}; expected one of {sorted(RELEASES)}") from None


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
    """UperNet-101 on ADE20K: 150 classes = our ADE20K ids 0..149, fed in its release's input convention."""

    def __init__(self, num_classes: int = 150, release_name: str = DEFAULT_RELEASE):
        r = release(release_name)
        super().__init__(num_classes, r.mean, r.std, bgr=r.bgr, scale=r.scale)
        self.release = r
        self.encoder = ResNet101Encoder()
        self.decoder = UPerNetDecoder(num_classes)
        self.eval()

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def upernet_weight_paths(encoder: str | os.PathLike | None = None, decoder: str | os.PathLike | None = None,
                         folder: str | os.PathLike | None = None,
                         release_name: str = DEFAULT_RELEASE) -> tuple[Path, Path]:
    """The two weight files: given paths, else FOLDER/<official name>, else the torch hub cache's
    <release>/<official name>, fetched on first use (smis.weights; one error lists both when missing)."""
    r = release(release_name)
    given = [encoder, decoder]
    for i, filename in enumerate((ENCODER_FILENAME, DECODER_FILENAME)):
        if given[i] is None and folder is not None:
            given[i] = Path(folder) / filename
    names = upernet_names(r.name)
    cached = ensure(n for n, path in zip(names, given) if path is None)
    option = "segmenters.ade20k.weights_dir"
    return tuple(cached[name] if path is None else
                 given_file(path, option, entry(name), f"UperNet101 ADE20K {part} ({r.name})")
                 for name, path, part in zip(names, given, ("encoder", "decoder")))


def upernet_weight_names(encoder_weights=None, decoder_weights=None, weights_dir=None,
                         pretrained: bool = True, release: str = DEFAULT_RELEASE, **_) -> list[str]:
    """The registry files upernet101(...) with these arguments will load (none that are given)."""
    if not pretrained or weights_dir is not None:
        return []
    return [name for name, given in zip(upernet_names(release), (encoder_weights, decoder_weights))
            if given is None]


def implied_input_scale(encoder_state: dict) -> float:
    """The spread of the input the stem was trained on, read from its first conv and BatchNorm: per channel
    sqrt(running_var) / |conv weight|, median over channels. The BN statistics follow the input's scale, the
    weight norm does not, so this is ~1 for normalised [0,1] images and ~60 for [0,255] ones."""
    weight = encoder_state["conv1.weight"].double().flatten(1).norm(dim=1)
    spread = encoder_state["bn1.running_var"].double().clamp(min=0).sqrt()
    return float((spread / weight.clamp(min=1e-12)).median())


def verify_release(r: UperNetRelease, paths: tuple[Path, Path], encoder_state: dict) -> None:
    """The files belong to the release the protocol names: not in the other release's folder, and trained on
    input of the release's scale. The releases share keys and shapes, so these are what tell them apart."""
    for path in paths:
        folder = path.parent.name
        if folder in RELEASES and folder != r.name:
            raise ValueError(f"UperNet101: {path} is in a folder named after the {folder} release, but the "
                             f"protocol uses {r.name} ({r.source}): point to that release's files, or choose "
                             f"a protocol that uses {folder}")
    scale = implied_input_scale(encoder_state)
    trained_on_255 = scale > INPUT_SCALE_SPLIT
    if trained_on_255 != (r.scale > 1):
        looks = "[0,255] input (the baseline release's BGR convention)" if trained_on_255 else \
            "normalised [0,1] input (the ade20k-resnet101-upernet convention)"
        raise ValueError(f"UperNet101: {paths[0]} was trained on {looks}: its stem's BatchNorm implies an "
                         f"input scale of {scale:.3g} (split at {INPUT_SCALE_SPLIT}), but the protocol uses "
                         f"{r.name} ({r.source}). Use that release's files, or, if you are sure of them, "
                         "check_release=false (smis.evaluate: +segmenters.ade20k.check_release=false)")


def upernet101(encoder_weights: str | os.PathLike | None = None,
               decoder_weights: str | os.PathLike | None = None,
               weights_dir: str | os.PathLike | None = None, pretrained: bool = True,
               release: str = DEFAULT_RELEASE, check_release: bool = True) -> UperNetSegmenter:
    """UperNet-101 ADE20K segmenter of one release (RELEASES) from encoder_epoch_50.pth and
    decoder_epoch_50.pth (see upernet_weight_paths for where they are looked for), fed in that release's input
    convention; `check_release` rejects files that look like the other release's. pretrained=False leaves it
    randomly initialised."""
    model = UperNetSegmenter(release_name=release)
    if pretrained:
        paths = upernet_weight_paths(encoder_weights, decoder_weights, weights_dir, release)
        for module, path, part in zip((model.encoder, model.decoder), paths, ("encoder", "decoder")):
            what = f"UperNet101 ADE20K {part} ({release})"
            load_exact(module, load_state_dict(path, what), what, path)
        if check_release:
            verify_release(model.release, paths, model.encoder.state_dict())
        model.weight_files = list(paths)
    return model.eval().requires_grad_(False)


upernet101.weight_names = upernet_weight_names
