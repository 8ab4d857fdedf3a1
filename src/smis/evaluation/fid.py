"""FID (docs/model.md §10) through torchmetrics' `FrechetInceptionDistance` on torch-fidelity's
Inception-v3, with the input pipeline of either FID library, chosen by name (`resize`; the evaluation
protocols pin it):

- Feature network: torch-fidelity's `FeatureExtractorInceptionV3` with the TF-ported Inception-v3 weights
  `weights-inception-2015-12-05-6726825d.pth` (`inception` in smis.weights), 2048-d pool features by default.
  pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` holds the same bytes, and a state_dict of these keys
  loads into either library's network, so one network serves both pipelines. The file is taken from the
  given path or the torch hub cache (fetched there on first use). torch-fidelity would unpickle it with
  `weights_only=False`: we read it with `weights_only=True` and hand it an in-memory copy of those plain
  tensors instead.
- Pixels: our images are float in [-1, 1]; `quantize` says how generated ones become pixel values in
  [0, 255]: `round` (as saving to PNG with `to_pil` does), `truncate` (SPADE/SMIS `tensor2im`: clip, then
  `astype(uint8)`) or `none` (OASIS feeds the generator's float output to the network). Real images always
  come from 8-bit files, so they are rounded back to those exact values.
- `resize="torch_fidelity"` (torch-fidelity, the original TF FID): the pixel values as float32, resized to
  299x299 with TF1 `resize_bilinear` (`align_corners=False`: source = destination * in / out, no half-pixel
  offset, no antialiasing; `resize_tf1_bilinear`), then `(x - 128) / 128`. Needs 8-bit pixels (no `none`).
- `resize="pytorch_fid"` (pytorch-fid's `InceptionV3.forward`): pixels / 255 (its `ToTensor`), resized with
  `F.interpolate(..., (299, 299), mode="bilinear", align_corners=False)` (half-pixel centres), then `2 x - 1`.
- Statistics: the metric accumulates feature sums, sums of outer products and counts in float64;
  FID = |mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^1/2) with unbiased (n - 1) covariances.

The real images' statistics (those three states) can be cached per dataset / split / size / pipeline with
`save_real_stats` / `load_real_stats`. Under DDP load them on one process only: the states are summed over
processes at `compute`.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import atomic_torch_save
from ..weights import entry, load_state_dict, safe_load, weight_file

INCEPTION_FILE = entry("inception").filename
INCEPTION_SIZE = 299
QUANTIZE = ("round", "truncate", "none")
# Written into cached statistics; a cache made under another pipeline is recomputed, not reused.
PIPELINES = {
    "torch_fidelity": "torch-fidelity inception-v3-compat; uint8 via round; TF1 bilinear 299, no antialias",
    "pytorch_fid": "torch-fidelity inception-v3-compat; x/255; F.interpolate bilinear 299 half-pixel; 2x-1",
}
RESIZES = tuple(PIPELINES)
PROTOCOL = PIPELINES["torch_fidelity"]
_REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")
# torch-fidelity's layers in order, and the feature size read after each group (global average pooled)
_STAGES = (("64", ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1")),
           ("192", ("Conv2d_3b_1x1", "Conv2d_4a_3x3", "MaxPool_2")),
           ("768", ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                    "Mixed_6e")),
           ("2048", ("Mixed_7a", "Mixed_7b", "Mixed_7c")))


def real_stats_path(cache_dir: str | os.PathLike, dataset: str, split: str, height: int, width: int,
                    feature: int = 2048, resize: str = "torch_fidelity") -> Path:
    """Where the real images' statistics for one dataset / split / size / layer / pipeline are cached."""
    pipeline = "" if resize == "torch_fidelity" else f"_{resize}"
    return Path(cache_dir) / f"fid_real_{dataset}_{split}_{height}x{width}_f{feature}{pipeline}.pt"


