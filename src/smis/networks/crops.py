"""Class-wise crops: the encoder's input (the authors' `trans_img`, SPEC §3.1).

For every image b and class c: mask the image with class c, crop the masked image to the
bounding box of class c, and resize the crop (nearest) back to the full image size. Classes
are stacked class-major: channels (3c, 3c+1, 3c+2) hold class c's RGB crop. An absent class
gives an all-zero image.

`class_crops` does this for all (image, class) pairs at once with one gather: no Python loop
over images or classes and no host synchronisation. `class_crops_loop` is the straightforward
definition, kept as the reference for tests and the benchmark.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _nearest_source_index(lo: torch.Tensor, size: torch.Tensor, out: int) -> torch.Tensor:
    """Source indices of a nearest resize of the segment [lo, lo+size) to `out` samples.

    Reproduces PyTorch's `interpolate(mode="nearest")` bit for bit: it computes the float32
    scale in/out and takes floor(i * scale), clamped to the last input index.
    lo, size: (...) int64  ->  (..., out) int64
    """
    scale = size.to(torch.float32) / out                                   # (...)
    i = torch.arange(out, device=lo.device, dtype=torch.float32)           # (out,)
    src = torch.floor(i * scale.unsqueeze(-1)).to(torch.int64)             # (..., out)
    src = torch.minimum(src, (size - 1).clamp(min=0).unsqueeze(-1))
    return lo.unsqueeze(-1) + src


def _first_last(present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last True index along the last dim. present: (..., n) bool -> two (...) int64."""
    n = present.shape[-1]
    first = present.to(torch.uint8).argmax(-1)
    last = n - 1 - present.flip(-1).to(torch.uint8).argmax(-1)
    return first, last


def class_crops(image: torch.Tensor, label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """image (B,3,H,W) float, label (B,1,H,W) int64 class ids -> (B, 3*num_classes, H, W)."""
    B, _, H, W = image.shape
    classes = torch.arange(num_classes, device=label.device).view(1, num_classes, 1, 1)
    masks = label == classes                                               # (B,C,H,W) bool
    rows_present, cols_present = masks.any(3), masks.any(2)                # (B,C,H), (B,C,W)
    present = rows_present.any(-1)                                         # (B,C)
    y0, y1 = _first_last(rows_present)                                     # (B,C) each
    x0, x1 = _first_last(cols_present)
    ys = _nearest_source_index(y0, y1 - y0 + 1, H)                         # (B,C,H)
    xs = _nearest_source_index(x0, x1 - x0 + 1, W)                         # (B,C,W)
    flat_index = (ys.unsqueeze(-1) * W + xs.unsqueeze(-2)).view(B, num_classes, H * W)

    # gather the label at each source pixel (is it class c?) and the image there
    src_label = label.view(B, 1, H * W).expand(B, num_classes, H * W)
    inside = torch.gather(src_label, 2, flat_index) == classes.view(1, num_classes, 1)
    inside &= present.unsqueeze(-1)                                        # absent class -> zeros
    src_image = image.reshape(B, 1, 3, H * W).expand(B, num_classes, 3, H * W)
    pixels = torch.gather(src_image, 3, flat_index.unsqueeze(2).expand(B, num_classes, 3, H * W))
    crops = pixels * inside.unsqueeze(2).to(image.dtype)                   # (B,C,3,H*W)
    return crops.view(B, 3 * num_classes, H, W)


def class_crops_loop(image: torch.Tensor, label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The straightforward definition (one loop iteration per image and class)."""
    out = []
    for b in range(image.shape[0]):
        per_class = []
        for c in range(num_classes):
            mask = (label[b, 0] == c).to(image.dtype)
            masked = image[b] * mask                                       # (3,H,W)
            ys, xs = torch.nonzero(mask, as_tuple=True)
            if len(ys):
                crop = masked[:, ys.min():ys.max() + 1, xs.min():xs.max() + 1]
                masked = F.interpolate(crop[None], size=image.shape[2:], mode="nearest")[0]
            per_class.append(masked)
        out.append(torch.cat(per_class, 0))
    return torch.stack(out)
