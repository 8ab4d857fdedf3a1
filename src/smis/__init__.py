"""smis: GroupDNet (Semantically Multi-modal Image Synthesis, CVPR 2020) in PyTorch.

    net = smis.load_official("checkpoints/cityscapes_smis", dataset="cityscapes")
    mu, logvar = net.encode(image, label, instance)
    fake = net.decode(label, z, instance)
"""

from .checkpoint import load_model, save_model
from .networks import GroupDNet, GroupDNetConfig, preset
from .official import load_official

__version__ = "0.1.0"
__all__ = ["GroupDNet", "GroupDNetConfig", "load_model", "load_official", "preset", "save_model"]
