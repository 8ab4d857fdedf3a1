"""Models shipped inside the package, loadable by name wherever a model file is taken.

    net = smis.load_pretrained("synthetic")              # a GroupDNet (generator + encoder)
    synth = smis.Synthesizer.load("synthetic")           # the same model, by name
    smis-generate sample --model synthetic --label scene.png --out out/

A name stands for the packaged file unless a file or folder of that name exists where you run
(then the file wins, as it always did). How each model was trained: README, "Shipped model".
"""

from __future__ import annotations

import os
from pathlib import Path

PRETRAINED_DIR = Path(__file__).parent          # the files sit beside this module

# name -> file in PRETRAINED_DIR
PRETRAINED = {
    # the `small` preset with fixed32 norms on the built-in synthetic scenes, 128x128
    # (configs/experiment/pretrained_synthetic.yaml)
    "synthetic": "synthetic.pt",
}


def pretrained_path(name: str) -> Path:
    """The packaged file of model `name`, with a clear error for an unknown name or a missing file."""
    if name not in PRETRAINED:
        raise ValueError(f"no shipped model named {name!r}; shipped: {', '.join(sorted(PRETRAINED))}")
    path = PRETRAINED_DIR / PRETRAINED[name]
    if not path.is_file():
        raise FileNotFoundError(f"the shipped model {name!r} should be at {path}, which is missing: "
                                "reinstall smis, or train it with `python -m smis.train "
                                "experiment=pretrained_synthetic`")
    return path


def resolve_model(source: str | os.PathLike) -> Path:
    """A model argument -> a path: an existing file or folder as it is, else a shipped model's name."""
    path = Path(source)
    if not path.exists() and str(source) in PRETRAINED:
        return pretrained_path(str(source))
    return path


def load_pretrained(name: str = "synthetic", map_location="cpu"):
    """The shipped model `name` as a GroupDNet in eval mode (generator and encoder; its `spec`
    holds the dataset's classes, palette and native size)."""
    from ..checkpoint import load_model

    return load_model(pretrained_path(name), map_location=map_location)


def pack(model: str | os.PathLike, out: str | os.PathLike, tolerance: float = 1e-2, prefer_ema: bool = True,
         **meta) -> Path:
    """Write a trained model (a run's model.pt or a checkpoint) as a shipped file: generator and
    encoder only, floating-point tensors stored in fp16. Refuses (and writes nothing) when a
    decode from the fp16 file differs from the fp32 model's by more than `tolerance` (images in
    [-1, 1]) on a seeded code. prefer_ema: from a training checkpoint, the EMA generator when
    there is one. `meta` (the model card's facts) is stored in the file."""
    import torch

    from ..checkpoint import load_model, save_model

    def generator_and_encoder():
        net = load_model(model, prefer_ema=prefer_ema)
        net.discriminator = None
        return net

    net, packed, restored = generator_and_encoder(), generator_and_encoder().half(), generator_and_encoder()
    restored.load_state_dict(packed.state_dict())      # what load_model makes of the shipped file
    H, W = net.spec.native_size
    label = torch.arange(net.config.num_classes).repeat_interleave(H * W // net.config.num_classes + 1)
    label = label[:H * W].view(1, 1, H, W)
    z = net.sample_z(1, H, W, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        error = float((net.decode(label, z) - restored.decode(label, z)).abs().max())
    if error > tolerance:
        raise ValueError(f"{model}: fp16 storage changes a decode by {error:.4f} (> {tolerance}); "
                         "not written")
    return save_model(packed, out, fp16_max_decode_error=error, **meta)
