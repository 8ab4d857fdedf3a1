"""Small building blocks shared by the GroupDNet networks."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2), the activation used everywhere in GroupDNet and SPADE."""
    return nn.functional.leaky_relu(x, 0.2)


def sn_conv(fin: int, fout: int, kernel: int, *, stride: int = 1, padding: int | None = None,
            groups: int = 1, bias: bool = True) -> nn.Conv2d:
    """Conv2d wrapped in (old-style) spectral normalisation.

    The old-style `torch.nn.utils.spectral_norm` is used on purpose: its state-dict keys
    (`weight_orig`, `weight_u`, `weight_v`) and its eval-mode behaviour (sigma from the stored
    u and v, no power iteration) are exactly those of the authors' checkpoints.
    """
    padding = kernel // 2 if padding is None else padding
    conv = nn.Conv2d(fin, fout, kernel, stride=stride, padding=padding, groups=groups, bias=bias)
    return spectral_norm(conv)


def check_groups(name: str, channels: int, groups: int) -> None:
    """Clear error when a grouped layer cannot split its channels evenly."""
    if groups < 1 or channels % groups:
        raise ValueError(f"{name}: {channels} channels cannot be split into {groups} groups; "
                         "choose widths that are multiples of the group schedule")


@torch.no_grad()
def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """The authors' initialisation: xavier-normal(gain) for conv/linear weights, zero biases,
    N(1, gain) for batch-norm weights (their conditional norms have none, so that rule rarely fires).
    """
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, gain)
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            # spectral-normed layers keep the trainable tensor in `weight_orig`
            weight = getattr(m, "weight_orig", m.weight)
            nn.init.xavier_normal_(weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
