"""One way from "a model" to a GroupDNet, for every caller (the Synthesizer, the studio, evaluate,
train's init_from, packing): a shipped model's name, an smis model file, a training checkpoint, or a
folder of the authors' latest_net_{G,E}.pth with the dataset they were trained on.

    net = load_model("synthetic")                                   # the shipped model
    net = load_model("logs/train/runs/DATE/checkpoints/last.ckpt")  # a training checkpoint
    net = load_model("checkpoints/cityscapes_smis", dataset="cityscapes")   # the authors' files
"""

from __future__ import annotations

import os
from pathlib import Path

from ..networks import GroupDNet
from .model_files import read_model_file
from .official import FILES, OFFICIAL_DATASETS, load_official
from .shipped import SHIPPED, shipped_path


def resolve_model(source: str | os.PathLike) -> Path:
    """A model argument -> a path: an existing file, or a folder of the authors' files, as it is;
    else a shipped model's file. So an unrelated folder named like a shipped model (an output folder
    `synthetic/`) does not hide it."""
    path = Path(source)
    is_model_path = path.is_file() or (path / FILES["generator"]).is_file()
    if not is_model_path and str(source) in SHIPPED:
        return shipped_path(str(source))
    return path


def describe_model(source: str | os.PathLike) -> str:
    """How to name the model `source` stands for to a user: "shipped NAME model" or its path."""
    path = resolve_model(source)
    return f"shipped {source} model" if path != Path(source) else str(path)


def load_model(source: str | os.PathLike, dataset: str | None = None, *, map_location="cpu",
               eval_mode: bool = True, prefer_ema: bool = True,
               with_discriminator: bool | None = None) -> GroupDNet:
    """The GroupDNet that `source` names (see the module docstring).

    dataset: for a folder of the authors' files, which of their models it is (deepfashion,
      cityscapes, ade20k); ignored for model files, which carry their dataset.
    prefer_ema: from a training checkpoint, the EMA generator when there is one.
    with_discriminator: None keeps what the file has; False drops it (generation needs G and E).
    """
    path = resolve_model(source)
    if path.is_dir():
        if not (path / FILES["generator"]).is_file():
            raise IsADirectoryError(f"{path} is a folder, not a model file (model.pt, a run's "
                                    "checkpoints/*.ckpt, smis-convert output or a shipped model's name)")
        if dataset is None:
            raise ValueError(f"{path} holds the authors' files ({FILES['generator']}): pass the dataset they "
                             f"were trained on ({', '.join(OFFICIAL_DATASETS)}), or convert them with "
                             f"smis-convert {path} --dataset NAME")
        net = load_official(path, dataset, with_discriminator=with_discriminator, device=map_location)
    elif path.is_file():
        net = read_model_file(path, map_location, prefer_ema)
    else:
        raise FileNotFoundError(f"model file {path} not found: expected an smis model file (a run's "
                                "model.pt, smis-convert output), a training checkpoint, a folder of the "
                                f"authors' files with their dataset, or a shipped model's name "
                                f"({', '.join(sorted(SHIPPED))})")
    if with_discriminator is False:
        net.discriminator = None
    return net.eval() if eval_mode else net.train()


def load_pretrained(name: str = "synthetic", map_location="cpu") -> GroupDNet:
    """The shipped model `name` as a GroupDNet in eval mode (generator and encoder; its `spec`
    holds the dataset's classes, palette and native size)."""
    return load_model(shipped_path(name), map_location=map_location)
