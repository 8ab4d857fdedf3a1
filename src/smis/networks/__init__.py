"""GroupDNet networks: crops, encoder, generator, discriminator, presets."""

from .crops import all_crops, class_crops, class_crops_loop, class_mean_colours, present_crops
from .discriminator import MultiscaleDiscriminator
from .encoder import GroupEncoder
from .generator import GroupDNetGenerator
from .groupdnet import GroupDNet, check_image_size, instance_edges, one_hot
from .presets import PRESETS, GroupDNetConfig, preset

__all__ = ["GroupDNet", "GroupDNetConfig", "GroupDNetGenerator", "GroupEncoder",
           "MultiscaleDiscriminator", "PRESETS", "all_crops", "check_image_size", "class_crops",
           "class_crops_loop", "class_mean_colours", "instance_edges", "one_hot", "present_crops", "preset"]
