"""Class-wise crops: the encoder's input (the authors' `trans_img`, docs/model.md §3.1).

For every image b and class c: mask the image with class c, crop the masked image to the
bounding box of class c, and resize the crop (nearest) back to the full image size. Classes
are stacked class-major: channels (3c, 3c+1, 3c+2) hold class c's RGB crop. An absent class
gives an all-zero image.

`present_crops` builds the crops of the (image, class) pairs that occur, all at once with
gathers: no Python loop over images or classes, and one host synchronisation per batch (not per
class). The encoder's present-class path reads these directly; `class_crops` (via `all_crops`)
scatters them into the full (B, 3C, H, W) tensor the authors' encoder reads.
`class_crops_loop` is the straightforward definition, kept as the reference for tests and the
benchmark.
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


def _presence(label: torch.Tensor, num_classes: int, dim: int) -> torch.Tensor:
    """Which classes occur in each row (dim=2) or column (dim=3): (B,1,H,W) -> (B,C,H or W) bool.

    One scatter over the pixels instead of a (B,C,H,W) mask: O(HW), not O(CHW).
    """
    lab = label[:, 0] if dim == 2 else label[:, 0].transpose(1, 2)        # (B, n, m)
    hits = torch.zeros(*lab.shape[:2], num_classes, dtype=torch.bool, device=label.device)
    return hits.scatter_(2, lab, True).transpose(1, 2)


def present_crops(image: torch.Tensor, label: torch.Tensor, num_classes: int):
    """The crops of the (image, class) pairs that occur in `label`, and nothing else.

    image (B,3,H,W) float, label (B,1,H,W) int64 class ids
      -> crops (P,3,H,W), b (P,) image index, c (P,) class id; pairs in (b, c) order.
    Finding the pairs is the one host synchronisation per batch (it sizes the gathers).
    """
    B, _, H, W = image.shape
    rows, cols = _presence(label, num_classes, 2), _presence(label, num_classes, 3)  # (B,C,H), (B,C,W)
    b, c = rows.any(-1).nonzero().unbind(1)                                # (P,), (P,)
    y0, y1 = _first_last(rows[b, c])                                       # (P,) each
    x0, x1 = _first_last(cols[b, c])
    ys = _nearest_source_index(y0, y1 - y0 + 1, H)                         # (P,H)
    xs = _nearest_source_index(x0, x1 - x0 + 1, W)                         # (P,W)
    flat_index = (ys.unsqueeze(-1) * W + xs.unsqueeze(-2)).view(-1, H * W)  # (P,H*W)

    # the crop of class c keeps the pixels of class c: gather the label too and compare
    keep = torch.gather(label.reshape(B, H * W)[b], 1, flat_index) == c.unsqueeze(1)
    src = image.reshape(B, 3, H * W).index_select(0, b)                    # (P,3,H*W)
    pixels = torch.gather(src, 2, flat_index.unsqueeze(1).expand(-1, 3, -1))
    return pixels.mul_(keep.unsqueeze(1)).view(-1, 3, H, W), b, c


def all_crops(crops: torch.Tensor, b: torch.Tensor, c: torch.Tensor, batch: int,
              num_classes: int) -> torch.Tensor:
    """`present_crops`'s output -> every pair's crop (batch, 3*num_classes, H, W), absent ones zero."""
    out = crops.new_zeros(batch, num_classes, *crops.shape[1:])            # (B, C, 3, H, W)
    out[b, c] = crops
    return out.flatten(1, 2)


def class_crops(image: torch.Tensor, label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """image (B,3,H,W) float, label (B,1,H,W) int64 class ids -> (B, 3*num_classes, H, W)."""
    return all_crops(*present_crops(image, label, num_classes), image.shape[0], num_classes)


def class_mean_colours(image: torch.Tensor, label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Each class's mean colour in each image: image (B,3,H,W), label (B,1,H,W) int64 ids ->
    (B,C,3), zero for an absent class. One scatter over the pixels, no (B,C,H,W) mask."""
    B = image.shape[0]
    index = label.reshape(B, 1, -1)                                        # (B,1,HW)
    sums = image.new_zeros(B, 3, num_classes).scatter_add_(2, index.expand(-1, 3, -1),
                                                           image.reshape(B, 3, -1))
    ones = torch.ones_like(index, dtype=image.dtype)
    counts = image.new_zeros(B, 1, num_classes).scatter_add_(2, index, ones)
    return (sums / counts.clamp(min=1)).transpose(1, 2)                   # (B,C,3)


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
