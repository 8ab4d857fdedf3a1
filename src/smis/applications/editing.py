"""Edits of the latent code z (B, 8C, h, w): class c owns channels 8c ... 8c+7 (SPEC §9).

Each function returns new codes; decode them with `net.decode(label, z)`.
"""

from __future__ import annotations

import torch


def class_channels(c: int, per_class: int = 8) -> slice:
    """The channels of z that belong to class c."""
    return slice(per_class * c, per_class * (c + 1))


def resample_class(z: torch.Tensor, c: int, n: int, generator: torch.Generator | None = None,
                   per_class: int = 8) -> torch.Tensor:
    """(1, 8C, h, w) -> (n, 8C, h, w): n copies of z with class c's code drawn anew from N(0, I)."""
    out = z[:1].repeat(n, 1, 1, 1)
    ch = class_channels(c, per_class)
    fresh = torch.randn(out[:, ch].shape, generator=generator, device=z.device, dtype=z.dtype)
    out[:, ch] = fresh
    return out


def transfer_class(z_target: torch.Tensor, z_reference: torch.Tensor, c: int,
                   per_class: int = 8) -> torch.Tensor:
    """Appearance mixture: the target's code with class c's code copied from the reference."""
    out = z_target.clone()
    ch = class_channels(c, per_class)
    out[:, ch] = z_reference[:, ch].expand_as(out[:, ch])
    return out


def interpolate_codes(z_a: torch.Tensor, z_b: torch.Tensor, steps: int, classes=None,
                      per_class: int = 8) -> torch.Tensor:
    """Style morphing: (1, 8C, h, w) x2 -> (steps, 8C, h, w) from z_a to z_b, for every class or
    only the given ones (the others stay at z_a)."""
    t = torch.linspace(0, 1, steps, device=z_a.device, dtype=z_a.dtype).view(steps, 1, 1, 1)
    mixed = torch.lerp(z_a[:1], z_b[:1], t)
    if classes is None:
        return mixed
    out = z_a[:1].repeat(steps, 1, 1, 1)
    for c in classes:
        ch = class_channels(c, per_class)
        out[:, ch] = mixed[:, ch]
    return out
