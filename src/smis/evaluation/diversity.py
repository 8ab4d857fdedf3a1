"""LPIPS diversity and the paper's class-wise diversity metrics mCSD / mOCD (docs/model.md §10).

LPIPS: AlexNet trunk, version 0.1, the linear heads shipped inside the `lpips` package
(`lpips/weights/v0.1/alex.pth`), and torchvision's ImageNet AlexNet (`alexnet-owt-7be5be79.pth`) as
the trunk, read from a given path or the torch hub cache (fetched there on first use: smis.weights).
Images in [-1, 1].

CSD / OCD of class c in one label map: decode k images that differ only in class c's code; the
mean pairwise LPIPS inside class c's region is the class-specific diversity (CSD, higher is better),
outside it the other-classes diversity (OCD, lower is better: re-sampling c should leave the rest
alone). As the paper defines them, the spatial LPIPS map (image-sized) of each pair is averaged
over the pixels inside, respectively outside, the region. AlexNet's receptive fields carry a change
inside the region a few pixels into the map outside it, so even a perfectly disentangled decoder
has a small OCD; `blank=True` (a named option, off by default) sets the other side to 0 (mid grey)
in every image before LPIPS, which removes that leak. mCSD / mOCD: per-class means over images, then
the mean over classes.
"""

from __future__ import annotations

import math
import os
import warnings
from contextlib import contextmanager

import lpips
import torch

from ..latents import LatentLayout
from ..weights import entry, load_state_dict, weight_file

ALEXNET_FILE = entry("alexnet").filename
# lpips' AlexNet slices hold alexnet.features[a:b] under their original indices (slice2.3 = features.3).
_SLICES = {1: range(0, 2), 2: range(2, 5), 3: range(5, 8), 4: range(8, 10), 5: range(10, 12)}


def load_lpips(backbone_weights: str | os.PathLike | None = None,
               device: str | torch.device = "cpu") -> lpips.LPIPS:
    """LPIPS (alex, v0.1) in eval mode with frozen weights; see the module docstring."""
    what = "LPIPS AlexNet backbone"
    trunk = load_state_dict(weight_file("alexnet", backbone_weights, "diversity.lpips_backbone"), what)
    heads = load_state_dict(weight_file("lpips-alex-heads"), "LPIPS linear heads (alex, v0.1)")
    with warnings.catch_warnings():   # lpips still passes torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        # Random trunk and heads (nothing downloaded), then both loaded below with weights_only=True.
        model = lpips.LPIPS(net="alex", version="0.1", pretrained=False, pnet_rand=True, verbose=False)
    slice_of = {i: k for k, idx in _SLICES.items() for i in idx}
    try:
        mapped = {f"slice{slice_of[int(key.split('.')[1])]}.{key.split('.', 1)[1]}": value
                  for key, value in trunk.items() if key.startswith("features.")}
        model.net.load_state_dict(mapped, strict=True)
        for i, lin in enumerate(model.lins):
            lin.load_state_dict({"model.1.weight": heads[f"lin{i}.model.1.weight"]}, strict=True)
    except (KeyError, ValueError, RuntimeError) as e:
        raise ValueError(f"{what}: the weight files do not fit LPIPS' AlexNet ({e})") from e
    return model.eval().requires_grad_(False).to(device)


@contextmanager
def _spatial(model: lpips.LPIPS, on: bool):
    """LPIPS reads `spatial` at every forward: switch it for one call and restore it."""
    before, model.spatial = model.spatial, on
    try:
        yield model
    finally:
        model.spatial = before


def _pairwise(model: lpips.LPIPS, images: torch.Tensor, spatial: bool, batch_size: int) -> torch.Tensor:
    """(K,3,H,W) -> LPIPS of all K(K-1)/2 pairs: (P,) or, if spatial, (P,H,W) maps."""
    if images.shape[0] < 2:
        raise ValueError(f"pairwise LPIPS needs at least 2 images, got {images.shape[0]}")
    device = next(model.parameters()).device
    images = images.to(device=device, dtype=torch.float32)
    pairs = torch.combinations(torch.arange(images.shape[0], device=device), 2)   # (P, 2)
    out = []
    with torch.no_grad(), _spatial(model, spatial):
        for chunk in pairs.split(batch_size):
            d = model(images[chunk[:, 0]], images[chunk[:, 1]])   # (p,1,1,1) or (p,1,H,W)
            out.append(d[:, 0] if spatial else d.flatten())
    return torch.cat(out)


