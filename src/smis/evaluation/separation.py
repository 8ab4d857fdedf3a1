"""Per-class control in pixels: does re-drawing one class's code change that class, and only it?
No network weights needed, so it runs on any dataset and on a CPU.

For a label map and each class c present (at least `min_area` of the pixels): decode k images
that differ only in class c's code; for every pair, the mean absolute pixel difference (images in
[-1, 1], averaged over RGB) is taken inside class c, and outside it beyond a band of `band`
pixels (the decoder's unavoidable blur at the border does not count):

    inside c     how visibly class c's look changes (higher: a code that does something)
    outside c    how much the rest changes (lower: clean control)
    separation   outside / inside of the means over classes (lower is better; 0 = perfect)

Also the reconstruction error of the encoded codes (L1 of decode(encode(image)) against the image),
which is where a collapsed encoder shows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..latents import LatentLayout


def far_from(mask: torch.Tensor, band: int) -> torch.Tensor:
    """(H, W) bool -> (H, W) bool: pixels more than `band` pixels (Chebyshev) away from the mask."""
    if band <= 0:
        return ~mask
    near = F.max_pool2d(mask.float()[None, None], 2 * band + 1, stride=1, padding=band)[0, 0] > 0
    return ~near


def pairwise_change(images: torch.Tensor) -> torch.Tensor:
    """(k, 3, H, W) -> (H, W): mean over the k(k-1)/2 pairs of the mean absolute RGB difference."""
    k = images.shape[0]
    total = torch.zeros(images.shape[2:], device=images.device)
    for i in range(k):
        total += (images[i + 1:] - images[i]).abs().mean(1).sum(0)
    return total / (k * (k - 1) / 2)


@torch.no_grad()
def class_separation(decode, layout: LatentLayout, label: torch.Tensor, z: torch.Tensor, k: int = 4,
                     generator: torch.Generator | None = None, band: int = 4,
                     min_area: float = 0.01) -> dict[int, tuple[float, float]]:
    """label (1,1,H,W), z (1,kC,h,w); decode(labels, z) -> images. -> {c: (inside, outside)} for
    each class present on at least `min_area` of the pixels (outside is NaN when nothing is far
    enough from c)."""
    if k < 2:
        raise ValueError(f"k must be at least 2 (pairs of images); got {k}")
    ids, counts = torch.unique(label, return_counts=True)
    out = {}
    for c, n in zip(ids.tolist(), counts.tolist()):
        if n < min_area * label.numel():
            continue
        images = decode(label.expand(k, -1, -1, -1), layout.random_redraw(z, c, k, generator)).float()
        change = pairwise_change(images)                                   # (H, W)
        mask = label[0, 0] == c
        far = far_from(mask, band)
        out[c] = (float(change[mask].mean()), float(change[far].mean()) if far.any() else math.nan)
    return out


def summarize_separation(per_image: list[dict[int, tuple[float, float]]]) -> dict:
    """-> {"per_class": {c: {"inside", "outside", "images"}}, "inside", "outside", "separation"}:
    per class the mean over images, then unweighted means over classes; separation = outside /
    inside of those means."""
    values: dict[int, list[tuple[float, float]]] = {}
    for result in per_image:
        for c, pair in result.items():
            values.setdefault(c, []).append(pair)

    def nanmean(xs) -> float:
        xs = [x for x in xs if not math.isnan(x)]
        return sum(xs) / len(xs) if xs else math.nan

    per_class = {c: {"inside": nanmean(p[0] for p in pairs), "outside": nanmean(p[1] for p in pairs),
                     "images": len(pairs)} for c, pairs in sorted(values.items())}
    inside = nanmean(v["inside"] for v in per_class.values())
    outside = nanmean(v["outside"] for v in per_class.values())
    ratio = outside / inside if inside and not math.isnan(inside) and not math.isnan(outside) else math.nan
    return {"per_class": per_class, "inside": inside, "outside": outside, "separation": ratio}
