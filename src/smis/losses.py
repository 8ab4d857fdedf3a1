"""GroupDNet's losses (docs/model.md §7), each a small function of tensors.

Discriminator outputs follow `MultiscaleDiscriminator`: one list of layer outputs per scale,
the last being the patch logits. Loss weights (lambda) are applied by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .networks.vgg import VGG19Features

Features = Sequence[Sequence[torch.Tensor]]   # per scale, per layer


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """x in float32, or as it is in float64: the loss terms are never computed in half precision
    (mixed-precision training), and a float64 run (the faithfulness test) stays float64."""
    return x if x.dtype == torch.float64 else x.float()


def _logits(outputs: Features | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Accept per-scale feature lists or per-scale logits; return the logits."""
    return [o[-1] if isinstance(o, (list, tuple)) else o for o in outputs]


def hinge_d_loss(outputs, real: bool) -> torch.Tensor:
    """Discriminator hinge loss, averaged over scales: mean(relu(1 - D)) on real, mean(relu(1 + D))
    on fake."""
    sign = -1.0 if real else 1.0
    logits = _logits(outputs)
    return sum(F.relu(1.0 + sign * x).mean() for x in logits) / len(logits)


def generator_adv_loss(outputs) -> torch.Tensor:
    """Generator's hinge adversarial loss: -mean(D(fake)), averaged over scales."""
    logits = _logits(outputs)
    return sum(-x.mean() for x in logits) / len(logits)


def feature_matching_loss(fake: Features, real: Features) -> torch.Tensor:
    """L1 between D's features of fake and real (real detached), every layer but the logits,
    summed over layers and averaged over scales."""
    total = 0.0
    for fake_scale, real_scale in zip(fake, real):
        for f, r in zip(fake_scale[:-1], real_scale[:-1]):
            total = total + F.l1_loss(f, r.detach())
    return total / len(fake)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) over mu, logvar (B, ...).

    reduction "sum": over every element of the batch (the authors'): the weight a batch's KL
      gets grows with the per-process batch, so a batch other than the authors' per-GPU batch
      changes the KL's share of the loss;
    "image_mean": summed per image, averaged over images: the same share at any batch size.
    """
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    if reduction == "sum":
        return kl
    if reduction == "image_mean":
        return kl / mu.shape[0]
    raise ValueError(f"loss.kld_reduction must be 'sum' or 'image_mean'; got {reduction!r}")


def far_from(mask: torch.Tensor, band: int) -> torch.Tensor:
    """bool mask (..., H, W) -> bool (..., H, W): pixels more than `band` pixels (Chebyshev)
    away from the mask."""
    if band <= 0:
        return ~mask
    flat = mask.float().reshape(-1, 1, *mask.shape[-2:])
    near = F.max_pool2d(flat, 2 * band + 1, stride=1, padding=band) > 0
    return ~near.view(mask.shape)


def isolation_loss(redrawn: torch.Tensor, fake: torch.Tensor, label: torch.Tensor, classes: torch.Tensor,
                   band: int) -> torch.Tensor:
    """Mean absolute change outside class c, beyond `band` pixels, between `redrawn` (decoded
    with class c's code re-drawn) and `fake` (treated as fixed): zero when re-drawing c leaves
    the rest alone. redrawn, fake (B,3,H,W); label (B,1,H,W) ids; classes (B,) the c per image."""
    far = far_from(label == classes.view(-1, 1, 1, 1), band)                    # (B,1,H,W)
    change = (redrawn - fake.detach()).abs().mean(1, keepdim=True)              # (B,1,H,W)
    return (change * far).sum() / far.sum().clamp(min=1)


class VGGLoss(nn.Module):
    """Perceptual loss: sum_i w_i * L1(VGG_i(fake), VGG_i(real)) over relu1_1 ... relu5_1.

    imagenet_normalize: map [-1,1] images to ImageNet statistics first. The authors feed the
      [-1,1] images to VGG as they are, so the faithful setting is False.
    """

    LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
    MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

    def __init__(self, weights=None, imagenet_normalize: bool = False):
        super().__init__()
        self.vgg = VGG19Features(weights)
        self.imagenet_normalize = imagenet_normalize
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1), persistent=False)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2 - self.mean) / self.std if self.imagenet_normalize else x

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        f_feats = self.vgg(self._prepare(fake))
        with torch.no_grad():
            r_feats = self.vgg(self._prepare(real))
        return sum(w * F.l1_loss(f, r) for w, f, r in zip(self.LAYER_WEIGHTS, f_feats, r_feats))
