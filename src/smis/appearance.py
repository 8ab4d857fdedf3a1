"""Fitting a model's appearance prior on its training data and storing it in the model file
(`smis-fit-prior`; the prior itself: smis.networks.prior).

    smis-fit-prior logs/train/runs/DATE/model.pt -o model_with_prior.pt          # the model's dataset
    smis-fit-prior model.pt -o out.pt dataset=cityscapes dataset.root=/data/cityscapes
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from hydra.utils import instantiate

from .config import CONFIG_DIR, compose_config
from .hub import describe_model, load_model, resolve_model
from .hub.model_files import save_with_prior
from .networks.prior import DEFAULT_TEMPERATURE, fit_prior
from .utils import ProgressLog


def dataset_overrides(net, overrides: list[str]) -> list[str]:
    """The overrides, with `dataset=` set to the model's own dataset when they name none and the
    package has a config of that name."""
    named = any(o.split("=", 1)[0].lstrip("+~") == "dataset" for o in overrides)
    own = getattr(net.spec, "name", None)
    if not named and own and (CONFIG_DIR / "dataset" / f"{own}.yaml").is_file():
        return [f"dataset={own}", *overrides]
    return list(overrides)


def fit_model_prior(model: str | os.PathLike, out: str | os.PathLike, overrides=(), images: int = 512,
                    bandwidth: float = 0.0, temperature: float = DEFAULT_TEMPERATURE, min_area: float = 0.01,
                    overwrite: bool = False, log=print) -> Path:
    """Encode `images` training images of the model's dataset (or the one the Hydra `overrides`
    name, as `smis.evaluate` takes them), fit the appearance prior, and write the model with it
    to `out` (atomically; an existing file only with overwrite)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise ValueError(f"--images {images!r}: expected a positive integer")
    for name, value in (("bandwidth", bandwidth), ("temperature", temperature)):
        if not 0 <= value <= 1:
            raise ValueError(f"--{name} {value!r}: expected a number in [0, 1]")
    net = load_model(model, with_discriminator=False)
    cfg = compose_config(dataset_overrides(net, list(overrides)), config_name="evaluate")
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")
    spec = datamodule.spec
    if spec.num_classes != net.config.num_classes:
        raise ValueError(f"{describe_model(model)} has {net.config.num_classes} classes, the dataset "
                         f"'{spec.name}' {spec.num_classes}: fit the prior on the data it was trained on")
    progress = ProgressLog(out.parent / f"{out.name}.fit.log", every_s=10)
    progress.to_stdout = True                     # a short job: its lines in the terminal too
    started = time.perf_counter()

    def report(seen: int) -> None:
        if progress.due() or seen >= images:
            progress.write(f"encoded {seen}/{images} training images of {spec.name}, "
                           f"{seen / (time.perf_counter() - started):.1f} images/s")

    batches = ((b["image"], b["label"]) for b in datamodule.train_dataloader())
    with torch.no_grad():
        prior = fit_prior(net, batches, images, min_area=min_area, bandwidth=bandwidth,
                          temperature=temperature, progress=report)
    counts = ", ".join(f"{spec.names[c]} {len(v)}" for c, v in sorted(prior.codes.items()))
    log(f"prior: codes per class: {counts}")
    return save_with_prior(resolve_model(model), net, prior, out,
                           prior_fit=f"fitted on {images} training images of {spec.name}, bandwidth "
                                     f"{bandwidth}, temperature {temperature}")
