"""Starting from earlier work: `ckpt_path` (resume a training checkpoint: `last` finds the newest
complete one) and `init_from` (a model file's weights, fresh optimisers), each checked against the
configured network before Lightning loads anything."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

from pytorch_lightning.utilities import rank_zero_info

from ..hub import load_model
from ..hub.model_files import FORMAT
from ..networks import GroupDNetConfig
from ..weights import safe_load
from .checks import ConfigError
from .module import GroupDNetModule


def is_complete_file(path: Path) -> bool:
    """A file (a link is followed: a dangling one is not) holding a whole zip archive, as
    torch.save writes: a file cut short has lost the archive's directory at its end."""
    try:
        return path.is_file() and zipfile.is_zipfile(path)
    except OSError:
        return False


def newest_checkpoint(log_dir: str, task_name: str) -> Path:
    """`ckpt_path=last`: the newest complete checkpoint of the newest run under logs/TASK/.
    The newest run is the one whose checkpoints/ folder changed last (a save, a delete); in it the
    newest complete *.ckpt, so a run killed between writing epoch_N.ckpt, deleting the previous one
    and re-pointing last.ckpt still resumes from epoch_N.ckpt."""
    base = Path(log_dir, task_name)
    runs = [d for d in base.glob("**/checkpoints") if d.is_dir() and any(d.glob("*.ckpt"))]
    if not runs:
        raise ConfigError(f"ckpt_path=last: no run with checkpoints/*.ckpt under {base}")
    folder = max(runs, key=lambda d: d.stat().st_mtime_ns)
    complete = [p for p in folder.glob("*.ckpt") if is_complete_file(p)]
    if not complete:
        names = ", ".join(sorted(p.name for p in folder.glob("*.ckpt")))
        raise ConfigError(f"ckpt_path=last: the newest run's checkpoints in {folder} ({names}) are all "
                          "dangling links or damaged files; resume an older one with ckpt_path=FILE")
    return max(complete, key=lambda p: (p.stat().st_mtime_ns, p.name == "last.ckpt"))


def resolve_ckpt_path(ckpt_path: str | None, log_dir: str, task_name: str) -> str | None:
    """A checkpoint file, or `last`: the newest run's newest complete checkpoint (newest_checkpoint)."""
    if not ckpt_path:
        return None
    if ckpt_path == "last":
        found = newest_checkpoint(log_dir, task_name)
        rank_zero_info(f"ckpt_path=last: resuming from {found}")
        return str(found)
    if Path(ckpt_path).is_dir():
        raise ConfigError(f"ckpt_path={ckpt_path} is a folder; expected a checkpoint file (a run's "
                          "checkpoints/*.ckpt) or `last`")
    if Path(ckpt_path).is_symlink() and not Path(ckpt_path).exists():
        raise ConfigError(f"ckpt_path={ckpt_path} is a link to {os.readlink(ckpt_path)}, which no longer "
                          "exists (a run killed while saving?): use ckpt_path=last or that run's newest "
                          "checkpoints/epoch_*.ckpt")
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path: checkpoint file not found: {ckpt_path}")
    return str(ckpt_path)


# GroupDNetConfig fields and the options that set them
MODEL_OPTIONS = {"name": "model=PRESET", "num_classes": "model.num_classes", "widths": "model.ngf",
                 "encoder_width": "model.encoder_width", "ndf": "model.ndf",
                 "norm_rule": "model.norm_rule", "encoder_mean_colour": "model.encoder_mean_colour"}

# options that only add weights starting at zero: a network trained without them computes the same
# with them switched on, so init_from may switch them on (and training goes on from there)
ADDED_AT_ZERO = {"encoder_mean_colour": "encoder.mean_colour_to_mu"}


def check_resume_checkpoint(path: str, net_config: GroupDNetConfig) -> None:
    """Before Lightning loads `path`: a readable training checkpoint of this network, or a
    ConfigError that says what it is instead (an smis model file, another module's checkpoint, a
    damaged file) or which model settings differ."""
    try:                     # mmap: the tensors are not read
        ckpt = safe_load(path, "a training checkpoint", mmap=True)
    except ValueError as e:
        raise ConfigError(f"ckpt_path={e}") from None
    if isinstance(ckpt, dict) and ckpt.get("format") == FORMAT:
        raise ConfigError(f"ckpt_path={path} is an smis model file (weights, no training state), not a "
                          f"training checkpoint: to start a run from its weights use init_from={path}")
    stored = ckpt.get("hyper_parameters", {}).get("model") if isinstance(ckpt, dict) else None
    if not isinstance(ckpt, dict) or "pytorch-lightning_version" not in ckpt or not isinstance(stored, dict):
        raise ConfigError(f"ckpt_path={path}: not a training checkpoint of smis (a run's checkpoints/*.ckpt)")
    differ = config_differences(GroupDNetConfig.from_dict(stored), net_config)
    if differ:
        raise ConfigError(f"ckpt_path={path} holds another network than the configured model "
                          f"(checkpoint vs configured): {differ}. Resume with that run's model "
                          "settings (see its .hydra/overrides.yaml)")


def config_differences(stored: GroupDNetConfig, configured: GroupDNetConfig) -> str:
    """'field stored vs configured (the option that sets it); ...' for the fields that differ."""
    def short(value) -> str:
        return str(list(value)) if isinstance(value, (list, tuple)) else str(value)

    a, b = stored.to_dict(), configured.to_dict()
    return "; ".join(f"{k} {short(a[k])} vs {short(b[k])} ({MODEL_OPTIONS.get(k, 'model preset')})"
                     for k in b if k != "extra" and a.get(k) != b[k])


def load_initial_weights(module: GroupDNetModule, path: str) -> None:
    """init_from: copy the networks of an smis model file (e.g. converted authors' weights) or of
    a training checkpoint (its trained generator, not the EMA average: training goes on from it).
    A file that cannot be loaded, or whose weights hold NaN or inf, is a ConfigError naming it
    (before any step: training from it would only stop at the first non-finite loss)."""
    try:
        source = load_model(path, eval_mode=False, prefer_ema=False)
    except (ValueError, OSError) as e:
        message = str(e)
        raise ConfigError(f"init_from={message}" if message.startswith(str(path)) else
                          f"init_from={path}: {message}") from None
    broken = [k for k, v in source.state_dict().items() if v.is_floating_point() and not v.isfinite().all()]
    if broken:                                    # e.g. the authors' files, which load without the check
        raise ConfigError(f"init_from={path}: its weights hold NaN or inf values ({len(broken)} tensors: "
                          f"{', '.join(broken[:3])}{', ...' if len(broken) > 3 else ''}); start from an "
                          "earlier checkpoint")
    added = {option: key for option, key in ADDED_AT_ZERO.items()
             if getattr(module.net.config, option) and not getattr(source.config, option)}
    differ = config_differences(dataclasses.replace(source.config, **{o: True for o in added}),
                                module.net.config)
    if differ:
        raise ConfigError(f"init_from={path}: its network differs from the configured model "
                          f"(file vs configured): {differ}")
    missing, _ = module.net.load_state_dict(source.state_dict(), strict=False)
    if any(not k.startswith("discriminator.") and k not in added.values() for k in missing):
        raise ConfigError(f"init_from={path}: missing weights {missing[:5]}")
    if module.generator_ema is not None:          # the average starts from the loaded generator
        module.generator_ema.load_state_dict(module.net.generator.state_dict())