def mean_pairwise_lpips(lpips_model: lpips.LPIPS, images: torch.Tensor, batch_size: int = 16) -> float:
    """Mean LPIPS over all pairs of (K,3,H,W) images in [-1,1]."""
    return float(_pairwise(lpips_model, images, False, batch_size).mean())


def masked_pairwise_lpips(lpips_model: lpips.LPIPS, images: torch.Tensor, mask: torch.Tensor,
                          batch_size: int = 16, blank: bool = False) -> tuple[float, float]:
    """(K,3,H,W) images in [-1,1], (H,W) bool mask -> (inside, outside): the spatial LPIPS map averaged
    over the pixels inside, respectively outside, the mask; mean over pairs. With `blank`, the
    other side is set to 0 in every image first (module docstring). NaN for an empty side."""
    mask = mask.to(device=images.device, dtype=torch.bool)
    if mask.shape != images.shape[2:]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match images {tuple(images.shape[2:])}")
    results = []
    for region in (mask, ~mask):
        if not region.any():
            results.append(math.nan)
            continue
        shown = images * region if blank else images   # (K,3,H,W), zero outside the region
        maps = _pairwise(lpips_model, shown, True, batch_size)   # (P,H,W)
        results.append(float(maps[:, region.to(maps.device)].mean()))
    return results[0], results[1]


def class_diversity(net, lpips_model: lpips.LPIPS, label: torch.Tensor, z: torch.Tensor, k: int,
                    generator: torch.Generator | None = None, instance: torch.Tensor | None = None,
                    classes=None, blank: bool = False, prior=None) -> dict[int, tuple[float, float]]:
    """label (1,1,H,W), z (1,8C,h,w) -> {c: (CSD, OCD)} for every class in `label` (or `classes`).

    For each class c, k images differing only in class c's code (LatentLayout.random_redraw) are
    decoded with `net.decode(label, z, instance)` (put the net in eval mode first).
    """
    layout = LatentLayout.of(net, prior)
    num_classes = layout.num_classes
    present = sorted(int(c) for c in torch.unique(label))
    wanted = present if classes is None else [int(c) for c in classes]
    for c in wanted:
        if c not in present or not 0 <= c < num_classes:
            raise ValueError(f"class {c} is not in the label map or has no code in z "
                             f"({num_classes} classes); present: {present}")
    labels = label[:1].expand(k, -1, -1, -1)   # (k,1,H,W)
    instances = None if instance is None else instance[:1].expand(k, -1, -1, -1)
    out = {}
    with torch.no_grad():
        for c in wanted:
            z_c = layout.random_redraw(z, c, k, generator)                      # only class c differs
            images = net.decode(labels, z_c, instances)                         # (k,3,H,W)
            out[c] = masked_pairwise_lpips(lpips_model, images, label[0, 0] == c, blank=blank)
    return out


def summarize(per_image_results: list[dict[int, tuple[float, float]]]) -> dict:
    """`class_diversity` results of many label maps -> {"per_class": {c: {"csd", "ocd", "images"}},
    "mCSD", "mOCD"}: per class, the mean over the images containing it; then mCSD / mOCD, the
    unweighted mean over classes. NaNs (a class covering a whole image has no outside) are skipped."""
    values: dict[int, list[tuple[float, float]]] = {}
    for result in per_image_results:
        for c, pair in result.items():
            values.setdefault(int(c), []).append(pair)

    def nanmean(xs) -> float:
        xs = [x for x in xs if not math.isnan(x)]
        return sum(xs) / len(xs) if xs else math.nan

    per_class = {c: {"csd": nanmean(p[0] for p in pairs), "ocd": nanmean(p[1] for p in pairs),
                     "images": len(pairs)} for c, pairs in sorted(values.items())}
    return {"per_class": per_class,
            "mCSD": nanmean(v["csd"] for v in per_class.values()),
            "mOCD": nanmean(v["ocd"] for v in per_class.values())}