def to_pixels(images: torch.Tensor, quantize: str = "round") -> torch.Tensor:
    """(B,3,H,W) float in [-1,1] -> float32 pixel values in [0,255]: rounded (a PNG export), truncated
    (SPADE's tensor2im) or left continuous ("none")."""
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize={quantize!r}; expected one of {QUANTIZE}")
    pixels = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    if quantize == "round":
        return pixels.round()
    return pixels.floor() if quantize == "truncate" else pixels


def to_uint8(images: torch.Tensor, quantize: str = "round") -> torch.Tensor:
    """(B,3,H,W) float in [-1,1] -> uint8 in [0,255], rounded like a PNG export (or truncated)."""
    if quantize == "none":
        raise ValueError("uint8 pixels need quantize='round' or 'truncate'")
    return to_pixels(images, quantize).to(torch.uint8)


def _tf1_source(n_in: int, n_out: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TF1 resize_bilinear (align_corners=False) sampling: source = destination * (in / out) in float32;
    -> lower index, upper index (clamped to the edge), fraction."""
    scale = torch.tensor(n_in / n_out, dtype=torch.float32, device=device)
    source = torch.arange(n_out, dtype=torch.float32, device=device) * scale
    lower = source.floor().long()
    return lower, (lower + 1).clamp(max=n_in - 1), source - lower


def resize_tf1_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B,C,H,W) float -> (B,C,*size) as TensorFlow 1.x `resize_bilinear` computes it (no half-pixel
    centres, no antialiasing): the resize of torch-fidelity and of the original TF FID code."""
    (y0, y1, fy), (x0, x1, fx) = (_tf1_source(n, m, x.device) for n, m in zip(x.shape[-2:], size))
    top, bottom = x[..., y0, :], x[..., y1, :]
    fx, fy = fx.view(1, 1, 1, -1), fy.view(1, 1, -1, 1)
    top = top[..., x0] + (top[..., x1] - top[..., x0]) * fx       # TF's order of operations
    bottom = bottom[..., x0] + (bottom[..., x1] - bottom[..., x0]) * fx
    return top + (bottom - top) * fy


def inception_input(pixels: torch.Tensor, resize: str) -> torch.Tensor:
    """(B,3,H,W) float32 pixel values in [0,255] -> the (B,3,299,299) tensor the network's first layer sees
    under one FID library's pipeline (see the module docstring)."""
    size = (INCEPTION_SIZE, INCEPTION_SIZE)
    if resize == "torch_fidelity":
        return (resize_tf1_bilinear(pixels, size) - 128) / 128
    if resize == "pytorch_fid":
        x = F.interpolate(pixels / 255, size=size, mode="bilinear", align_corners=False)
        return 2 * x - 1
    raise ValueError(f"resize={resize!r}; expected one of {RESIZES}")


class InceptionFeatures(nn.Module):
    """torch-fidelity's Inception-v3 behind one library's input pipeline: (B,3,H,W) float32 pixel values in
    [0,255] -> (B, feature) float32 pool features. Always in eval mode."""

    def __init__(self, weights: io.BytesIO, feature: int = 2048, resize: str = "torch_fidelity"):
        super().__init__()
        if str(feature) not in dict(_STAGES):
            raise ValueError(f"feature={feature}; expected one of {[int(f) for f, _ in _STAGES]}")
        if resize not in RESIZES:
            raise ValueError(f"resize={resize!r}; expected one of {RESIZES}")
        # imported here, not at the top: seconds that only the FID needs
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.net = FeatureExtractorInceptionV3("inception-v3-compat", [str(feature)],
                                               feature_extractor_weights_path=weights)
        self.num_features, self.resize = feature, resize

    def train(self, mode: bool = True) -> InceptionFeatures:
        return super().train(False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = inception_input(pixels.float(), self.resize)
        for name, layers in _STAGES:
            for layer in layers:
                x = getattr(self.net, layer)(x)
            if name == str(self.num_features):
                break
        return F.adaptive_avg_pool2d(x, 1).flatten(1).float()


class FID:
    """Streaming FID between real and generated images (see the module docstring for the pipelines).

    `feature` selects the Inception layer (64, 192, 768 or 2048); the papers' protocols use 2048.
    `resize` names the library pipeline (torch_fidelity, pytorch_fid); `quantize` how generated images become
    pixel values (round, truncate, none).
    """

    def __init__(self, weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                 feature: int = 2048, batch_size: int = 50, resize: str = "torch_fidelity",
                 quantize: str = "round"):
        if quantize not in QUANTIZE:
            raise ValueError(f"quantize={quantize!r}; expected one of {QUANTIZE}")
        if resize == "torch_fidelity" and quantize == "none":
            raise ValueError("torch-fidelity's pipeline takes 8-bit pixels: quantize='round' or 'truncate'")
        path = weight_file("inception", weights, "fid.weights")
        state = load_state_dict(path, "FID Inception-v3")
        # torch-fidelity torch.load()s whatever it is given with weights_only=False: give it bytes we
        # wrote ourselves from the safely loaded tensors rather than the file.
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        self.weights_path, self.weights_file = path, path.name
        self.feature, self.resize, self.quantize = feature, resize, quantize
        self.batch_size = batch_size
        self.device = torch.device(device)
        from torchmetrics.image.fid import FrechetInceptionDistance

        self._metric = FrechetInceptionDistance(
            feature=InceptionFeatures(buffer, feature, resize), reset_real_features=False,
            normalize=False).to(self.device)

    def update(self, images: torch.Tensor, real: bool) -> None:
        """Add (B,3,H,W) images in [-1,1] to the real or the generated set (in chunks of batch_size)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"FID expects (B,3,H,W) images, got {tuple(images.shape)}")
        # real images come from 8-bit files: rounding recovers their exact values
        for chunk in to_pixels(images, "round" if real else self.quantize).split(self.batch_size):
            self._metric.update(chunk.to(self.device), real=real)

    def compute(self) -> float:
        """FID between everything added so far (at least 2 real and 2 generated images)."""
        return float(self._metric.compute())

    def reset(self, real: bool = False) -> None:
        """Forget the generated images; also the real ones if `real`."""
        self._metric.reset()
        if real:
            for name in _REAL_STATES:
                getattr(self._metric, name).zero_()

    @property
    def has_real_stats(self) -> bool:
        return int(self._metric.real_features_num_samples) >= 2

    def _meta(self) -> dict:
        return {"protocol": PIPELINES[self.resize], "feature": self.feature,
                "weights_file": self.weights_file}

    def save_real_stats(self, path: str | os.PathLike) -> Path:
        """Write the real images' accumulated statistics to `path` (atomically)."""
        if not self.has_real_stats:
            raise RuntimeError("no real-image statistics to save: update(..., real=True) first")
        states = {name: getattr(self._metric, name).detach().cpu() for name in _REAL_STATES}
        return atomic_torch_save({**self._meta(), **states}, path)

    def load_real_stats(self, path: str | os.PathLike) -> bool:
        """Replace the real statistics by those cached at `path`; False (nothing changed) if the file
        is missing or was made with another feature layer, weight file or protocol."""
        path = Path(path)
        if not path.is_file():
            return False
        try:
            cached = safe_load(path, "FID statistics")
        except ValueError as e:                  # a damaged cache is recomputed, not trusted
            warnings.warn(f"{e}; recomputing it", stacklevel=2)
            return False
        if not isinstance(cached, dict) or any(cached.get(k) != v for k, v in self._meta().items()):
            return False
        for name in _REAL_STATES:
            current = getattr(self._metric, name)
            setattr(self._metric, name, cached[name].to(device=current.device, dtype=current.dtype))
        self._metric._computed = None   # torchmetrics caches compute() until the next update
        return True
