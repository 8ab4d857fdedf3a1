"""GroupDNet: the three networks behind one small API (encode / decode / discriminate).

Callers pass class-id label maps; the one-hot maps and Cityscapes instance edges are built
here, on the device (docs/model.md §2).
"""

from __future__ import annotations

import torch
from torch import nn

from .discriminator import MultiscaleDiscriminator
from .encoder import GroupEncoder
from .generator import GroupDNetGenerator
from .layers import init_weights
from .presets import GroupDNetConfig
from .prior import AppearancePrior
from .reference import authors_encode


def instance_edges(instance: torch.Tensor) -> torch.Tensor:
    """(B,1,H,W) instance ids -> (B,1,H,W) float, 1 where a 4-neighbour has another id."""
    edge = torch.zeros_like(instance, dtype=torch.bool)
    dx = instance[..., :, 1:] != instance[..., :, :-1]
    dy = instance[..., 1:, :] != instance[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    return edge.float()


def check_image_size(height: int, width: int, encoding: bool = True) -> None:
    """GroupDNet's size rule: z is upsampled 6 times, so both sides are multiples of 64; and the
    encoder's last instance norm needs at least 2 latent cells, so an image to encode (or to train
    on) has at least 64x128 pixels. Decoding alone works from 64x64."""
    if height < 64 or width < 64 or height % 64 or width % 64:
        raise ValueError(f"image size {height}x{width}: GroupDNet needs both sides to be multiples of 64 "
                         "(64 at least)")
    if encoding and height * width < 64 * 128:
        raise ValueError(f"image size {height}x{width}: the encoder needs at least 64x128 pixels (at "
                         "least 2 latent cells for its last instance norm)")


def check_labels(label: torch.Tensor, num_classes: int, values: bool = True) -> None:
    """Clear errors for a label map that is not (B,1,H,W) integer ids in [0, num_classes)
    (values=False: the shape and type only, no read-back of the ids)."""
    if label.dim() != 4 or label.shape[1] != 1 or label.dtype.is_floating_point:
        raise ValueError(f"label must be an integer tensor of shape (B,1,H,W); got "
                         f"{label.dtype} {tuple(label.shape)}")
    if not values:
        return
    low, high = int(label.min()), int(label.max())   # one sync per batch, not per class
    if low < 0 or high >= num_classes:
        raise ValueError(f"label ids must lie in [0, {num_classes - 1}] for {num_classes} classes; "
                         f"found values in [{low}, {high}]")


RANGE_TOLERANCE = 1e-3     # round-off allowed beyond [-1, 1]


def check_image(image: torch.Tensor, label: torch.Tensor, values: bool = True) -> None:
    """Clear errors for an image that is not (B,3,H,W) floats in [-1, 1] beside a (B,1,H,W) label
    map of the same batch and size (one min/max per call; values=False: no range check)."""
    if (image.dim() != 4 or image.shape[1] != 3 or not image.dtype.is_floating_point
            or label.dim() != 4 or image.shape[0] != label.shape[0] or image.shape[2:] != label.shape[2:]):
        raise ValueError(f"image {image.dtype} {tuple(image.shape)} and label {label.dtype} "
                         f"{tuple(label.shape)} do not match: expected image (B,3,H,W) floats and "
                         "label (B,1,H,W) class ids of the same batch size B and size HxW")
    if image.numel() == 0 or not values:
        return
    low, high = (float(v) for v in torch.aminmax(image.detach()))
    if low < -1 - RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise ValueError(f"image values must lie in [-1, 1]; found values in [{low:.4g}, {high:.4g}] "
                         "(images in [0, 255]: x / 127.5 - 1; in [0, 1]: x * 2 - 1)")


def one_hot(label: torch.Tensor, num_classes: int, dtype=torch.float32, check: bool = True) -> torch.Tensor:
    """(B,1,H,W) int64 class ids -> (B,C,H,W) one-hot (check: the ids' range, see check_labels)."""
    check_labels(label, num_classes, values=check)
    out = torch.zeros(label.shape[0], num_classes, *label.shape[2:], device=label.device,
                      dtype=dtype)
    return out.scatter_(1, label.long(), 1.0)


class GroupDNet(nn.Module):
    """Generator, class-wise encoder and (optionally) the multi-scale discriminator."""

    def __init__(self, config: GroupDNetConfig, with_discriminator: bool = True,
                 init_gain: float | None = 0.02):
        super().__init__()
        c = self.config = config
        self.generator = GroupDNetGenerator(
            c.num_classes, c.widths, c.fc_groups, c.group_schedule, c.norm_rule,
            c.instance_edges, c.unused_up_4, c.latent_per_class)
        self.encoder = GroupEncoder(c.num_classes, c.encoder_width, c.latent_per_class,
                                    c.encoder_mean_colour)
        self.discriminator = (MultiscaleDiscriminator(c.label_channels + 3, c.ndf,
                                                      c.num_discriminators, c.discriminator_layers)
                              if with_discriminator else None)
        if init_gain is not None:   # None: leave PyTorch's defaults (e.g. before loading weights)
            init_weights(self, init_gain)
        # the DatasetSpec of the data it generates (classes, palette, label-file rule), set by
        # load_model / load_official and stored by save_model; None when unknown
        self.spec = None
        # the fitted appearance prior (prior.py), stored in model files; None: z ~ N(0, I) only
        self.prior = None
        # "present": encode only the classes each image shows; "authors": their computation over
        # every class (reference.py), the same values, slower
        self.encode_paths = "present"
        # check the values of the inputs (label ids in range, images in [-1, 1]): one read-back
        # each, which on a GPU waits for every queued kernel; the training module turns it off,
        # as its datasets check every label map on the CPU and its images come out in [-1, 1]
        self.check_values = True

    # --- inputs --------------------------------------------------------------------------
    def label_input(self, label: torch.Tensor, instance: torch.Tensor | None = None,
                    dtype=torch.float32) -> torch.Tensor:
        """Class ids (B,1,H,W) [+ instance ids] -> what G and D read: (B, C[+1], H, W)."""
        x = one_hot(label, self.config.num_classes, dtype, check=self.check_values)
        if self.config.instance_edges:
            if instance is None:
                raise ValueError(f"the {self.config.name!r} model needs instance maps "
                                 "(instance=...) to build its instance-edge channel")
            x = torch.cat([x, instance_edges(instance).to(dtype)], 1)
        return x

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """(channels, h, w) of z for images of this size: 6 upsamplings, so h = H/64."""
        check_image_size(height, width, encoding=False)
        return self.config.latent_channels, height // 64, width // 64

    def sample_z(self, batch: int, height: int, width: int, generator=None, device=None,
                 prior: AppearancePrior | None = None):
        """Random codes for images of this size: (batch, 8C, H/64, W/64), z ~ N(0, I) (the
        authors'), or each class's code drawn from `prior` (an AppearancePrior, e.g. self.prior)."""
        shape = self.latent_shape(height, width)
        if prior is None:
            return torch.randn(batch, *shape, generator=generator, device=device)
        _, h, w = shape
        draws = [prior.draw(c, batch, h, w, generator) for c in range(self.config.num_classes)]
        return torch.cat(draws, 1).to(device)                               # (batch, k*C, h, w)

    # --- the public API --------------------------------------------------------------------
    def encode(self, image: torch.Tensor, label: torch.Tensor, instance=None):
        """image (B,3,H,W) in [-1,1], label (B,1,H,W) ids -> mu, logvar (B, 8C, H/64, W/64).

        Only the classes present in each image are encoded (`GroupEncoder.encode_present`); the
        result equals the authors' full computation (`encode_paths = "authors"`, reference.py).
        `instance` is accepted for symmetry; the encoder only uses the semantic classes.
        """
        check_image(image, label, self.check_values)
        check_labels(label, self.config.num_classes, self.check_values)
        _, h, w = self.latent_shape(*image.shape[2:])
        if h * w < 2:
            raise ValueError(f"the encoder needs images of at least 64x128 pixels: at "
                             f"{image.shape[2]}x{image.shape[3]} its last instance norm would "
                             "see a single cell")
        if self.encode_paths == "authors":
            return authors_encode(self, image, label)
        return self.encoder.encode_present(image, label.long())

    def decode(self, label: torch.Tensor, z: torch.Tensor, instance=None) -> torch.Tensor:
        """label (B,1,H,W) ids, z (B, 8C, H/64, W/64) -> image (B,3,H,W) in [-1,1]."""
        expected = (label.shape[0], *self.latent_shape(*label.shape[2:]))
        if z.dim() != 4 or tuple(z.shape) != expected:
            raise ValueError(f"z has shape {tuple(z.shape)} but a {tuple(label.shape)} label map needs "
                             f"{expected}: {self.config.latent_per_class} channels per class for "
                             f"{self.config.num_classes} classes on an H/64 x W/64 grid")
        return self.generator(self.label_input(label, instance, z.dtype), z)

    def discriminate(self, label: torch.Tensor, image: torch.Tensor, instance=None):
        """label (B,1,H,W) ids, image (B,3,H,W) in [-1,1] -> one (B,1,h,w) logits tensor per
        discriminator scale."""
        check_image(image, label, self.check_values)
        return [feats[-1] for feats in self.discriminator_features(label, image, instance)]

    def discriminator_features(self, label, image, instance=None):
        """-> per scale, every layer's output (feature matching uses all but the last)."""
        if self.discriminator is None:
            raise RuntimeError("this GroupDNet was built without its discriminator")
        x = torch.cat([self.label_input(label, instance, image.dtype), image], 1)
        return self.discriminator(x)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator=None) -> torch.Tensor:
        """z = mu + eps * sigma, eps ~ N(0, I) (from `generator` when given)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + eps * torch.exp(0.5 * logvar)
