"""Import the authors' GroupDNet checkpoints (a folder of latest_net_{G,E,D}.pth).

The widths and class count are read from the tensors, the named dataset's preset supplies the
structure (group schedule, norm rule, edges), and every tensor's shape is checked before any
weight is loaded, so a wrong dataset or a damaged file gives an error that names the file and
the tensor.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..data.builtin_specs import SPECS, dataset_spec
from ..networks import GroupDNet, GroupDNetConfig, preset
from ..networks.presets import PRESETS
from ..weights import safe_load

FILES = {"generator": "latest_net_G.pth", "encoder": "latest_net_E.pth",
         "discriminator": "latest_net_D.pth"}
AUTHORS_PRESETS = ("deepfashion", "cityscapes", "ade20k")     # the network structures they released
# the datasets whose models the authors released: those whose spec trains with one of their presets
OFFICIAL_DATASETS = tuple(name for name, s in SPECS.items() if s.model_preset in AUTHORS_PRESETS)


class OfficialCheckpointError(ValueError):
    """The authors' files do not fit the requested dataset preset."""


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        sd = safe_load(path, "a torch checkpoint")
    except ValueError as e:
        raise OfficialCheckpointError(str(e)) from None
    if not isinstance(sd, dict) or not all(torch.is_tensor(v) for v in sd.values()):
        raise OfficialCheckpointError(f"{path}: expected a plain state_dict (tensor per key), "
                                      f"as the authors' code saves; got {type(sd).__name__}")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def _tensor(sd: dict, key: str, path: Path, ndim: int) -> torch.Tensor:
    if key not in sd:
        raise OfficialCheckpointError(f"{path}: tensor {key!r} is missing; is this the right file?")
    t = sd[key]
    if t.dim() != ndim:
        raise OfficialCheckpointError(f"{path}: tensor {key!r} has shape {tuple(t.shape)}; "
                                      f"expected {ndim} dimensions")
    return t


def infer_config(structure: str, sds: dict[str, dict], paths: dict[str, Path]) -> GroupDNetConfig:
    """Widths and class count from the tensors, structure from the authors' preset `structure`."""
    E, G = sds["encoder"], sds["generator"]
    latent = _tensor(E, "fc_mu.weight", paths["encoder"], 4).shape[0]
    num_classes = latent // 8                    # 8 latent channels per class (authors' fixed)
    enc_width = _tensor(E, "layer1.0.weight_orig", paths["encoder"], 4).shape[0]
    enc_layers = sum(bool(re.fullmatch(r"layer\d+\.0\.weight_orig", k)) for k in E)
    if enc_layers != 6:     # the authors drop one below 256-pixel crops; their generator cannot use it
        raise OfficialCheckpointError(f"{paths['encoder']}: {enc_layers} encoder layers; only the 6-layer "
                                      "encoder (crops of 256 pixels or more) gives codes the generator reads")
    out_width = _tensor(G, "conv_img.weight", paths["generator"], 4).shape[1]
    # the preset's last generator width is n (or 2n for ADE20K): recover n from it
    unit = PRESETS[structure](num_classes=num_classes, ngf=1).widths[-1]
    ngf = out_width // unit
    overrides = {}
    if "discriminator" in sds:
        D, dpath = sds["discriminator"], paths["discriminator"]
        ndf = _tensor(D, "discriminator_0.model0.0.weight", dpath, 4).shape[0]
        overrides["num_discriminators"] = len({k.split(".")[0] for k in D})
        overrides["discriminator_layers"] = len({k.split(".")[1] for k in D}) - 1
    else:
        ndf = 64
    cfg = preset(structure, num_classes=num_classes, ngf=max(ngf, 1), encoder_width=enc_width,
                 ndf=ndf)
    return GroupDNetConfig.from_dict({**cfg.to_dict(), **overrides})


