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

from ..latents import LatentLayout
from ..losses import far_from


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


def class_colour(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """image (3,H,W), mask (H,W) bool -> (3,) the mean colour of the masked pixels."""
    return image[:, mask].mean(1)


@torch.no_grad()
def transfer_hits(decode, layout: LatentLayout, target: tuple, reference: tuple,
                  min_area: float = 0.01) -> dict[int, bool]:
    """Does copying class c's code from a reference carry its look? target, reference: (image
    (1,3,H,W), label (1,1,H,W), codes (1,kC,h,w)) of two real images with their encoded codes.
    For each class on at least `min_area` of both label maps: decode the target's codes with
    c's copied from the reference -> {c: the mean colour of c in the result is closer to c's
    mean colour in the reference image than in the target image}."""
    (t_image, t_label, t_codes), (r_image, r_label, r_codes) = target, reference
    t_ids, t_counts = torch.unique(t_label, return_counts=True)
    area = {c: n / t_label.numel() for c, n in zip(t_ids.tolist(), t_counts.tolist())}
    hits = {}
    for c in [c for c, a in area.items() if a >= min_area]:
        r_mask = r_label[0, 0] == c
        if r_mask.float().mean() < min_area:
            continue
        result = decode(t_label, layout.replace(t_codes, [c], r_codes)).float()[0]
        mask = t_label[0, 0] == c
        colour = class_colour(result, mask)
        to_reference = (colour - class_colour(r_image[0].float(), r_mask)).norm()
        to_target = (colour - class_colour(t_image[0].float(), mask)).norm()
        hits[c] = bool(to_reference < to_target)
    return hits
