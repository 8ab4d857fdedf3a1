"""What every segmenter of the evaluation protocol shares: images in our generator's range [-1, 1] in,
logits at the input size out. Which of our class ids it is scored against is the dataset spec's
business (DatasetSpec.ground_truth)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Segmenter(nn.Module):
    """A pretrained segmenter: forward((B,3,H,W) in [-1,1]) -> (B,K,H,W) logits at the input size.

    Subclasses build their network and implement `segment(x)` on images in the network's own input
    convention: pixel values scaled to [0, `scale`] (1: [0,1], 255: [0,255]), channels reversed to BGR if
    `bgr`, then `(x - mean) / std` with `mean`/`std` given in that scale and channel order. This class does
    that conversion and the resizing of the logits.
    """

    def __init__(self, num_classes: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, ignore_index: int = 255,
                 bgr: bool = False, scale: float = 1.0):
        super().__init__()
        if 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index {ignore_index} is a class id (num_classes={num_classes})")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.bgr, self.scale = bgr, float(scale)
        self.weight_files: list[Path] = []       # the files it was loaded from (recorded in metrics.json)
        # Not persistent: the state_dict keeps exactly the official checkpoint's keys.
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) normalised images -> (B,K,h,w) logits at any resolution."""
        raise NotImplementedError

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) in [-1,1] -> the network's input convention (see the class docstring)."""
        x = (images + 1) / 2 * self.scale
        if self.bgr:
            x = x.flip(1)
        return (x - self.mean) / self.std

    def forward(self, images: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Logits at `size` (default: the input size), resized bilinearly from the network's output."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B,3,H,W); got {tuple(images.shape)}")
        logits = self.segment(self.normalize(images))  # (B,K,h,w)
        size = tuple(size or images.shape[-2:])
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) in [-1,1] -> (B,H,W) int64 predicted class ids."""
        return self(images).argmax(1)


def load_exact(module: nn.Module, state: dict, what: str, path: Path) -> None:
    """Strict load_state_dict with an error that lists the mismatching keys.

    A 'module.' prefix (checkpoint saved from DataParallel) is dropped, and BatchNorm's num_batches_tracked
    may be absent (checkpoints from PyTorch < 0.4.1); it is unused in eval mode.
    """
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
                   for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong_shape:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:8]) + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "") or "none"
        raise ValueError(f"{what}: {path} does not match the architecture. Missing keys: {show(missing)}. "
                         f"Unexpected keys: {show(unexpected)}. Shape mismatches: {show(wrong_shape)}.")
    full = dict(state)
    for k, v in expected.items():  # fill absent num_batches_tracked with the module's own value
        full.setdefault(k, v)
    module.load_state_dict(full, strict=True)
