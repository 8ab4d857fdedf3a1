"""Train GroupDNet.

    python -m smis.train                                   # synthetic scenes, small model, CPU ok
    python -m smis.train dataset=cityscapes dataset.root=/data/cityscapes trainer=ddp
    python -m smis.train -m optim.lr_g=1e-4,2e-4           # a sweep: one run folder per job
    python -m smis.train ckpt_path=last                    # resume the newest run

`train(cfg)` does the work and is what tests call; `main` adds Hydra's command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from .checkpoint import load_model, save_model
from .networks import GroupDNet, GroupDNetConfig, check_image_size
from .training import AtomicCheckpointIO, GroupDNetModule
from .utils import finish_wandb, instantiate_all

PRECISIONS = {"32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true"}


class ConfigError(ValueError):
    """A config value that cannot work: raised before any training starts."""


def check_config(cfg: DictConfig) -> None:
    o, w = cfg.optim, cfg.loss
    for key in ("lr_g", "lr_d"):
        if not o[key] > 0:
            raise ConfigError(f"optim.{key} must be > 0; got {o[key]}")
    for key in ("constant_epochs", "decay_epochs"):
        if o[key] < 0:
            raise ConfigError(f"optim.{key} must be >= 0; got {o[key]}")
    for key in ("gan", "feat", "vgg", "kld"):
        if w[key] < 0:
            raise ConfigError(f"loss.{key} must be >= 0; got {w[key]}")
    if str(cfg.trainer.precision) not in PRECISIONS:
        raise ConfigError(f"trainer.precision={cfg.trainer.precision!r}; "
                          f"expected one of {sorted(PRECISIONS)}")
    if cfg.ema_decay is not None and not 0 < cfg.ema_decay < 1:
        raise ConfigError(f"ema_decay must be in (0, 1) or null; got {cfg.ema_decay}")


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


def check_training_size(datamodule) -> None:
    """The training images must suit GroupDNet (networks.check_image_size)."""
    H, W = datamodule.train_set[0]["image"].shape[1:]
    try:
        check_image_size(H, W)
    except ValueError as e:
        raise ConfigError(f"training images: {e}; change the dataset's size/crop options") from None


def resolve_ckpt_path(ckpt_path: str | None, log_dir: str, task_name: str) -> str | None:
    """A checkpoint file, or `last`: the newest last.ckpt under logs/TASK/."""
    if not ckpt_path:
        return None
    if ckpt_path == "last":
        found = sorted(Path(log_dir, task_name).glob("**/checkpoints/last.ckpt"),
                       key=lambda p: p.stat().st_mtime)
        if not found:
            raise ConfigError(f"ckpt_path=last: no checkpoints/last.ckpt under {Path(log_dir, task_name)}")
        return str(found[-1])
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path: checkpoint file not found: {ckpt_path}")
    return str(ckpt_path)


def load_initial_weights(module: GroupDNetModule, path: str) -> None:
    """init_from: copy the networks of an smis model file (e.g. converted authors' weights)."""
    source = load_model(path, eval_mode=False)
    if source.config != module.net.config:
        raise ConfigError(f"init_from={path}: its network ({source.config.name}, "
                          f"{source.config.num_classes} classes) differs from the configured model "
                          f"({module.net.config.name}, {module.net.config.num_classes} classes)")
    missing, _ = module.net.load_state_dict(source.state_dict(), strict=False)
    if any(not k.startswith("discriminator.") for k in missing):
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
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("fit")
    check_training_size(datamodule)
    devices = cfg.trainer.devices if isinstance(cfg.trainer.devices, int) and cfg.trainer.devices > 0 else 1
    check_enough_data(datamodule, devices * cfg.trainer.num_nodes)
    net_config = model_config(cfg, datamodule.num_classes)
    module = GroupDNetModule(net_config.to_dict(), optim=OmegaConf.to_container(cfg.optim, resolve=True),
                             loss=OmegaConf.to_container(cfg.loss, resolve=True), seed=cfg.seed,
                             ema_decay=cfg.ema_decay, samples=OmegaConf.to_container(cfg.samples),
                             dataset=datamodule.spec.to_dict())
    if cfg.init_from:
        load_initial_weights(module, cfg.init_from)
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, cfg.paths.log_dir, cfg.task_name)

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
def main(cfg: DictConfig) -> float | None:
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


if __name__ == "__main__":
    main()
