"""smis model checkpoints: one file holding the architecture config and the weights.

Written atomically (temporary file + rename) so an interrupted save never replaces a good
checkpoint with half a file; read with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from .networks import GroupDNet, GroupDNetConfig

FORMAT = "smis.groupdnet"
VERSION = 1


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """torch.save to `path` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write a text file through a temporary file + rename: never half a result file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_model(net: GroupDNet, path: str | os.PathLike, **meta) -> Path:
    """Write `net` (config + weights) to `path`; `meta` is stored alongside (plain values)."""
    payload = {"format": FORMAT, "version": VERSION, "config": net.config.to_dict(),
               "state_dict": {k: v.cpu() for k, v in net.state_dict().items()}, "meta": meta}
    return atomic_torch_save(payload, path)


def lightning_to_model_payload(payload: dict, prefer_ema: bool = True) -> dict:
    """A training checkpoint (Lightning .ckpt of GroupDNetModule) as a `save_model` payload: the
    `net.` weights, with the EMA generator's when there is one and prefer_ema."""
    weights = {k[4:]: v for k, v in payload["state_dict"].items() if k.startswith("net.")}
    ema = {k[len("generator_ema."):]: v for k, v in payload["state_dict"].items()
           if k.startswith("generator_ema.")}
    if ema and prefer_ema:
        weights.update({f"generator.{k}": v for k, v in ema.items()})
    return {"format": FORMAT, "version": VERSION, "config": payload["hyper_parameters"]["model"],
            "state_dict": weights, "meta": {"epoch": payload.get("epoch")}}


def load_model(path: str | os.PathLike, map_location="cpu", eval_mode: bool = True,
               prefer_ema: bool = True) -> GroupDNet:
    """Read a checkpoint written by `save_model` (`python -m smis.convert`, a training run's
    model.pt) or a training checkpoint (checkpoints/*.ckpt)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: cannot be read as a torch checkpoint ({e})") from e
    if isinstance(payload, dict) and "model" in payload.get("hyper_parameters", {}):
        payload = lightning_to_model_payload(payload, prefer_ema)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not an smis model checkpoint (expected a dict with "
                         f"format={FORMAT!r} or a training checkpoint); to import the authors' files "
                         "use smis.load_official or python -m smis.convert")
    if payload.get("version", 0) > VERSION:
        raise ValueError(f"{path}: checkpoint version {payload['version']} is newer than this "
                         f"smis understands ({VERSION}); upgrade smis")
    config = GroupDNetConfig.from_dict(payload["config"])
    has_d = any(k.startswith("discriminator.") for k in payload["state_dict"])
    net = GroupDNet(config, with_discriminator=has_d, init_gain=None)
    net.load_state_dict(payload["state_dict"])
    return net.eval() if eval_mode else net
