"""Train GroupDNet.

    python -m smis.train                                   # synthetic scenes, small model, CPU ok
    python -m smis.train dataset=cityscapes dataset.root=/data/cityscapes trainer=ddp
    python -m smis.train -m optim.lr_g=1e-4,2e-4           # a sweep: one run folder per job
    python -m smis.train ckpt_path=last                    # resume the newest run

`train(cfg)` does the work and is what tests call; `main` adds Hydra's command line.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import zipfile
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_info

from .hub import load_model, save_model
from .hub.model_files import FORMAT
from .networks import GroupDNet, GroupDNetConfig, check_image_size
from .preflight import check_weights, preflight
from .training import AtomicCheckpointIO, GroupDNetModule
from .utils import finish_wandb, instantiate_all
from .weights import safe_load

PRECISIONS = {"32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true"}


class ConfigError(ValueError):
    """A config value that cannot work: raised before any training starts."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# option: (what it must be, the test); options a config does not have are not checked
NUMERIC_OPTIONS = {
    "seed": ("an integer", _is_int),
    "dataset.batch_size": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "dataset.num_workers": ("auto or an integer >= 0", lambda v: v == "auto" or _is_int(v) and v >= 0),
    "optim.lr_g": ("a number > 0", lambda v: _is_number(v) and v > 0),
    "optim.lr_d": ("a number > 0", lambda v: _is_number(v) and v > 0),
    "optim.beta1": ("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1),
    "optim.beta2": ("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1),
    "optim.constant_epochs": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "optim.decay_epochs": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    **{f"loss.{k}": ("a number >= 0", lambda v: _is_number(v) and v >= 0)
       for k in ("gan", "feat", "vgg", "kld", "l1", "isolation", "flipped_codes")},
    "loss.kld_reduction": ("sum or image_mean", lambda v: v in ("sum", "image_mean")),
    **{f"loss.{k}_fraction": ("a number in [0, 1]", lambda v: _is_number(v) and 0 <= v <= 1)
       for k in ("isolation", "flipped_codes")},
    "loss.isolation_band": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "encoder_init.head_gain": ("a number > 0 or null", lambda v: v is None or _is_number(v) and v > 0),
    "encoder_init.logvar_bias": ("a number or null", lambda v: v is None or _is_number(v)),
    "channels_last": ("true or false", lambda v: isinstance(v, bool)),
    "trainer.max_steps": ("an integer (-1: no limit)", lambda v: _is_int(v) and v >= -1),
    "trainer.max_epochs": ("an integer (-1: no limit) or null",
                           lambda v: v is None or _is_int(v) and v >= -1),
    "ema_decay": ("a number in (0, 1) or null", lambda v: v is None or _is_number(v) and 0 < v < 1),
}


def check_config(cfg: DictConfig) -> None:
    """Types and ranges of the numeric and named options, the precision: a ConfigError naming the option."""
    missing = object()
    for key, (expected, valid) in NUMERIC_OPTIONS.items():
        value = OmegaConf.select(cfg, key, default=missing)
        if value is not missing and not valid(value):
            raise ConfigError(f"{key}={value!r}: expected {expected}")
    if str(cfg.trainer.precision) not in PRECISIONS:
        raise ConfigError(f"trainer.precision={cfg.trainer.precision!r}; "
                          f"expected one of {sorted(PRECISIONS)}")


def model_config(cfg: DictConfig, num_classes: int) -> GroupDNetConfig:
    """The network preset, with the class count taken from the dataset when left null."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    if model.get("num_classes") is None:
        model["num_classes"] = num_classes
    elif model["num_classes"] != num_classes:
        raise ConfigError(f"model.num_classes={model['num_classes']} but the dataset has {num_classes} "
                          "classes; pick the model preset of this dataset or set model.num_classes=null")
    return instantiate(model)


def check_enough_data(datamodule, devices: int) -> None:
    """Training drops the last partial batch: fewer scenes than one global batch trains nothing."""
    per_step = datamodule.batch_size * devices
    if len(datamodule.train_set) < per_step:
        raise ConfigError(f"the training set has {len(datamodule.train_set)} images, fewer than one batch "
                          f"({datamodule.batch_size} per process x {devices} processes): add data or lower "
                          "dataset.batch_size")


def check_training_size(datamodule) -> tuple[int, int]:
    """The training images must suit GroupDNet (networks.check_image_size). -> (H, W)."""
    H, W = datamodule.train_set[0]["image"].shape[1:]
    try:
        check_image_size(H, W)
    except ValueError as e:
        raise ConfigError(f"training images: {e}; change the dataset's size/crop options") from None
    return H, W


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
    a training checkpoint (its trained generator, not the EMA average: training goes on from it)."""
    source = load_model(path, eval_mode=False, prefer_ema=False)
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


def export(module: GroupDNetModule, path: Path) -> Path:
    """model.pt in the smis.load_model format (with the EMA generator when there is one)."""
    net = module.net
    if module.generator_ema is not None:          # a fresh copy: spectral norm's tensors can't deepcopy
        ema = GroupDNet(net.config, with_discriminator=net.discriminator is not None, init_gain=None)
        ema.load_state_dict(net.state_dict())
        ema.generator.load_state_dict(module.generator_ema.state_dict())
        net = ema
    net.spec = module.spec
    return save_model(net, path, epochs=module.current_epoch)


def train(cfg: DictConfig) -> dict:
    """Fit GroupDNet as `cfg` says. -> {"run_dir", "metrics", "model_path"}."""
    check_config(cfg)
    run_dir = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.dataset)         # (an unset dataset.root is reported here)
    check_weights("train", cfg)
    datamodule.setup("fit")
    # the model's native size is the size it trains at (stored in its spec, used by the Synthesizer)
    spec = dataclasses.replace(datamodule.spec, native_size=check_training_size(datamodule))
    devices = cfg.trainer.devices if isinstance(cfg.trainer.devices, int) and cfg.trainer.devices > 0 else 1
    check_enough_data(datamodule, devices * cfg.trainer.num_nodes)
    net_config = model_config(cfg, datamodule.num_classes)
    module = GroupDNetModule(net_config.to_dict(), optim=OmegaConf.to_container(cfg.optim, resolve=True),
                             loss=OmegaConf.to_container(cfg.loss, resolve=True), seed=cfg.seed,
                             ema_decay=cfg.ema_decay, samples=OmegaConf.to_container(cfg.samples),
                             dataset=spec.to_dict(), channels_last=cfg.get("channels_last", False),
                             encoder_init=OmegaConf.to_container(cfg.get("encoder_init") or {}))
    if cfg.init_from:
        load_initial_weights(module, cfg.init_from)
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, cfg.paths.log_dir, cfg.task_name)
    if ckpt_path:
        check_resume_checkpoint(ckpt_path, module.net.config)

    loggers = instantiate_all(cfg.get("logger"))
    max_epochs = cfg.trainer.max_epochs
    if max_epochs is None:
        max_epochs = cfg.optim.constant_epochs + cfg.optim.decay_epochs
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=loggers or False,
                                      callbacks=instantiate_all(cfg.get("callbacks")),
                                      plugins=[AtomicCheckpointIO()], max_epochs=max_epochs)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    finally:
        finish_wandb(loggers)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    model_path = None
    if cfg.export_model and trainer.is_global_zero and not trainer.fast_dev_run:
        model_path = export(module, run_dir / "model.pt")
    return {"run_dir": run_dir, "metrics": metrics, "model_path": model_path}


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def run(cfg: DictConfig) -> float | None:
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        result = train(cfg)
    except BaseException:
        print(f"\ntraining failed; its run folder is {run_dir}", file=sys.stderr)
        raise
    print(f"\nrun folder: {run_dir}")
    if result["model_path"]:
        print(f"model: {result['model_path']}  (smis.load_model; samples/ holds the validation figures)")
    metric = cfg.get("optimized_metric")
    return result["metrics"].get(metric) if metric else None


def main() -> None:
    """`python -m smis.train OVERRIDES`: the weight files first (preflight), then the run."""
    preflight("train")
    run()


if __name__ == "__main__":
    main()
