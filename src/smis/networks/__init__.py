"""GroupDNet networks: crops, encoder, generator, discriminator, presets."""

from .crops import class_crops, class_crops_loop
from .discriminator import MultiscaleDiscriminator
from .encoder import GroupEncoder
from .generator import GroupDNetGenerator
from .groupdnet import GroupDNet, instance_edges, one_hot
from .presets import PRESETS, GroupDNetConfig, preset

__all__ = ["GroupDNet", "GroupDNetConfig", "GroupDNetGenerator", "GroupEncoder",
           "MultiscaleDiscriminator", "PRESETS", "class_crops", "class_crops_loop",
           "instance_edges", "one_hot", "preset"]
