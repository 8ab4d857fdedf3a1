"""smis model files: one file holding the architecture config, the weights and the dataset spec
(classes, palette, label-file rule, native size), so a model file is all generation needs.

Written atomically (temporary file + rename) so an interrupted save never replaces a good
checkpoint with half a file; read with `smis.weights.safe_load` (weights_only). Loading "a model"
(a name, a file or a folder) is smis.hub.loader's job; this module reads and writes the files.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..data.builtin_specs import SPECS
from ..data.spec import DatasetSpec
from ..networks import GroupDNet, GroupDNetConfig
from ..networks.prior import AppearancePrior
from ..utils import atomic_torch_save
from ..visualize import default_palette
from ..weights import safe_load

FORMAT = "smis.groupdnet"
VERSION = 3     # 2: the dataset spec beside the config; 3: the config holds encoder_mean_colour
                # (older files still load; an older smis refuses a newer file with a clear error)


def save_model(net: GroupDNet, path: str | os.PathLike, **meta) -> Path:
    """Write `net` (config, weights, its dataset spec `net.spec` and its fitted appearance prior
    `net.prior`) to `path`, atomically; `meta` is stored alongside (plain values)."""
    spec, prior = getattr(net, "spec", None), getattr(net, "prior", None)
    payload = {"format": FORMAT, "version": VERSION, "config": net.config.to_dict(),
               "dataset": spec.to_dict() if spec is not None else None,
               "state_dict": {k: v.cpu() for k, v in net.state_dict().items()}, "meta": meta}
    if prior is not None:
        payload["prior"] = prior.to_dict()
    return atomic_torch_save(payload, path)


def save_with_prior(source: Path, net: GroupDNet, prior: AppearancePrior, path: str | os.PathLike,
                    **meta) -> Path:
    """Write the model of file `source` (already loaded as `net`) with `prior` to `path`,
    atomically: a model file keeps its stored weights (fp16 stays fp16) and facts, a training
    checkpoint becomes a model file, other sources are saved from `net`."""
    if not source.is_file():                      # a folder of the authors' files
        net.prior = prior
        return save_model(net, path, **meta)
    payload = safe_load(source, "a torch checkpoint")
    if "pytorch-lightning_version" in payload:
        payload = lightning_to_model_payload(payload)
    payload["meta"] = {**(payload.get("meta") or {}), **meta}
    payload["prior"] = prior.to_dict()
    return atomic_torch_save(payload, path)


def lightning_to_model_payload(payload: dict, prefer_ema: bool = True) -> dict:
    """A training checkpoint (Lightning .ckpt of GroupDNetModule) as a `save_model` payload: the
    `net.` weights, with the EMA generator's when there is one and prefer_ema."""
    weights = {k[4:]: v for k, v in payload["state_dict"].items() if k.startswith("net.")}
    ema = {k[len("generator_ema."):]: v for k, v in payload["state_dict"].items()
           if k.startswith("generator_ema.")}
    if ema and prefer_ema:
        weights.update({f"generator.{k}": v for k, v in ema.items()})
    hparams = payload["hyper_parameters"]
    return {"format": FORMAT, "version": VERSION, "config": hparams["model"],
            "dataset": hparams.get("dataset"), "state_dict": weights, "meta": {"epoch": payload.get("epoch")}}


def stored_spec(payload: dict, num_classes: int) -> DatasetSpec | None:
    """The dataset spec a model file carries. Version 1 files stored only the dataset's name and
    class names: a built-in dataset of that name and class count gives its spec, class names
    alone a spec with the default palette."""
    if payload.get("dataset") is not None:
        return DatasetSpec.from_dict(payload["dataset"])
    meta = payload.get("meta") or {}
    name, names = meta.get("dataset"), meta.get("class_names")
    if name in SPECS and SPECS[name].num_classes == num_classes:
        return SPECS[name]
    if names and len(names) == num_classes:
        palette = [tuple(rgb) for rgb in default_palette(num_classes).tolist()]
        return DatasetSpec(name or "unnamed", tuple(names), tuple(palette))
    return None


