"""Paired preprocessing: the image and its maps get the same resize, crop and flip (docs/model.md §7)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

Size = tuple[int, int]   # (height, width)

def _size(value: int | Sequence[int] | None) -> Size | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))

@dataclass
class PairTransform:
    """resize: (H, W) or a side for a square, None keeps the size. Images bicubic, maps nearest.
    crop: (H, W) random crop after the resize (training); evaluation resizes straight to it.
    flip: random horizontal flip (training only).
    The crop offsets and the flip are drawn from the call's `generator` (None: the global torch RNG).
    """

    resize: int | Sequence[int] | None = None
    crop: int | Sequence[int] | None = None
    flip: bool = True

    def __post_init__(self):
        self.resize, self.crop = _size(self.resize), _size(self.crop)
        if self.resize and self.crop and (self.crop[0] > self.resize[0] or self.crop[1] > self.resize[1]):
            raise ValueError(f"crop {self.crop} is larger than resize {self.resize}")

    def __call__(self, image: Image.Image, maps: list[Image.Image], train: bool,
                 generator: torch.Generator | None = None):
        """-> image (3,H,W) float in [-1,1], maps as (1,H,W) int64 tensors."""
        size = self.resize if train else (self.crop or self.resize)
        if size is not None and (image.height, image.width) != size:
            image = image.resize(size[::-1], Image.BICUBIC)
            maps = [m.resize(size[::-1], Image.NEAREST) for m in maps]
        img = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
        ids = [torch.from_numpy(np.asarray(m).astype(np.int64))[None] for m in maps]
        if train and self.crop is not None:
            H, W = img.shape[1:]
            top = int(torch.randint(0, H - self.crop[0] + 1, (), generator=generator))
            left = int(torch.randint(0, W - self.crop[1] + 1, (), generator=generator))
            window = (..., slice(top, top + self.crop[0]), slice(left, left + self.crop[1]))
            img, ids = img[window], [t[window] for t in ids]
        if train and self.flip and bool(torch.rand((), generator=generator) < 0.5):
            img, ids = img.flip(-1), [t.flip(-1) for t in ids]
        return img.float() / 127.5 - 1.0, ids
