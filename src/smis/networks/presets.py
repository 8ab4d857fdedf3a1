"""Architecture presets: every dataset difference of GroupDNet expressed as data (docs/model.md §4-§6).

`GroupDNetConfig` holds everything needed to build the three networks. The preset functions
give the authors' configurations; their keyword arguments let the reference files' reduced
widths (and your own class count) reuse the same structure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class GroupDNetConfig:
    name: str                          # preset family: deepfashion | cityscapes | ade20k | small
    num_classes: int                   # C: one-hot channels = groups (ADE20K counts "unknown")
    widths: tuple[int, ...]            # generator: fc output, then head_0 ... up_3 outputs (8)
    fc_groups: int
    group_schedule: tuple[int, ...]    # groups of head_0, G_middle_0, G_middle_1, up_0 ... up_3
    norm_rule: str                     # conditional-norm widths, see normalization.NORM_RULES
    encoder_width: int                 # e: encoder widths e, 2e, 4e, 8e, 8e, 8e
    instance_edges: bool = False       # Cityscapes: instance-edge channel in G and D inputs
    unused_up_4: bool = False          # ADE20K: the authors' never-run up_4 block
    latent_per_class: int = 8          # z channels owned by each class
    encoder_mean_colour: bool = False  # not the authors': each class's mean colour also feeds its mu
    ndf: int = 64                      # discriminator base width
    num_discriminators: int = 2
    discriminator_layers: int = 4
    extra: dict = field(default_factory=dict, compare=False)  # free-form notes (e.g. source)

    @property
    def label_channels(self) -> int:
        """Channels of the label input fed to G and D: one-hot [+ instance edges]."""
        return self.num_classes + int(self.instance_edges)

    @property
    def latent_channels(self) -> int:
        return self.latent_per_class * self.num_classes

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GroupDNetConfig:
        d = dict(d)
        # files of smis 0.1 name the encoder depth; the generator always upsamples 6 times, so
        # only the matching 6 encoder layers give codes of the right size
        if d.pop("encoder_layers", 6) != 6:
            raise ValueError("encoder_layers must be 6 (the generator upsamples z 6 times)")
        for key in ("widths", "group_schedule"):
            d[key] = tuple(d[key])
        return cls(**d)


def deepfashion(num_classes: int = 8, ngf: int = 160, encoder_width: int = 256,
                ndf: int = 64) -> GroupDNetConfig:
    """DeepFashion (C=8): groups C, C, C, C/2, C/2, C/4, C/4, C/8; hidden width 128."""
    n, C = ngf, num_classes
    return GroupDNetConfig(
        name="deepfashion", num_classes=C,
        widths=(16 * n, 16 * n, 16 * n, 16 * n, 8 * n, 4 * n, 2 * n, n),
        fc_groups=C, group_schedule=(C, C, C // 2, C // 2, C // 4, C // 4, max(C // 8, 1)),
        norm_rule="fixed128", encoder_width=encoder_width, ndf=ndf)


def cityscapes(num_classes: int = 35, ngf: int = 280, encoder_width: int = 350,
               ndf: int = 64) -> GroupDNetConfig:
    """Cityscapes (C=35, 256x512): groups 35, 35, 35, 20, 14, 10, 4, 1; instance edges."""
    n, C = ngf, num_classes
    return GroupDNetConfig(
        name="cityscapes", num_classes=C,
        widths=(16 * n, 16 * n, 16 * n, 16 * n, 8 * n, 4 * n, 2 * n, n),
        fc_groups=C, group_schedule=(C, C, 20, 14, 10, 4, 1),
        norm_rule="per_class", encoder_width=encoder_width, instance_edges=True, ndf=ndf)


def ade20k(num_classes: int = 151, ngf: int = 64, encoder_width: int = 604,
           ndf: int = 64) -> GroupDNetConfig:
    """ADE20K (C=151 with "unknown"): the first blocks are 16C wide; output conv from 2n."""
    n, C = ngf, num_classes
    return GroupDNetConfig(
        name="ade20k", num_classes=C,
        widths=(16 * C, 16 * C, 32 * n, 16 * n, 16 * n, 8 * n, 4 * n, 2 * n),
        fc_groups=C, group_schedule=(C, 16, 16, 8, 4, 2, 1),
        norm_rule="ade20k", encoder_width=encoder_width, unused_up_4=True, ndf=ndf)


def small(num_classes: int = 8, ngf: int = 16, encoder_width: int | None = None,
          ndf: int = 16, norm_rule: str = "fixed128") -> GroupDNetConfig:
    """A DeepFashion-shaped network that trains on a CPU (C=8 by default). Use images of
    128x128 or more (a 2x2 latent grid per class): at 64x64 the encoder's last instance norm
    would see one cell. encoder_width defaults to 4 per class. norm_rule "fixed32" makes the
    conditional norms' hidden convs 4x narrower (most of a CPU decode at full resolution)."""
    base = deepfashion(num_classes, ngf, encoder_width or 4 * num_classes, ndf)
    return GroupDNetConfig(**{**asdict(base), "name": "small", "norm_rule": norm_rule})


PRESETS = {"deepfashion": deepfashion, "cityscapes": cityscapes, "ade20k": ade20k, "small": small}


def preset(name: str, encoder_mean_colour: bool = False, **overrides) -> GroupDNetConfig:
    """Look a preset up by name, with a clear error for an unknown one. encoder_mean_colour (any
    preset, off in the authors'): see GroupEncoder's mean_colour."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; expected one of {sorted(PRESETS)}")
    return replace(PRESETS[name](**overrides), encoder_mean_colour=bool(encoder_mean_colour))