def read_model_file(path: Path, map_location="cpu", prefer_ema: bool = True) -> GroupDNet:
    """The GroupDNet in a file written by `save_model` (`smis-convert`, a run's model.pt) or a
    training checkpoint (checkpoints/*.ckpt: its EMA generator when there is one and prefer_ema).
    Its `spec` holds the dataset's classes, palette, label-file rule and native size (None if the
    file has none)."""
    payload = safe_load(path, "a torch checkpoint", map_location=map_location)
    if isinstance(payload, dict) and {"pytorch-lightning_version", "hyper_parameters"} & payload.keys():
        model = (payload.get("hyper_parameters") or {}).get("model")
        weights = payload.get("state_dict") or {}
        if not isinstance(model, dict) or not any(k.startswith("net.") for k in weights):
            raise ValueError(f"{path}: a Lightning checkpoint of another LightningModule, with no GroupDNet "
                             "weights (no hyper_parameters['model'] config and 'net.' weights of smis' "
                             "GroupDNetModule)")
        payload = lightning_to_model_payload(payload, prefer_ema)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not an smis model checkpoint (expected a dict with "
                         f"format={FORMAT!r} or a training checkpoint); to import the authors' files "
                         "use smis.load_official or smis-convert")
    version = payload.get("version", 0)
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(f"{path}: checkpoint version {version!r} is newer than this "
                         f"smis understands ({VERSION}); upgrade smis")
    for key, what in (("config", "the network's settings"), ("state_dict", "the weights")):
        if not isinstance(payload.get(key), dict):
            found = "no" if payload.get(key) is None else f"a {type(payload[key]).__name__} as its"
            raise ValueError(f"{path}: an smis model file with {found} {key!r} ({what}); expected a dict: "
                             "the file is damaged or was not written by smis.save_model")
    try:
        config = GroupDNetConfig.from_dict(payload["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: its network config is unreadable ({type(e).__name__}: {e}); the file "
                         "is damaged or was not written by smis.save_model") from None
    weights = payload["state_dict"]
    not_tensors = [k for k, v in weights.items() if not torch.is_tensor(v)]
    if not_tensors:
        first = not_tensors[0]
        raise ValueError(f"{path}: its weight {first!r} is a {type(weights[first]).__name__}, not a tensor")
    has_d = any(k.startswith("discriminator.") for k in weights)
    net = GroupDNet(config, with_discriminator=has_d, init_gain=None)
    broken = [k for k, v in weights.items() if v.is_floating_point() and not v.isfinite().all()]
    if broken:
        shown = ", ".join(broken[:3]) + (", ..." if len(broken) > 3 else "")
        raise ValueError(f"{path}: {len(broken)} weight tensors hold NaN or inf values ({shown}): the "
                         "training diverged; use an earlier checkpoint")
    check_weights(net, weights, path)
    net.load_state_dict(weights)
    try:
        net.spec = stored_spec(payload, config.num_classes)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: its dataset spec (classes, palette) is unreadable ({type(e).__name__}: "
                         f"{e})") from None
    if payload.get("prior") is not None:
        net.prior = read_prior(path, payload["prior"], config)
    return net


def check_weights(net: GroupDNet, weights: dict, path: Path) -> None:
    """The stored weights must be exactly the network's (every key, every shape): a ValueError
    naming the file and the first offending key (expected vs found shape), with how many more."""
    expected = net.state_dict()
    problems = [f"{k}: expected shape {tuple(v.shape)}, found {tuple(weights[k].shape)}"
                for k, v in expected.items() if k in weights and weights[k].shape != v.shape]
    problems += [f"{k} is missing (expected shape {tuple(v.shape)})" for k, v in expected.items()
                 if k not in weights]
    problems += [f"{k} (shape {tuple(v.shape)}) is not a weight of this network" for k, v in weights.items()
                 if k not in expected]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        c = net.config
        raise ValueError(f"{path}: its weights do not fit its own config ({c.name}, {c.num_classes} classes, "
                         f"widths {list(c.widths)}): {problems[0]}{more}; the file is damaged or its "
                         "weights were edited")


def read_prior(path: Path, stored: dict, config: GroupDNetConfig) -> AppearancePrior:
    """The appearance prior a model file stores, checked against the model's latent layout."""
    try:
        prior = AppearancePrior.from_dict(stored)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise ValueError(f"{path}: its appearance prior is unreadable ({e}); refit it with "
                         "smis-fit-prior") from None
    codes = next(iter(prior.codes.values()))
    if codes.shape[1] != config.latent_per_class or max(prior.codes) >= config.num_classes:
        raise ValueError(f"{path}: its appearance prior has codes of {codes.shape[1]} channels for "
                         f"classes up to {max(prior.codes)}, the model {config.latent_per_class} "
                         f"channels for {config.num_classes} classes")
    if not all(v.isfinite().all() for v in prior.codes.values()):
        raise ValueError(f"{path}: its appearance prior holds NaN or inf codes; refit it with smis-fit-prior")
    return prior
