"""The appearance prior (not the authors'): a class's new look drawn from the training set's looks.

The authors sample every class code from N(0, I). A model trained with a small KL weight encodes
looks precisely, but its codes are then far from N(0, I), and looks drawn from it are about half
as varied as the data (the `looks` metric of smis.evaluate measures this). The appearance prior
draws from the codes themselves: per class, the encoded means (mu) of training images that show
the class, on the model's native latent grid. A draw picks one of them uniformly, adds Gaussian
noise of `bandwidth` times the class's per-element spread (a kernel density estimate; bandwidth 0
keeps the stored code) and moves the result towards the class's mean code by `temperature`
(1: as encoded; lower trades variety for looks nearer the data's usual ones, as truncation does in
GANs: the decoder paints some rare codes in colours outside the data's range). So a sampled scene
combines looks seen in training, one training image per class, and the decoder paints each as it
learned to.

A model file carries its prior (`smis-fit-prior` fits and stores one); `prior=` in the
Synthesizer, smis-generate, the studio and smis.evaluate picks it (see `choose_prior`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

PRIOR_CHOICES = ("auto", "fitted", "normal")
# smis-fit-prior's default: with temperature 1 the shipped model drew looks as varied as the data
# (looks ratio 0.99) but 12% of them outside the data's colour range (coverage 0.88); 0.8 keeps
# the variety near the data's with more inside it (docs/shipped-model.md)
DEFAULT_TEMPERATURE = 0.8
MAX_PER_CLASS = 512       # stored codes per class: Cityscapes (35 classes, a 4x8 grid) ~9 MiB in fp16


class AppearancePrior:
    """codes: {class id: (n, k, h0, w0) encoded means}; classes without codes are drawn from
    N(0, I). bandwidth: the kernel's width, in units of the class's per-element spread;
    temperature: the draws' distance from the class's mean code, relative to the codes' own."""

    def __init__(self, codes: dict[int, torch.Tensor], bandwidth: float = 0.0, temperature: float = 1.0):
        if not codes:
            raise ValueError("an appearance prior needs the codes of at least one class")
        for name, value in (("bandwidth", bandwidth), ("temperature", temperature)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1):
                raise ValueError(f"{name}={value!r}: expected a number in [0, 1]")
        self.codes = {int(c): v.float() for c, v in codes.items()}
        shapes = {tuple(v.shape[1:]) for v in self.codes.values()}
        if len(shapes) != 1 or any(v.dim() != 4 or len(v) == 0 for v in self.codes.values()):
            raise ValueError(f"prior codes must all be (n, k, h, w) on one grid; got {sorted(shapes)}")
        self.bandwidth, self.temperature = float(bandwidth), float(temperature)
        self.mean = {c: v.mean(0) for c, v in self.codes.items()}                    # (k, h0, w0)
        self.spread = {c: v.std(0, unbiased=False) for c, v in self.codes.items()}   # (k, h0, w0)

    @property
    def grid(self) -> tuple[int, int]:
        """(h0, w0): the latent grid the codes were encoded on (the model's native size / 64)."""
        return tuple(next(iter(self.codes.values())).shape[2:])

    def draw(self, c: int, n: int, h: int, w: int, generator: torch.Generator | None = None,
             ) -> torch.Tensor:
        """(n, k, h, w): n looks of class c for an h x w latent grid (the stored codes resized
        bilinearly when the grid differs). A class the prior has no codes of: N(0, I)."""
        k = next(iter(self.codes.values())).shape[1]
        if c not in self.codes:
            return torch.randn(n, k, h, w, generator=generator)
        bank = self.codes[c]
        picked = bank[torch.randint(len(bank), (n,), generator=generator)]          # (n, k, h0, w0)
        if self.bandwidth > 0:
            noise = torch.randn(picked.shape, generator=generator)
            picked = picked + self.bandwidth * self.spread[c] * noise
        if self.temperature != 1:
            picked = torch.lerp(self.mean[c], picked, self.temperature)
        if (h, w) != self.grid:
            picked = F.interpolate(picked, size=(h, w), mode="bilinear", align_corners=False)
        return picked

    def to_dict(self) -> dict:
        """What a model file stores: the codes in fp16 (decodes differ by < 1e-2 from fp32)."""
        classes = sorted(self.codes)
        return {"classes": torch.tensor(classes),
                "counts": torch.tensor([len(self.codes[c]) for c in classes]),
                "codes": torch.cat([self.codes[c] for c in classes]).half(),
                "bandwidth": self.bandwidth, "temperature": self.temperature}

    @classmethod
    def from_dict(cls, payload: dict) -> AppearancePrior:
        chunks = payload["codes"].float().split(payload["counts"].tolist())
        return cls(dict(zip(payload["classes"].tolist(), chunks)), payload["bandwidth"],
                   payload.get("temperature", 1.0))


@torch.no_grad()
def fit_prior(net, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], max_images: int = 512,
              max_per_class: int = MAX_PER_CLASS, min_area: float = 0.01, bandwidth: float = 0.0,
              temperature: float = 1.0, progress=None) -> AppearancePrior:
    """Encode up to `max_images` training images, batches of (image (B,3,H,W), label (B,1,H,W)),
    all of one size, and keep each class's code from the images where it covers at least
    `min_area` of the pixels (at most `max_per_class` per class, the first ones met).
    progress(images so far) is called after each batch."""
    C, k = net.config.num_classes, net.config.latent_per_class
    codes: dict[int, list[torch.Tensor]] = {}
    seen, grid = 0, None
    for image, label in batches:
        image, label = image[:max_images - seen], label[:max_images - seen]
        mu, _ = net.encode(image, label)                                   # (B, k*C, h, w)
        if grid is not None and mu.shape[2:] != grid:
            raise ValueError(f"the training images change size ({tuple(image.shape[2:])} after "
                             "others): fit the prior on images of one size (dataset.resize)")
        grid = mu.shape[2:]
        mu = mu.float().cpu().unflatten(1, (C, k))                          # (B, C, k, h, w)
        area = F.one_hot(label.cpu()[:, 0], C).float().mean((1, 2))        # (B, C)
        for i, c in torch.nonzero(area >= min_area).tolist():
            kept = codes.setdefault(c, [])
            if len(kept) < max_per_class:
                kept.append(mu[i, c])
        seen += len(image)
        if progress is not None:
            progress(seen)
        if seen >= max_images:
            break
    if not codes:
        raise ValueError(f"no class covers {min_area:.0%} of any of the {seen} images: nothing to fit")
    return AppearancePrior({c: torch.stack(v) for c, v in codes.items()}, bandwidth, temperature)


def choose_prior(net, prior: str = "auto") -> AppearancePrior | None:
    """The prior to sample from: `auto` the model's fitted prior when it has one (else None, for
    N(0, I)); `fitted` the model's, an error if it has none; `normal` None (the authors')."""
    if prior not in PRIOR_CHOICES:
        raise ValueError(f"prior={prior!r}: expected one of {', '.join(PRIOR_CHOICES)}")
    fitted = getattr(net, "prior", None)
    if prior == "fitted" and fitted is None:
        raise ValueError("prior=fitted: this model has no fitted appearance prior; fit one with "
                         "smis-fit-prior MODEL -o OUT, or use prior=normal (N(0, I))")
    return None if prior == "normal" else fitted