def _shape_problems(net: GroupDNet, sds: dict, paths: dict) -> list[str]:
    """Every shape, then every key, that differs between our networks and the authors' files."""
    problems = []
    for part, sd in sds.items():
        ours = getattr(net, part).state_dict()
        for key in sorted(set(sd) & set(ours)):
            if sd[key].shape != ours[key].shape:
                problems.append(f"{paths[part]}: tensor {key!r} has shape {tuple(sd[key].shape)}; "
                                f"expected {tuple(ours[key].shape)}")
        for key in sorted(set(ours) - set(sd)):
            problems.append(f"{paths[part]}: tensor {key!r} is missing "
                            f"(expected shape {tuple(ours[key].shape)})")
        for key in sorted(set(sd) - set(ours)):
            problems.append(f"{paths[part]}: unexpected tensor {key!r} {tuple(sd[key].shape)}")
    return problems


def _build(structure: str, sds: dict, paths: dict, device=None) -> tuple[GroupDNet | None, list[str]]:
    """Our network for these files under the preset `structure`, and what does not fit."""
    cfg = infer_config(structure, sds, paths)      # a missing or odd tensor raises here
    try:
        with torch.device(device or "cpu"):
            net = GroupDNet(cfg, with_discriminator="discriminator" in sds, init_gain=None)
    except ValueError as e:        # widths the preset's group schedule cannot split
        E, G = paths["encoder"].name, paths["generator"].name
        return None, [f"{E} fc_mu.weight {tuple(sds['encoder']['fc_mu.weight'].shape)} and "
                      f"{G} conv_img.weight {tuple(sds['generator']['conv_img.weight'].shape)} give "
                      f"widths the {structure} structure cannot use: {e}"]
    return net, _shape_problems(net, sds, paths)


def load_official(folder: str | Path, dataset: str, *, with_discriminator: bool | None = None,
                  device="cpu") -> GroupDNet:
    """Build our GroupDNet from the authors' checkpoint folder, in eval mode.

    folder: holds latest_net_G.pth and latest_net_E.pth, and optionally latest_net_D.pth
      (the layout of the authors' `checkpoints/NAME/`).
    dataset: deepfashion | cityscapes | ade20k: its spec's model preset is the structure the
      files follow, and the spec becomes `net.spec` when the class count matches.
    with_discriminator: None loads D when its file is there; True requires it; False skips it.
    device: where the returned network lives.
    """
    if dataset not in OFFICIAL_DATASETS:
        raise ValueError(f"dataset must be one of {OFFICIAL_DATASETS} for the authors' "
                         f"checkpoints; got {dataset!r}")
    spec = dataset_spec(dataset)
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder not found: {folder} (expected a folder with "
                                f"{FILES['generator']}, {FILES['encoder']} [, {FILES['discriminator']}])")
    paths = {part: folder / name for part, name in FILES.items()}
    wanted = ["generator", "encoder"]
    if with_discriminator or (with_discriminator is None and paths["discriminator"].is_file()):
        wanted.append("discriminator")
    for part in wanted:
        if not paths[part].is_file():
            raise FileNotFoundError(f"{paths[part]} is missing: the authors' {part} weights are "
                                    f"expected there ({', '.join(FILES[p] for p in wanted)})")
    sds = {part: _read_state_dict(paths[part]) for part in wanted}

    net, problems = _build(spec.model_preset, sds, paths)
    if problems:
        others = [d for d in OFFICIAL_DATASETS
                  if d != dataset and not _build(SPECS[d].model_preset, sds, paths, "meta")[1]]
        hint = (f"\nThese files fit the {others[0]!r} preset: use dataset={others[0]!r}."
                if others else "")
        shown = "\n  ".join(problems[:8]) + (f"\n  ... and {len(problems) - 8} more"
                                             if len(problems) > 8 else "")
        raise OfficialCheckpointError(
            f"the files in {folder} do not match the {dataset!r} GroupDNet:\n  {shown}{hint}")
    for part, sd in sds.items():
        getattr(net, part).load_state_dict(sd)
    net.config.extra.update(source=str(folder), dataset=dataset)
    # reduced test models (fewer classes than the dataset) have no class names to carry
    net.spec = spec if net.config.num_classes == spec.num_classes else None
    return net.to(device).eval()
