"""FID (SPEC §10) through torchmetrics' `FrechetInceptionDistance`, set up to reproduce the
torch-fidelity / TTUR protocol:

- Feature network: torch-fidelity's `FeatureExtractorInceptionV3` (torchmetrics' `NoTrainInceptionV3`
  subclasses it) with the TF-ported Inception-v3 weights `weights-inception-2015-12-05-6726825d.pth`
  (`INCEPTION_URL`), 2048-d pool features. The file is taken from the given path or the torch hub
  cache ($TORCH_HOME/hub/checkpoints/, where torch-fidelity's own download lands); it is never
  downloaded. torch-fidelity would unpickle it with `weights_only=False`: we read it with
  `weights_only=True` and hand torchmetrics an in-memory copy of those plain tensors instead.
- Input: our images are float in [-1, 1]; they become uint8 as saving to PNG would,
  `round((x.clamp(-1, 1) + 1) * 127.5)`, so FID on tensors equals FID on the saved files.
- Resize to 299x299: `antialias=False`, which makes torchmetrics call torch-fidelity's
  `interpolate_bilinear_2d_like_tensorflow1x(x, (299, 299), align_corners=False)` on the uint8 values
  cast to float32: TF1 `resize_bilinear` (source coordinate = destination * in/out, no half-pixel
  offset, no antialiasing), exactly what torch-fidelity and the original TF FID do. (torchmetrics'
  default, `antialias=True`, is a different, antialiased resize; pytorch-fid's half-pixel
  `F.interpolate` also differs slightly.) Then `(x - 128) / 128` and the network in float32.
- Statistics: the metric accumulates feature sums, sums of outer products and counts in float64;
  FID = |mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^1/2) with unbiased (n - 1) covariances.

The real images' statistics (those three states) can be cached per dataset / split / size with
`save_real_stats` / `load_real_stats`. Under DDP load them on one process only: the states are
summed over processes at `compute`.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from ..utils import atomic_torch_save
from .weights import load_state_dict, resolve_weights

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
# Written into cached statistics; a cache made under other settings is recomputed, not reused.
PROTOCOL = "torch-fidelity inception-v3-compat; uint8 via round; TF1 bilinear 299, no antialias"
_REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


def real_stats_path(cache_dir: str | os.PathLike, dataset: str, split: str, height: int, width: int,
                    feature: int = 2048) -> Path:
    """Where the real images' statistics for one dataset / split / image size / layer are cached."""
    return Path(cache_dir) / f"fid_real_{dataset}_{split}_{height}x{width}_f{feature}.pt"


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) float in [-1,1] -> uint8 in [0,255], rounded like a PNG export."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class FID:
    """Streaming FID between real and generated images (see the module docstring for the protocol).

    `feature` selects the Inception layer (64, 192, 768 or 2048); the paper's protocol is 2048.
    """

    def __init__(self, weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                 feature: int = 2048, batch_size: int = 50):
        path = resolve_weights(weights, INCEPTION_FILE, "FID Inception-v3", INCEPTION_URL)
        state = load_state_dict(path, "FID Inception-v3")
        # torch-fidelity torch.load()s whatever it is given with weights_only=False: give it bytes we
        # wrote ourselves from the safely loaded tensors rather than the file.
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        self.weights_file = path.name
        self.feature = feature
        self.batch_size = batch_size
        self.device = torch.device(device)
        self._metric = FrechetInceptionDistance(
            feature=feature, feature_extractor_weights_path=buffer, antialias=False,
            reset_real_features=False, normalize=False).to(self.device)

    def update(self, images: torch.Tensor, real: bool) -> None:
        """Add (B,3,H,W) images in [-1,1] to the real or the generated set (in chunks of batch_size)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"FID expects (B,3,H,W) images, got {tuple(images.shape)}")
        for chunk in to_uint8(images).split(self.batch_size):
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
        return {"protocol": PROTOCOL, "feature": self.feature, "weights_file": self.weights_file}

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
            cached = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:                   # a damaged cache is recomputed, not trusted
            warnings.warn(f"FID statistics cache {path} cannot be read ({e}); recomputing it", stacklevel=2)
            return False
        if not isinstance(cached, dict) or any(cached.get(k) != v for k, v in self._meta().items()):
            return False
        for name in _REAL_STATES:
            current = getattr(self._metric, name)
            setattr(self._metric, name, cached[name].to(device=current.device, dtype=current.dtype))
        self._metric._computed = None   # torchmetrics caches compute() until the next update
        return True
