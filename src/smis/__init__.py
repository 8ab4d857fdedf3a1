"""smis: GroupDNet (Semantically Multi-modal Image Synthesis, CVPR 2020) in PyTorch.

    synth = smis.Synthesizer.load("model.pt")                  # every application: see synthesizer.py
    synth = smis.Synthesizer.load("synthetic")                 # the shipped model (smis.load_pretrained)
    out = synth.resample(["car"], seeds=[7], label="street.png")

    net = smis.load_official("checkpoints/cityscapes_smis", dataset="cityscapes")   # the networks
    mu, logvar = net.encode(image, label, instance)
    fake = net.decode(label, z, instance)
"""

from .codes import Codes, Result
from .hub import load_model, load_official, load_pretrained, save_model
from .networks import GroupDNet, GroupDNetConfig, preset
from .synthesizer import Synthesizer

__version__ = "0.1.0"
__all__ = ["Codes", "GroupDNet", "GroupDNetConfig", "Result", "Synthesizer", "load_model", "load_official",
           "load_pretrained", "preset", "save_model"]
