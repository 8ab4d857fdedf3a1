"""Validation figures: what the model does with codes, saved as PNGs and sent to the loggers.

samples.png    label | real | reconstruction (the encoded code) | random codes ...
resample.png   label | real | reconstruction | only one class's code re-drawn ...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

from ..latents import LatentLayout
from ..utils import repeat
from ..visualize import colorize, save_grid


def run_folder(trainer) -> Path:
    return Path(trainer.default_root_dir)


def log_figure(trainer, key: str, path: Path, caption: str) -> None:
    """Send a saved figure to every logger that shows images (CSV keeps only the PNG)."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[str(path)], caption=[caption], step=trainer.global_step)
        elif isinstance(logger, TensorBoardLogger):
            with Image.open(path) as im:
                pixels = torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1)
            logger.experiment.add_image(key, pixels, trainer.global_step)


def largest_class(label: torch.Tensor) -> int:
    """The class covering most of a (1,H,W) label map: its re-sampling is the most visible."""
    return int(torch.bincount(label.flatten()).argmax())


@torch.no_grad()
def validation_figures(module, batch: dict, samples: dict) -> dict[str, Path]:
    """Draw both figures for the first images of `batch`; -> {name: path}."""
    trainer, net = module.trainer, module.net
    rows, n_random, n_resample = samples.get("rows", 4), samples.get("random", 3), samples.get("resample", 5)
    image, label = batch["image"][:rows], batch["label"][:rows]
    instance = batch["instance"][:rows] if "instance" in batch else None
    palette = module.spec.palette_tensor() if module.spec is not None else None
    g = torch.Generator(device=module.device).manual_seed(module.hparams.seed)   # same codes every epoch
    H, W = image.shape[2:]

    mu, _ = net.encode(image, label)
    recon = module.decode_for_eval(label, mu, instance)
    shown = colorize(label, palette)
    grid = []
    for i in range(len(image)):
        z = net.sample_z(n_random, H, W, generator=g, device=module.device).to(mu.dtype)
        random = module.decode_for_eval(repeat(label, i, n_random), z, repeat(instance, i, n_random))
        grid.append([shown[i], image[i], recon[i], *random])

    c = largest_class(label[0])
    z = LatentLayout.of(net).random_redraw(mu[:1], c, n_resample, generator=g)
    strip = module.decode_for_eval(repeat(label, 0, n_resample), z, repeat(instance, 0, n_resample))
    name = module.spec.names[c] if module.spec is not None else f"class {c}"

    folder = run_folder(trainer) / "samples"
    epoch = trainer.current_epoch
    paths = {
        "samples": save_grid(grid, folder / f"epoch_{epoch:03d}_samples.png"),
        "resample": save_grid([[shown[0], image[0], recon[0], *strip]],
                              folder / f"epoch_{epoch:03d}_resample.png"),
    }
    captions = {"samples": f"epoch {epoch}: label | real | reconstruction | {n_random} random codes",
                "resample": f"epoch {epoch}: label | real | reconstruction | only '{name}' re-sampled"}
    for key, path in paths.items():
        log_figure(trainer, f"val/{key}", path, captions[key])
    return paths
