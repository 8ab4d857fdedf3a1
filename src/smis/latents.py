"""The latent layout of a GroupDNet, and the code edits every application is made of (docs/model.md §9).

z has shape (B, k*C, h, w) for images of H x W (h = H/64, w = W/64): class c owns the k channels
k*c ... k*c + k-1 (k = the model's latent_per_class, 8 for the authors' presets). Every
application is an edit of those channels:

    re-draw a class      layout.redraw(z, [c], seeds)          new codes for class c only
    appearance transfer  layout.replace(z, [c], other)         class c's code taken from another z
    style morphing       layout.interpolate(a, b, steps, [c])  a straight path between two codes

Seeded codes depend only on (seed, class, h, w): "car with seed 7" is the same car in any batch,
next to any other classes. New codes are drawn from N(0, I) (the authors'), or from the model's
fitted appearance prior when the layout has one (`prior`, smis.networks.prior).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .networks.prior import AppearancePrior

MAX_SEED = 2**32 - 1        # seeds name looks: integers 0 ... MAX_SEED
MAX_STEPS = 256             # images in one interpolation (each is a decode)


def check_seeds(seeds, what: str = "seeds") -> list[int]:
    """A list of seeds, each an integer in [0, MAX_SEED] (a float, a bool, a negative or larger
    number is an error, not silently another seed)."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence | range | np.ndarray):
        raise ValueError(f"{what}={seeds!r}: expected a list of integers in [0, {MAX_SEED}]")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or not 0 <= int(s) <= MAX_SEED:
            raise ValueError(f"{what}: {s!r} is not a seed; expected integers in [0, {MAX_SEED}]")
        out.append(int(s))
    if not out:
        raise ValueError(f"{what}: no seed given; expected at least one integer in [0, {MAX_SEED}]")
    return out


def check_steps(steps, what: str = "steps") -> int:
    """The images of one interpolation, both ends included: an integer from 2 to MAX_STEPS (each
    is a decode: the bound keeps one call's work finite)."""
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or not 2 <= steps <= MAX_STEPS:
        raise ValueError(f"{what}={steps!r}: expected an integer from 2 (both ends) to {MAX_STEPS}")
    return int(steps)


@dataclass(frozen=True)
class LatentLayout:
    """num_classes: C; per_class: k, the channels each class owns; prior: where new codes come
    from (None: N(0, I))."""

    num_classes: int
    per_class: int
    prior: AppearancePrior | None = field(default=None, compare=False)

    @classmethod
    def of(cls, net, prior: AppearancePrior | None = None) -> LatentLayout:
        """The layout of a GroupDNet (or of its GroupDNetConfig), drawing from `prior`."""
        config = getattr(net, "config", net)
        return cls(config.num_classes, config.latent_per_class, prior)

    @property
    def channels(self) -> int:
        return self.num_classes * self.per_class

    def class_slice(self, c: int) -> slice:
        """The channels of z that class c owns."""
        if not 0 <= c < self.num_classes:
            raise ValueError(f"class id {c} is outside [0, {self.num_classes})")
        return slice(self.per_class * c, self.per_class * (c + 1))

    def class_code(self, seed: int, c: int, h: int, w: int) -> torch.Tensor:
        """(k, h, w) code of class c for `seed`: a function of (seed, c, h, w) and the prior alone,
        drawn on the CPU so every device gets the same numbers."""
        (seed,) = check_seeds([seed], "seed")
        state = np.random.SeedSequence([seed, c]).generate_state(1, np.uint64)[0]
        g = torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)
        if self.prior is not None:
            return self.prior.draw(c, 1, h, w, g)[0]
        return torch.randn(self.per_class, h, w, generator=g)

    def sample(self, seed: int, h: int, w: int) -> torch.Tensor:
        """(1, k*C, h, w): every class's code for `seed`."""
        return torch.cat([self.class_code(seed, c, h, w) for c in range(self.num_classes)])[None]

    def replace(self, z: torch.Tensor, classes: Sequence[int], source: torch.Tensor) -> torch.Tensor:
        """z (B, k*C, h, w) with the channels of `classes` taken from source (B or 1, k*C, h, w).
        A new tensor; z is unchanged."""
        self._check(z, "z")
        self._check(source, "source")
        if source.shape[2:] != z.shape[2:]:
            raise ValueError(f"source codes are on a {tuple(source.shape[2:])} grid, "
                             f"z on {tuple(z.shape[2:])}")
        out = z.clone()
        source = source.to(z).expand_as(z)
        for c in classes:
            ch = self.class_slice(c)
            out[:, ch] = source[:, ch]
        return out

    def redraw(self, z: torch.Tensor, classes: Sequence[int], seeds: Sequence[int]) -> torch.Tensor:
        """(1, k*C, h, w) -> (len(seeds), k*C, h, w): z with the codes of `classes` drawn anew from
        each seed; every other channel stays bit-identical."""
        self._check(z, "z")
        h, w = z.shape[2:]
        fresh = torch.stack([self.sample_classes(s, classes, h, w) for s in seeds]).to(z)
        return self.replace(z[:1].expand(len(seeds), -1, -1, -1), classes, fresh)

    def sample_classes(self, seed: int, classes: Sequence[int], h: int, w: int) -> torch.Tensor:
        """(k*C, h, w): the seeded codes of `classes`, zeros elsewhere (for `replace`)."""
        out = torch.zeros(self.channels, h, w)
        for c in classes:
            out[self.class_slice(c)] = self.class_code(seed, c, h, w)
        return out

    def random_redraw(self, z: torch.Tensor, c: int, n: int, generator: torch.Generator | None = None,
                      ) -> torch.Tensor:
        """(1, k*C, h, w) -> (n, k*C, h, w): class c's code drawn n times from `generator` (for
        metrics and figures, where a stream of draws matters, not named seeds; with a prior, a
        CPU generator)."""
        self._check(z, "z")
        out = z[:1].repeat(n, 1, 1, 1)
        ch = self.class_slice(c)
        if self.prior is not None:
            out[:, ch] = self.prior.draw(c, n, *z.shape[2:], generator).to(out)
        else:
            out[:, ch] = torch.randn(out[:, ch].shape, generator=generator, device=z.device, dtype=z.dtype)
        return out

    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int,
                    classes: Sequence[int] | None = None) -> torch.Tensor:
        """(1, k*C, h, w) x2 -> (steps, k*C, h, w): from a to b in equal steps, for every class or
        only `classes` (the others stay at a)."""
        self._check(a, "a")
        self._check(b, "b")
        steps = check_steps(steps)
        t = torch.linspace(0, 1, steps, device=a.device, dtype=a.dtype).view(steps, 1, 1, 1)
        mixed = torch.lerp(a[:1], b[:1].to(a), t)
        if classes is None:
            return mixed
        return self.replace(a[:1].expand(steps, -1, -1, -1), classes, mixed)

    def _check(self, z: torch.Tensor, name: str) -> None:
        if z.dim() != 4 or z.shape[1] != self.channels:
            raise ValueError(f"{name} must be (B, {self.channels}, h, w) for {self.num_classes} classes x "
                             f"{self.per_class} channels; got {tuple(z.shape)}")
