"""Class-wise VAE encoder (docs/model.md §3): grouped convs keep every class's crop in its own group.

Every layer is grouped by class, so a class's mu/logvar depend on its own crop only. An absent
class has an all-zero crop, and with bias-free convs, instance norm (0 -> 0) and LeakyReLU
(0 -> 0) its features stay exactly zero up to the heads: its mu/logvar are the heads' biases.
`GroupEncoder.encode_present` therefore runs the encoder on the present (image, class) pairs
only and fills in the biases for the rest; `GroupEncoder.forward` is the authors' computation on
the full crops tensor, kept as the reference.

The authors' encoder cannot see how bright a flat region is: every layer before the heads is
positively homogeneous (bias-free convs, LeakyReLU) and instance norm divides the scale out, so a
class crop and the same crop times 0.5 give one code. `mean_colour=True` (not the authors') adds
each class's mean colour to its mu through a per-class linear map that starts at zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.spectral_norm import SpectralNorm

from .crops import all_crops, class_mean_colours, present_crops
from .layers import check_groups, lrelu, sn_conv

# encode_present falls back to the full path above this share of (image, class) pairs present: on a
# CPU at the DeepFashion width (8 classes, 32 channels per class) the pairs' path is 1.2x faster at
# 75% and 1.3x slower at 100% (the deep layers' weight copies dominate)
FULL_PATH_SHARE = 0.75

# the mean-colour path starts at zero (so a network trained without it can be trained on with
# it) and Adam moves each weight by about lr per step: at lr 1e-4 its 3 weights per code channel
# would need ~10^4 steps to reach mu's scale (~0.5). Scaling its output multiplies its learning
# rate (StyleGAN's lr multiplier); with 10, 128 steps moved it by 0.01 only (a random walk)
MEAN_COLOUR_GAIN = 100.0


def _forward_weight(conv: nn.Conv2d) -> torch.Tensor:
    """The weight `conv(x)` would use, with the same side effects.

    A spectral-normed conv computes its weight in a forward pre-hook: weight_orig / sigma, and in
    training mode one power iteration that updates the `weight_u`/`weight_v` buffers first. Calling
    that hook here, once per encoder forward, keeps the buffers (and so checkpoints and exact
    resume) identical to a full forward.
    """
    for hook in conv._forward_pre_hooks.values():
        if isinstance(hook, SpectralNorm):
            hook(conv, ())
    return conv.weight


def _class_conv(conv: nn.Conv2d, x: torch.Tensor, c: torch.Tensor, num_classes: int) -> torch.Tensor:
    """`conv` (grouped by class) applied to pairs: x (1, P*fin/C, h, w), group p uses class c[p]'s
    weights -> (1, P*fout/C, h', w'). Classes may repeat (the same class in several images)."""
    weight = _forward_weight(conv)                                          # (fout, fin/C, k, k)
    weight = weight.unflatten(0, (num_classes, -1))[c].flatten(0, 1)        # (P*fout/C, fin/C, k, k)
    bias = None if conv.bias is None else conv.bias.view(num_classes, -1)[c].flatten()
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, groups=len(c))


class GroupEncoder(nn.Module):
    """Class-wise crops (B, 3C, H, W) -> mu, logvar (B, latent_per_class*C, H/64, W/64).

    num_classes: C, the number of groups (one per semantic class).
    width: e, the first layer's width; later layers use 2e, 4e, 8e, 8e, 8e.
      Authors: 256 (DeepFashion), 350 (Cityscapes), 604 = 151*4 (ADE20K).
    latent_per_class: the code channels each class owns.
    mean_colour: add a per-class linear map of the class's mean colour to its mu (not the authors').
    Six stride-2 convs, so the codes are on the generator's H/64 x W/64 grid (the authors' code
    drops one for crops under 256 pixels, which their generator then cannot read).
    """

    NUM_LAYERS = 6

    def __init__(self, num_classes: int, width: int, latent_per_class: int = 8, mean_colour: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.latent_per_class = latent_per_class
        widths = [3 * num_classes] + [width * m for m in (1, 2, 4, 8, 8, 8)]
        for i, (fin, fout) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            check_groups(f"encoder layer{i}", fout, num_classes)
            # authors' key layout: layerN.0 = spectral-normed conv without bias, then InstanceNorm
            conv = sn_conv(fin, fout, 3, stride=2, padding=1, groups=num_classes, bias=False)
            self.add_module(f"layer{i}", nn.Sequential(conv, nn.InstanceNorm2d(fout, affine=False)))
        latent = latent_per_class * num_classes
        self.fc_mu = nn.Conv2d(widths[-1], latent, 3, padding=1, groups=num_classes)
        self.fc_var = nn.Conv2d(widths[-1], latent, 3, padding=1, groups=num_classes)
        # (C, latent_per_class, RGB): class c's mean colour -> its mu channels (a plain parameter,
        # so the authors' conv initialisation leaves it at zero)
        self.mean_colour_to_mu = (nn.Parameter(torch.zeros(num_classes, latent_per_class, 3))
                                  if mean_colour else None)

    def forward(self, crops: torch.Tensor, mean_colours: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """crops (B, 3C, H, W) [, mean_colours (B, C, 3): needed with mean_colour=True]."""
        x = crops                                                   # (B, 3C, H, W)
        for i in range(1, self.NUM_LAYERS + 1):
            x = lrelu(getattr(self, f"layer{i}")(x))                # (B, 8e, H/64, W/64) at the end
        return self._add_mean_colour(self.fc_mu(x), mean_colours), self.fc_var(x)

    def _add_mean_colour(self, mu: torch.Tensor, mean_colours: torch.Tensor | None) -> torch.Tensor:
        """mu (B, L*C, h, w) + the mean-colour path, the same on every cell (an absent class's
        mean colour is zero, so its mu stays the head's bias)."""
        if self.mean_colour_to_mu is None:
            return mu
        if mean_colours is None:
            raise ValueError("this encoder (mean_colour=True) needs each class's mean colour: "
                             "mean_colours (B, C, 3), e.g. from class_mean_colours(image, label, C)")
        shift = torch.einsum("clk,bck->bcl", self.mean_colour_to_mu, mean_colours.to(mu.dtype))
        return mu + MEAN_COLOUR_GAIN * shift.flatten(1)[..., None, None]

    def encode_present(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image (B,3,H,W), label (B,1,H,W) int64 ids -> mu, logvar (B, latent_per_class*C, h, w).

        Equals `self(class_crops(image, label, C))` (to float round-off, gradients included) but
        computes only the P present (image, class) pairs: each pair is one group of a batch-1
        grouped conv with that class's weights. Above FULL_PATH_SHARE of the B*C pairs it is
        the full path.
        """
        B, C = image.shape[0], self.num_classes
        mean_colours = (class_mean_colours(image, label, C)        # (B, C, 3)
                        if self.mean_colour_to_mu is not None else None)
        crops, b, c = present_crops(image, label, C)                # (P,3,H,W), (P,), (P,)
        if len(c) > FULL_PATH_SHARE * B * C:
            # (almost) every pair present: the full path does no more work, and reads each class's
            # weights once, where the pairs' grouped conv would copy them for every image
            return self(all_crops(crops, b, c, B, C), mean_colours)
        x = crops.reshape(1, -1, *crops.shape[2:])                  # (1, 3P, H, W)
        for i in range(1, self.NUM_LAYERS + 1):
            conv, norm = getattr(self, f"layer{i}")
            # per-channel instance norm (affine=False): the same statistics as in the full path
            x = lrelu(F.instance_norm(_class_conv(conv, x, c, C), eps=norm.eps))
        mu, logvar = (self._scatter(_class_conv(head, x, c, C), head.bias, b, c, B)
                      for head in (self.fc_mu, self.fc_var))
        return self._add_mean_colour(mu, mean_colours), logvar

    def _scatter(self, values: torch.Tensor, bias: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                 batch: int) -> torch.Tensor:
        """values (1, L*P, h, w) of the present pairs -> (B, L*C, h, w), the absent pairs holding
        the head's bias (what the full path computes from their zero features)."""
        C, L = self.num_classes, self.latent_per_class
        h, w = values.shape[2:]
        # bias in the output dtype: under autocast the full path adds a low-precision bias too
        full = bias.to(values.dtype).view(1, C, L, 1, 1).expand(batch, C, L, h, w)
        return full.index_put((b, c), values.view(-1, L, h, w)).view(batch, C * L, h, w)
